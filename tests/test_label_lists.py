"""--only / --exclude: "the animals that live here". A label left out is never answered; its
probability goes to the labels left, renormalised — for animal labels to the other animal labels,
so no_animal keeps its probability and an animal stays an animal (the whole-frame look's evidence
counts it too) — on every path: the centre crop, the whole-frame look and its closer looks, clips.
The sidecar records the lists, --resume and sort --from hold a run to them, and without them every
output is what it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import EXAMPLES, make_clip, make_image, read_csv_rows

import animalsort
from animalsort.cli import main
from animalsort.errors import UsageError
from animalsort.inference.looking import Labels, LookRule, closer_look, first_look
from animalsort.inference.scoring import clip_answer
from animalsort.taxonomy import LabelSet, animal_labels, imagenet_table, label_list, rank

ANIMALS = animal_labels()
NAMES = ANIMALS.labels
NOA = ANIMALS.no_animal


def probs(**given: float) -> np.ndarray:
    p = np.zeros(len(NAMES), dtype=np.float32)
    for label, value in given.items():
        p[NAMES.index(label)] = value
    return p


# --------------------------------------------------------------------------- the rule, on label probabilities


def test_an_excluded_animal_s_probability_goes_to_the_other_animals() -> None:
    restricted = ANIMALS.restricted(exclude=["zebra"])
    p = probs(zebra=0.6, horse=0.15, cow=0.05, no_animal=0.2)
    q = restricted.renormalised(p)
    assert q.dtype == np.float32 and q[NAMES.index("zebra")] == 0
    assert q[NOA] == p[NOA]  # no_animal keeps its own: an animal stays an animal
    assert q[NAMES.index("horse")] == pytest.approx(0.6) and q[NAMES.index("cow")] == pytest.approx(0.2)
    assert q.sum() == pytest.approx(1.0)
    # all the animal probability was the zebra's (the others underflowed): shared evenly, still an animal
    q = restricted.renormalised(probs(zebra=0.7, no_animal=0.3))
    assert q[NOA] == pytest.approx(0.3) and q.sum() == pytest.approx(1.0)
    assert np.allclose(np.delete(q, [NOA, NAMES.index("zebra")]), 0.7 / (len(NAMES) - 2))
    # any leading shape (the whole-frame look's cells: h × w × L); nothing excluded: the same array
    assert restricted.renormalised(np.stack([p, p])[None]).shape == (1, 2, len(NAMES))
    assert ANIMALS.restricted().renormalised(p) is p and ANIMALS.restricted() == ANIMALS


def test_labels_without_no_animal_share_the_probability_among_those_left() -> None:
    own = LabelSet("model", ("alpha", "beta", "gamma")).restricted(only=["alpha", "beta"])
    assert own.excluded == {2} and own.answerable == 2
    assert np.allclose(own.renormalised(np.array([[0.2, 0.3, 0.5]], dtype=np.float32)), [[0.4, 0.6, 0.0]])


def test_only_minus_exclude_and_no_animal_always_stays() -> None:
    kept = ANIMALS.restricted(only=["fox", "badger" if "badger" in NAMES else "rabbit", "bird"], exclude=["bird"])
    assert {NAMES[i] for i in range(len(NAMES)) if i not in kept.excluded} == {"fox", "rabbit", "no_animal"}
    assert kept.answerable == 3
    assert ANIMALS.restricted(only=["fox", "no_animal"]).answerable == 2
    assert label_list("fox, badger,,fox") == ("badger", "fox") and label_list(["b,a", "c"]) == ("a", "b", "c")
    assert label_list(None) == ()


@pytest.mark.parametrize(
    ("only", "exclude", "message"),
    [
        (["zebar"], [], "--only 'zebar' is not a label of this model (did you mean zebra or bear?); its labels: dog, "),
        ([], ["no_animal"], "--exclude no_animal: no_animal cannot be left out"),
        (["no_animal"], [], "--only no_animal leaves no animal label to answer with"),
        (["fox"], ["fox"], "--only fox --exclude fox leaves no animal label to answer with"),
    ],
)
def test_lists_that_cannot_work_are_refused(only: list[str], exclude: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        ANIMALS.restricted(only, exclude)
    assert str(caught.value).startswith(message)
    with pytest.raises(UsageError, match="is not a label of this model; its 1000 labels include tench"):
        LabelSet("imagenet", tuple(r.imagenet_class for r in imagenet_table())).restricted(["zzz"])


def test_an_excluded_label_is_never_ranked_not_even_last() -> None:
    restricted = ANIMALS.restricted(only=["cat", "dog"])
    certain = torch.from_numpy(restricted.renormalised(probs(no_animal=1.0)))[None]  # every animal at 0
    conf, idx = rank(certain, restricted, 3)
    assert [NAMES[i] for i in idx[0].tolist()] == ["no_animal", "cat", "dog"]
    conf, idx = rank(torch.from_numpy(restricted.renormalised(probs(zebra=0.9, no_animal=0.1)))[None], restricted, 3)
    assert NAMES[idx[0, 0]] in ("cat", "dog") and conf[0, 0] == pytest.approx(0.45)


def test_a_clip_never_answers_an_excluded_label() -> None:
    restricted = ANIMALS.restricted(only=["cat", "dog"])
    frames = torch.from_numpy(np.stack([restricted.renormalised(probs(zebra=0.8, cat=0.1, no_animal=0.1))] * 3))
    conf, idx, _ = clip_answer(frames, [0.0, 1.0, 2.0], restricted, 3)
    assert [NAMES[i] for i in idx] == ["cat", "no_animal", "dog"] and conf[0] == pytest.approx(0.9)


# --------------------------------------------------------------------------- the whole-frame look, on made-up cells

ZEBRA = next(r.index for r in imagenet_table() if r.imagenet_class == "zebra")
VALLEY = next(r.index for r in imagenet_table() if r.label == "no_animal")
RULE = LookRule(seen=5.0, sure=0.5, big=0.5, agree=0.6, keep=99.0, contexts=(2.0,), least=0.3, most=0.6, budget=1)


def cells(h: int, w: int, spots: dict[tuple[int, int], float], base: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(frame logits, cells): every cell says 'valley' by ``base``, a spot 'zebra' by its value."""
    z = np.zeros((h, w, 1000), dtype=np.float32)
    z[..., VALLEY] = base
    for (y, x), v in spots.items():
        z[y, x, ZEBRA] = v
    return z.mean(axis=(0, 1)), z


