"""ImageNet-1k classes → animal labels (DESIGN §4).

``taxonomy.csv`` beside this module maps each of the 1000 ImageNet classes to exactly one
label; classes 398–999 are ``no_animal``. A label's probability is the sum of its members'
softmax probabilities, computed on the device as ``probs @ matrix`` (1000 × L).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from animalsort.errors import UsageError

if TYPE_CHECKING:
    import torch

NUM_IMAGENET_CLASSES = 1000

#: The labels every animal label set must offer (DESIGN §4), in the order they are listed.
REQUIRED_LABELS: tuple[str, ...] = (
    "dog",
    "wolf",
    "fox",
    "cat",
    "lion",
    "tiger",
    "leopard",
    "cheetah",
    "jaguar",
    "big_cat",
    "bear",
    "horse",
    "zebra",
    "cow",
    "sheep",
    "goat",
    "pig",
    "elephant",
    "camel",
    "antelope",
    "rabbit",
    "squirrel",
    "rodent",
    "primate",
    "marsupial",
    "marine_mammal",
    "bird",
    "chicken",
    "fish",
    "reptile",
    "amphibian",
    "insect",
    "butterfly",
    "spider",
    "crustacean",
    "other_animal",
    "no_animal",
)

LABEL_SETS = ("animals", "imagenet")


@dataclass(frozen=True)
class TaxonomyRow:
    index: int
    wnid: str
    imagenet_class: str
    label: str


@lru_cache(maxsize=1)
def imagenet_table() -> tuple[TaxonomyRow, ...]:
    """The 1000 rows of ``taxonomy.csv``, in class-index order."""
    text = resources.files("animalsort").joinpath("taxonomy.csv").read_text(encoding="utf-8")
    rows = tuple(
        TaxonomyRow(int(r["index"]), r["wnid"], r["imagenet_class"], r["label"])
        for r in csv.DictReader(text.splitlines())
    )
    return rows


@dataclass(frozen=True)
class LabelSet:
    """What the model's outputs are reported as.

    ``members[j]`` lists the model-output indices summed into ``labels[j]``; ``None`` means
    the outputs are reported one to one (the 1000 ImageNet classes, or a fine-tuned head).
    """

    name: str
    labels: tuple[str, ...]
    members: tuple[tuple[int, ...], ...] | None = None

    @property
    def no_animal(self) -> int | None:
        """Index of ``no_animal`` in an animal label set (drives the two-level decision)."""
        return self.labels.index("no_animal") if self.members is not None else None

    def matrix(self, num_outputs: int) -> torch.Tensor | None:
        """The ``num_outputs × len(labels)`` 0/1 aggregation matrix, or None for identity."""
        if self.members is None:
            return None
        import torch

        m = torch.zeros(num_outputs, len(self.labels))
        for j, idx in enumerate(self.members):
            m[list(idx), j] = 1.0
        return m


def animal_labels() -> LabelSet:
    """Required labels first (in the documented order), then any extra labels of the table."""
    table = imagenet_table()
    found = list(dict.fromkeys(r.label for r in table))
    order = [lab for lab in REQUIRED_LABELS if lab in found] + [lab for lab in found if lab not in REQUIRED_LABELS]
    members = tuple(tuple(r.index for r in table if r.label == lab) for lab in order)
    return LabelSet("animals", tuple(order), members)


def imagenet_labels() -> LabelSet:
    return LabelSet("imagenet", tuple(r.imagenet_class for r in imagenet_table()))


def label_set(name: str, model_labels: str | tuple[str, ...] = "imagenet1k") -> LabelSet:
    """The label set ``name`` for a model whose outputs are ``model_labels``.

    A model with its own labels (a fine-tuned head) reports them as they are.
    """
    if model_labels != "imagenet1k":
        return LabelSet("model", tuple(model_labels))
    if name == "animals":
        return animal_labels()
    if name == "imagenet":
        return imagenet_labels()
    raise UsageError(f"unknown label set {name!r}; choose one of: {', '.join(LABEL_SETS)}")


def shows_animal(probs: torch.Tensor, labels: LabelSet) -> torch.Tensor:
    """Per row of label probabilities: is the first answer an animal (animals hold more total
    probability than ``no_animal``)? Always True for labels without ``no_animal``."""
    import torch

    if labels.no_animal is None:
        return torch.ones(probs.shape[0], dtype=torch.bool, device=probs.device)
    return probs[:, labels.no_animal] < 0.5


def rank(
    probs: torch.Tensor, labels: LabelSet, k: int, animal: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` (confidences, indices) per row of label probabilities.

    For animal labels the first answer is decided in two levels: animal or not (whichever
    holds more total probability), then the most probable label on that side. A photo with
    a little mass on each of several similar animals is still an animal, where a flat argmax
    would let ``no_animal`` (602 classes summed) win. The later ranks keep probability order;
    every confidence is the label's own probability. ``animal`` (a bool per row), when given,
    is that first decision already made elsewhere (the whole-frame views: ``scoring``).
    """
    import torch

    noa = labels.no_animal
    if noa is None:
        return probs.topk(k, dim=1)
    animal_probs = probs.clone()
    animal_probs[:, noa] = -1.0
    is_animal = shows_animal(probs, labels) if animal is None else animal.to(probs.device)
    first = torch.where(is_animal, animal_probs.argmax(dim=1), torch.full_like(is_animal, noa, dtype=torch.long))
    scores = probs.scatter(1, first[:, None], 2.0)
    idx = scores.topk(k, dim=1).indices
    return probs.gather(1, idx), idx


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _singular(name: str) -> str:
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("s", "")):
        if name.endswith(suffix) and len(name) > len(suffix) + 2:
            return name[: -len(suffix)] + repl
    return name


