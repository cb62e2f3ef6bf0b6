from __future__ import annotations

import torch

from animalsort.taxonomy import (
    NUM_IMAGENET_CLASSES,
    REQUIRED_LABELS,
    animal_labels,
    imagenet_labels,
    imagenet_table,
    label_set,
    rank,
)


def test_table_covers_every_imagenet_class_exactly_once() -> None:
    table = imagenet_table()
    assert [r.index for r in table] == list(range(NUM_IMAGENET_CLASSES))
    assert len({r.wnid for r in table}) == NUM_IMAGENET_CLASSES
    assert len({r.imagenet_class for r in table}) == NUM_IMAGENET_CLASSES


def test_non_animal_classes_are_no_animal_and_animals_are_not() -> None:
    table = imagenet_table()
    assert all(r.label == "no_animal" for r in table[398:])
    assert all(r.label != "no_animal" for r in table[:398])


def test_every_required_label_has_a_member() -> None:
    labels = animal_labels()
    assert labels.labels[: len(REQUIRED_LABELS)] == REQUIRED_LABELS
    for name, members in zip(labels.labels, labels.members or ()):
        assert members, f"label {name} has no ImageNet class"


def test_spot_checks() -> None:
    by_class = {r.imagenet_class: r.label for r in imagenet_table()}
    assert by_class["tabby"] == "cat"
    assert by_class["golden retriever"] == "dog"
    assert by_class["timber wolf"] == "wolf"
    assert by_class["red fox"] == "fox"
    assert by_class["lion"] == "lion"
    assert by_class["snow leopard"] == "big_cat"
    assert by_class["hen"] == "chicken"
    assert by_class["killer whale"] == "marine_mammal"
    assert by_class["monarch"] == "butterfly"
    assert by_class["tarantula"] == "spider"
    assert by_class["impala"] == "antelope"
    assert by_class["crane (bird)"] == "bird"
    assert by_class["crane (machine)"] == "no_animal"


def test_aggregation_matrix_sums_members() -> None:
    labels = animal_labels()
    m = labels.matrix(1000)
    assert m.shape == (1000, len(labels.labels))
    assert torch.equal(m.sum(dim=1), torch.ones(1000))  # each class in exactly one label
    probs = torch.softmax(torch.randn(4, 1000), dim=1)
    agg = probs @ m
    assert torch.allclose(agg.sum(dim=1), torch.ones(4), atol=1e-5)
    dog = labels.labels.index("dog")
    assert torch.allclose(agg[:, dog], probs[:, 151:269].sum(dim=1) + probs[:, 273], atol=1e-6)


def test_imagenet_label_set_is_identity() -> None:
    fine = imagenet_labels()
    assert fine.matrix(1000) is None
    assert len(fine.labels) == 1000
    assert label_set("animals", ("a", "b")).labels == ("a", "b")  # a fine-tuned model's own labels


def test_rank_decides_animal_first() -> None:
    labels = animal_labels()
    n = len(labels.labels)
    noa, dog, cat = labels.no_animal, labels.labels.index("dog"), labels.labels.index("cat")
    probs = torch.zeros(3, n)
    probs[0, [noa, dog, cat]] = torch.tensor([0.45, 0.30, 0.25])  # animal (0.55) → dog first
    probs[1, [noa, dog, cat]] = torch.tensor([0.60, 0.30, 0.10])  # not an animal
    probs[2, [noa, dog, cat]] = torch.tensor([0.10, 0.20, 0.70])
    conf, idx = rank(probs, labels, 3)
    assert idx[0].tolist() == [dog, noa, cat]
    assert torch.allclose(conf[0], torch.tensor([0.30, 0.45, 0.25]))
    assert idx[1].tolist() == [noa, dog, cat]
    assert idx[2].tolist() == [cat, dog, noa]

    # Labels without no_animal (a fine-tuned head) are a plain top-k.
    own = label_set("animals", tuple(f"c{i}" for i in range(n)))
    assert own.no_animal is None
    assert rank(probs, own, 1)[1][:, 0].tolist() == [noa, noa, cat]


def test_everyday_class_names_denote_their_labels_not_lookalike_imagenet_classes() -> None:
    from animalsort.taxonomy import imagenet_members, imagenet_table

    table = imagenet_table()

    def labels(name: str) -> set[str]:
        return {table[i].label for i in imagenet_members(name)}

    assert labels("cattle") == labels("cows") == {"cow"}
    assert labels("mouse") == labels("mice") == {"rodent"}  # not ImageNet's computer mouse
    assert labels("kittens") == {"cat"} and labels("puppies") == {"dog"}
    assert imagenet_members("tabby") == (281,) and labels("giraffe") == set()