def test_an_excluded_animal_is_still_animal_evidence_and_its_probability_goes_to_the_other_animals() -> None:
    everything = Labels(ANIMALS, 1000)
    no_zebra = Labels(ANIMALS.restricted(exclude=["zebra"]), 1000)
    big = {(y, x): 12.0 for y in range(7) for x in range(2, 10)}  # a zebra filling the frame: answered at once
    small = {(1, 10): 14.0}  # a small one: a closer look
    for spots in (big, small):
        logits, z = cells(7, 12, spots)
        plain = first_look(logits, z, everything, RULE, (1920, 1080))
        look = first_look(logits, z, no_zebra, RULE, (1920, 1080))
        assert look.animal and look.animal_score == plain.animal_score and look.boxes == plain.boxes
        assert look.probs[NOA] == pytest.approx(plain.probs[NOA])  # not a bit less of an animal
        assert look.probs[NAMES.index("zebra")] == 0 and NAMES[int(np.delete(look.probs, NOA).argmax())] != "zebra"
        assert np.delete(look.probs, NOA).sum() == pytest.approx(np.delete(plain.probs, NOA).sum(), rel=1e-5)
    up_close = cells(7, 7, {(y, x): 60.0 for y in (2, 3, 4) for x in (2, 3, 4)}, base=1.0)
    plain = closer_look(first_look(*cells(7, 12, small), everything, RULE, (1920, 1080)), [up_close], everything, RULE)
    look = closer_look(first_look(*cells(7, 12, small), no_zebra, RULE, (1920, 1080)), [up_close], no_zebra, RULE)
    assert NAMES[int(plain.probs.argmax())] == "zebra"
    assert look.animal and look.box == plain.box and look.probs[NAMES.index("zebra")] == 0
    assert look.probs[NOA] == pytest.approx(plain.probs[NOA])


# --------------------------------------------------------------------------- classify and sort, with lite0


def _rows(path: Path) -> dict[str, dict[str, str]]:
    return {r["path"]: r for r in read_csv_rows(path)}


def _labels_of(row: dict[str, str]) -> set[str]:
    return {row[k] for k in ("label", "label_2", "label_3") if row.get(k)}


@pytest.mark.parametrize("view", ["centre", "frame"])
def test_classify_answers_with_the_animals_that_live_here(runner: CliRunner, tmp_path: Path, view: str) -> None:
    plain, lists = tmp_path / "plain.csv", tmp_path / "lists.csv"
    res = runner.invoke(main, ["classify", str(EXAMPLES), "-o", str(plain), "--view", view, "-q"])
    assert res.exit_code == 0, res.output
    args = ["classify", str(EXAMPLES), "-o", str(lists), "--view", view, "-q", "--only", "cat,dog,bird,horse"]
    res = runner.invoke(main, [*args, "--only", "cow", "--exclude", "bird"])
    assert res.exit_code == 0, res.output
    before, after = _rows(plain), _rows(lists)
    assert before["giraffe.jpg"]["label"] == "zebra" and after["giraffe.jpg"]["label"] != "zebra"
    for path, row in after.items():
        assert _labels_of(row) <= {"cat", "cow", "dog", "horse", "no_animal"}, row
        # an animal stays an animal: the first decision, no_animal's own probability (where both list it)
        # and the whole-frame look's animal evidence are as before
        assert (row["label"] == "no_animal") == (before[path]["label"] == "no_animal"), path
        assert None in (_no_animal(row), _no_animal(before[path])) or _no_animal(row) == _no_animal(before[path])
        assert row.get("animal_score") == before[path].get("animal_score"), path
    assert after["cat.jpg"]["label"] == "cat" and after["dog.jpg"]["label"] == "dog"
    options = json.loads((tmp_path / "lists.csv.json").read_text())["options"]
    assert (options["only"], options["exclude"]) == (["bird", "cat", "cow", "dog", "horse"], ["bird"])
    assert "only" not in json.loads((tmp_path / "plain.csv.json").read_text())["options"]  # as before