#: Everyday names of the animal labels that are neither a label nor an ImageNet class, as
#: people name their folders ("cattle", "kittens", "mice"). Checked before ImageNet's own
#: class names, where some of them mean something else ("mouse" is the computer mouse there).
SYNONYMS = {
    "cattle": "cow",
    "bull": "cow",
    "calf": "cow",
    "calve": "cow",
    "ox": "cow",
    "oxen": "cow",
    "kitten": "cat",
    "kitty": "cat",
    "puppy": "dog",
    "mouse": "rodent",
    "mice": "rodent",
    "rat": "rodent",
    "monkey": "primate",
    "ape": "primate",
    "lamb": "sheep",
    "rooster": "chicken",
    "poultry": "chicken",
    "crab": "crustacean",
    "snake": "reptile",
    "lizard": "reptile",
    "turtle": "reptile",
    "tortoise": "reptile",
    "frog": "amphibian",
    "toad": "amphibian",
    "whale": "marine_mammal",
    "dolphin": "marine_mammal",
    "seal": "marine_mammal",
    "kangaroo": "marsupial",
    "beetle": "insect",
}


def imagenet_members(class_name: str) -> tuple[int, ...]:
    """ImageNet-1k outputs that a user's class name denotes: an animal label (``dog``: its
    members) or an everyday name of one (``cattle``, SYNONYMS), an ImageNet class (``tabby``,
    ``golden retriever``), singulars (``cats``), or for a compound (``antelope_deer``) the
    union of its parts that match. Empty if none."""
    table = imagenet_table()
    by_class = {_norm(r.imagenet_class): (r.index,) for r in table}
    by_label: dict[str, tuple[int, ...]] = {}
    for r in table:
        if r.label != "no_animal":
            by_label[_norm(r.label)] = by_label.get(_norm(r.label), ()) + (r.index,)
    for name, label in SYNONYMS.items():
        by_label.setdefault(name, by_label[_norm(label)])

    def lookup(name: str) -> tuple[int, ...]:
        for candidate in (name, _singular(name)):
            if candidate in by_label:
                return by_label[candidate]
            if candidate in by_class:
                return by_class[candidate]
        return ()

    name = _norm(class_name)
    if found := lookup(name):
        return found
    parts = [lookup(word) for word in name.split()]
    return tuple(sorted({i for p in parts for i in p}))


@dataclass(frozen=True)
class Taxon:
    """An animal label's place in the GBIF backbone (``label_taxa.csv``): the lowest taxon that
    holds every ImageNet class the label sums (``wolf`` holds the coyote and the dhole, so it is
    the family Canidae), its rank, its higher taxa, and the keyword path photo managers show
    (``Mammals|Carnivores|cat``, under a root such as ``Animals``)."""

    label: str
    scientific_name: str
    rank: str
    kingdom: str = "Animalia"
    phylum: str = ""
    class_: str = ""
    order: str = ""
    family: str = ""
    genus: str = ""
    vernacular: str = ""
    keyword_path: str = ""

    def higher(self) -> dict[str, str]:
        """The higher taxa that are known, by rank (kingdom … genus)."""
        ranks = {
            "kingdom": self.kingdom,
            "phylum": self.phylum,
            "class": self.class_,
            "order": self.order,
            "family": self.family,
            "genus": self.genus,
        }
        return {r: name for r, name in ranks.items() if name}


#: Ranks a taxon may have (Camtrap DP's taxonRank vocabulary).
TAXON_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species", "subspecies")


@lru_cache(maxsize=1)
def label_taxa() -> dict[str, Taxon]:
    """Every animal label's taxon (``no_animal`` has none)."""
    text = resources.files("animalsort").joinpath("label_taxa.csv").read_text(encoding="utf-8")
    return {
        r["label"]: Taxon(
            r["label"],
            r["scientificName"],
            r["taxonRank"],
            r["kingdom"],
            r["phylum"],
            r["class"],
            r["order"],
            r["family"],
            r["genus"],
            r["vernacularName"],
            r["keywordPath"],
        )
        for r in csv.DictReader(text.splitlines())
    }


def keyword_path(label: str, root: str = "Animals", sep: str = "|") -> str:
    """The hierarchical keyword of ``label``: ``Animals|Mammals|Carnivores|cat`` for a label of
    the table, ``Animals|<label>`` for a fine-tuned model's own class; no root when ``root`` is
    empty. ``sep`` joins the levels (``|`` for Lightroom and darktable, ``/`` for digiKam)."""
    taxon = label_taxa().get(label)
    parts = taxon.keyword_path.split("|") if taxon and taxon.keyword_path else [label]
    if root:
        parts = [root, *parts]
    return sep.join(parts)
