"""What an audit is about, as arrays: the classified rows of a predictions CSV (the
population, split into strata) and a person's answers for a sample of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from animalsort.formats.answers import CANT_TELL as CANT_TELL
from animalsort.formats.answers import NO_ANIMAL as NO_ANIMAL

UNCERTAIN = "_uncertain"  # the stratum below --min-confidence, named after sort's folder (sorting.names.UNCERTAIN)


def stratum_of(label: str, confidence: float, min_confidence: float) -> str:
    """One stratum per label for the rows sort would put in its folder; ``_uncertain`` below."""
    return UNCERTAIN if confidence < min_confidence else label


@dataclass(frozen=True)
class Population:
    """The rows with a label (``status == ok``), in CSV order."""

    labels: np.ndarray  # str, one per row
    confidence: np.ndarray  # float
    min_confidence: float

    @classmethod
    def of(cls, labels: Sequence[str], confidence: Sequence[float], min_confidence: float) -> Population:
        return cls(np.asarray(labels, dtype=object), np.asarray(confidence, float), float(min_confidence))

    @cached_property
    def strata(self) -> list[str]:
        """Stratum names, sorted (``_uncertain`` first when there is one)."""
        return sorted(set(self._stratum_names))

    @cached_property
    def _stratum_names(self) -> list[str]:
        return [stratum_of(lab, c, self.min_confidence) for lab, c in zip(self.labels, self.confidence)]

    @cached_property
    def stratum(self) -> np.ndarray:
        """Each row's stratum, as an index into :attr:`strata`."""
        where = {name: h for h, name in enumerate(self.strata)}
        return np.fromiter((where[s] for s in self._stratum_names), int, len(self.labels))

    @cached_property
    def rows(self) -> np.ndarray:
        """Rows per stratum."""
        return np.bincount(self.stratum, minlength=len(self.strata))

    @cached_property
    def members(self) -> list[np.ndarray]:
        """Each stratum's rows, in CSV order."""
        order = np.argsort(self.stratum, kind="stable")
        return np.split(order, np.cumsum(self.rows)[:-1])

    def index(self, stratum: str) -> int | None:
        return self.strata.index(stratum) if stratum in self.strata else None

    @cached_property
    def uncertain(self) -> np.ndarray:
        return self.confidence < self.min_confidence

    def mean_confidence(self) -> np.ndarray:
        total = np.bincount(self.stratum, weights=self.confidence, minlength=len(self.strata))
        return total / np.maximum(self.rows, 1)


@dataclass(frozen=True)
class Answers:
    """A sample of a population and what a person said each row shows: a label, ``no_animal``,
    :data:`CANT_TELL`, or "" (not answered yet)."""

    population: Population
    rows: np.ndarray  # int: the sampled rows of the population
    truth: np.ndarray  # str, one per sampled row

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", np.asarray(self.rows, int))
        object.__setattr__(self, "truth", np.asarray(self.truth, dtype=object))

    def per_stratum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (one per sampled row) in each stratum."""
        weights = np.asarray(values, float)
        return np.bincount(self.population.stratum[self.rows], weights=weights, minlength=len(self.population.strata))

    @cached_property
    def answered(self) -> np.ndarray:
        """Sampled rows with an answer that counts (not empty, not can't tell)."""
        return (self.truth != "") & (self.truth != CANT_TELL)

    @cached_property
    def cant_tell(self) -> np.ndarray:
        return self.truth == CANT_TELL

    @cached_property
    def labels(self) -> np.ndarray:
        """The model's label of each sampled row."""
        return self.population.labels[self.rows]

    @cached_property
    def confidence(self) -> np.ndarray:
        return self.population.confidence[self.rows]

    @cached_property
    def correct(self) -> np.ndarray:
        return self.answered & (self.truth == self.labels)

    @cached_property
    def n(self) -> np.ndarray:
        """Answers that count, per stratum."""
        return self.per_stratum(self.answered)

    def proportion(self, hits: np.ndarray) -> np.ndarray:
        """Per stratum: the share of its answers where ``hits`` holds (0 where none)."""
        counts = self.per_stratum(hits & self.answered)
        return np.divide(counts, self.n, out=np.zeros_like(counts), where=self.n > 0)