def _no_animal(row: dict[str, str]) -> str | None:
    return next(
        (
            row[c]
            for lab, c in (("label", "confidence"), ("label_2", "confidence_2"), ("label_3", "confidence_3"))
            if row[lab] == "no_animal"
        ),
        None,
    )


def test_a_clip_from_a_camera_without_zebras(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "trap"
    make_clip(src / "clip.mp4", [(EXAMPLES / "giraffe.jpg", 2.0)])
    rows = {}
    for name, extra in (("plain", []), ("lists", ["--exclude", "zebra"])):
        out = tmp_path / f"{name}.csv"
        res = runner.invoke(main, ["classify", str(src), "-o", str(out), "-q", "--view", "centre", *extra])
        assert res.exit_code == 0, res.output
        rows[name] = read_csv_rows(out)[0]
    assert rows["plain"]["label"] == "zebra"
    assert rows["lists"]["label"] not in ("zebra", "no_animal") and "zebra" not in _labels_of(rows["lists"])


def test_a_fine_tuned_model_answers_with_the_labels_it_keeps(tiny_weights: Path, tmp_path: Path) -> None:
    src = tmp_path / "p"
    for i in range(4):
        make_image(src / f"{i}.jpg", seed=i)
    df = animalsort.classify(src, weights=tiny_weights, only="alpha,gamma", view="centre", top_k=3)
    assert list(df.columns[:5]) == ["path", "label", "confidence", "label_2", "confidence_2"]
    assert "label_3" not in df.columns  # two labels left: two ranks
    assert set(df.label) | set(df.label_2) <= {"alpha", "gamma"}
    assert np.allclose(df.confidence + df.confidence_2, 1.0, atol=2e-4)
    clf = animalsort.Classifier(weights=tiny_weights, exclude=["beta"], view="centre")
    assert clf.labels == ("alpha", "gamma") and clf.top_k == 2
    predicted = clf.predict([src / "0.jpg"])
    assert {predicted.label[0], predicted.label_2[0]} == {"alpha", "gamma"}
    with pytest.raises(UsageError, match="'wolf' is not a label of this model; its labels: alpha, beta, gamma"):
        animalsort.Classifier(weights=tiny_weights, only=["wolf"], view="centre")


def test_resume_and_sort_from_a_csv_keep_to_the_lists_it_was_made_with(
    runner: CliRunner, tiny_weights: Path, tmp_path: Path
) -> None:
    src = tmp_path / "p"
    for i in range(3):
        make_image(src / f"{i}.jpg", seed=i)
    preds = tmp_path / "preds.csv"
    base = ["classify", str(src), "-o", str(preds), "--weights", str(tiny_weights), "--view", "centre", "-q"]
    assert runner.invoke(main, [*base, "--exclude", "beta"]).exit_code == 0
    res = runner.invoke(main, [*base, "--resume"])
    assert res.exit_code == 2
    assert f"Error: cannot resume {preds}: it was classified with --exclude beta, this run has no --only/--exclude" in (
        res.stderr
    )
    assert runner.invoke(main, [*base, "--resume", "--exclude", "beta"]).exit_code == 0

    sort = ["sort", str(src), "--dest", str(tmp_path / "out"), "--from", str(preds), "-n"]
    assert runner.invoke(main, [*sort, "--exclude", "beta"]).exit_code == 0  # the CSV's own lists: applied already
    res = runner.invoke(main, [*sort, "--only", "alpha"])
    assert (
        res.exit_code == 2
        and "Error: --from preds.csv with --only alpha: it was classified with --exclude beta" in (res.stderr)
    )
    assert "classify with the lists (`animalsort sort SRC --only alpha` without --from" in res.stderr
    with pytest.raises(UsageError, match="--from preds.csv with --only alpha: it was classified with --exclude beta"):
        animalsort.sort(src, tmp_path / "out", predictions=preds, only="alpha", dry_run=True)
    assert not (tmp_path / "out").exists()


def test_lists_that_cannot_work_are_refused_before_anything_is_made(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "p"
    make_image(src / "a.jpg")
    for args, message in (
        (["--only", "zebar"], "Error: --only 'zebar' is not a label of this model (did you mean zebra or bear?)"),
        (["--exclude", "no_animal"], "Error: --exclude no_animal: no_animal cannot be left out"),
        (["--only", " , "], "Error: Invalid value for '--only': ' , ' names no label; give labels (fox,wolf)"),
    ):
        for command in (["classify", str(src), "-o", str(tmp_path / "x.csv")], ["sort", str(src), "--move"]):
            res = runner.invoke(main, [*command, *args])
            assert res.exit_code == 2 and message in res.stderr, res.output
    assert sorted(p.name for p in src.iterdir()) == ["a.jpg"] and not (tmp_path / "x.csv").exists()
