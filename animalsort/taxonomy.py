"""ImageNet-1k classes → animal labels (DESIGN §4).

``taxonomy.csv`` beside this module maps each of the 1000 ImageNet classes to exactly one
label; classes 398–999 are ``no_animal``. A label's probability is the sum of its members'
softmax probabilities, computed on the device as ``probs @ matrix`` (1000 × L).

"The animals that live here" (``--only`` / ``--exclude``): a label set can leave labels out
(``LabelSet.restricted``). Their probability goes to the labels left, renormalised
(``LabelSet.renormalised``) — for animal labels, to the other *animal* labels only: an animal the
camera cannot have seen is still an animal, so ``no_animal`` keeps its probability and the
animal-or-not decision (and the whole-frame look's animal evidence) is the same as without the
lists. A left-out label is never answered, at any rank.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
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
    excluded: frozenset[int] = frozenset()  # labels left out (--only / --exclude): never answered

    @property
    def no_animal(self) -> int | None:
        """Index of ``no_animal`` in an animal label set (drives the two-level decision)."""
        return self.labels.index("no_animal") if self.members is not None else None

    @property
    def answerable(self) -> int:
        """How many labels an answer can name (the most a row's top-k can list)."""
        return len(self.labels) - len(self.excluded)

    def restricted(self, only: Iterable[str] = (), exclude: Iterable[str] = ()) -> LabelSet:
        """This set answering with ``only`` (every label when empty) minus ``exclude``;
        ``no_animal`` always stays. A UsageError names an unknown label (and the valid ones),
        refuses to exclude ``no_animal``, and refuses lists that leave no animal to answer."""
        only, exclude = tuple(only), tuple(exclude)
        for option, names in (("--only", only), ("--exclude", exclude)):
            for name in names:
                if name not in self.labels:
                    raise UsageError(_unknown_label(option, name, self.labels))
        if "no_animal" in exclude and self.no_animal is not None:
            raise UsageError(
                "--exclude no_animal: no_animal cannot be left out (an empty frame must be able to say so); "
                "exclude animal labels only"
            )
        kept = {i for i, name in enumerate(self.labels) if (not only or name in only) and name not in exclude}
        if self.no_animal is not None:
            kept.add(self.no_animal)
        if not kept - {self.no_animal}:
            given = " ".join(f"{o} {','.join(n)}" for o, n in (("--only", only), ("--exclude", exclude)) if n)
            raise UsageError(f"{given} leaves no animal label to answer with; name at least one animal to keep")
        return replace(self, excluded=frozenset(range(len(self.labels))) - kept)

    def renormalised(self, probs: np.ndarray) -> np.ndarray:
        """(…, L) label probabilities with the excluded labels' probability given to the labels
        left, in proportion to theirs: for animal labels to the animal labels left (``no_animal``
        keeps its own); else to every label left. Where the labels left have none at all (it
        underflowed), it is shared evenly. Unchanged (the same array) when nothing is excluded."""
        if not self.excluded:
            return probs
        import numpy as np

        p = np.asarray(probs, dtype=np.float64)
        gone = np.zeros(len(self.labels), dtype=bool)
        gone[sorted(self.excluded)] = True
        left, share = ~gone, np.ones(len(self.labels), dtype=bool)  # the labels left share what ``share`` had
        if self.no_animal is not None:
            left[self.no_animal] = share[self.no_animal] = False
        whole = p[..., share].sum(axis=-1, keepdims=True)
        had = p[..., left].sum(axis=-1, keepdims=True)
        out = np.where(gone, 0.0, p)
        scaled = p[..., left] * (whole / np.where(had > 0, had, 1.0))
        out[..., left] = np.where(had > 0, scaled, whole / left.sum())
        return out.astype(np.asarray(probs).dtype)

    def matrix(self, num_outputs: int) -> torch.Tensor | None:
        """The ``num_outputs × len(labels)`` 0/1 aggregation matrix, or None for identity."""
        if self.members is None:
            return None
        import torch

        m = torch.zeros(num_outputs, len(self.labels))
        for j, idx in enumerate(self.members):
            m[list(idx), j] = 1.0
        return m


def _unknown_label(option: str, name: str, labels: tuple[str, ...]) -> str:
    """What to say of a name in ``--only``/``--exclude`` that is no label: the nearest labels,
    and the labels themselves (the first few of a long set, such as ImageNet's 1000 classes)."""
    near = difflib.get_close_matches(name, labels, n=3)
    said = f"{option} {name!r} is not a label of this model" + (f" (did you mean {' or '.join(near)}?)" if near else "")
    if len(labels) > 60:
        return f"{said}; its {len(labels)} labels include {', '.join(labels[:5])}, …"
    return f"{said}; its labels: {', '.join(labels)}"


def label_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``--only``/``--exclude`` as given (``"fox,wolf"``, a list of names, or several of
    either) → its label names, without repeats, sorted (a run records them so, and compares
    them so: ``--resume``, ``merge``, ``sort --from``)."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    names = set()
    for item in items:
        if not isinstance(item, str):
            raise UsageError(f"a label list holds label names (text), not {item!r}")
        names.update(n.strip() for n in item.split(",") if n.strip())
    return tuple(sorted(names))


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


#: classify's first answer is an animal when the animal labels together hold more of the
#: probability than ``no_animal``: no_animal below this.
ANIMAL_MAJORITY = 0.5


def animal_wins(no_animal: Any) -> Any:
    """The one rule for the first answer, for ``no_animal``'s probability as a float, a numpy
    array or a torch tensor alike (the result is of the same kind): an animal when no_animal
    holds less than half. :func:`rank` (torch), :func:`first_labels` (numpy) and the whole-frame
    looks (``inference/looking.py``) all decide by it."""
    return no_animal < ANIMAL_MAJORITY


def shows_animal(probs: torch.Tensor, labels: LabelSet) -> torch.Tensor:
    """Per row of label probabilities: is the first answer an animal (:func:`animal_wins`)?
    Always True for labels without ``no_animal``."""
    import torch

    if labels.no_animal is None:
        return torch.ones(probs.shape[0], dtype=torch.bool, device=probs.device)
    return animal_wins(probs[:, labels.no_animal])


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

    ranked = probs
    if labels.excluded:  # left out (--only / --exclude): below every label, so never listed
        ranked = probs.clone()
        ranked[:, sorted(labels.excluded)] = -1.0
    noa = labels.no_animal
    if noa is None:
        idx = ranked.topk(k, dim=1).indices
        return probs.gather(1, idx), idx
    animal_probs = ranked.clone()
    animal_probs[:, noa] = -1.0
    is_animal = shows_animal(probs, labels) if animal is None else animal.to(probs.device)
    first = torch.where(is_animal, animal_probs.argmax(dim=1), torch.full_like(is_animal, noa, dtype=torch.long))
    scores = ranked.scatter(1, first[:, None], 2.0)
    idx = scores.topk(k, dim=1).indices
    return probs.gather(1, idx), idx


def first_labels(probs: np.ndarray, labels: LabelSet) -> np.ndarray:
    """classify's first label for each row of label probabilities held in numpy (what the
    precision gates compare): :func:`rank`'s own, so the gates judge the answers classify gives."""
    import torch

    return rank(torch.as_tensor(probs), labels, 1)[1][:, 0].numpy()


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
