"""What ``audit report`` found: every estimate of a sample's answers in one object, and the
same as ``audit.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from animalsort._version import __version__
from animalsort.audit.estimate import Missed, accuracy, missed_animals, recall, stratum_accuracy
from animalsort.audit.intervals import LEVEL, Interval
from animalsort.audit.population import UNCERTAIN, Answers
from animalsort.audit.sample import ALLOCATION
from animalsort.audit.thresholds import Threshold, needed_answers, thresholds

METHOD = {
    "accuracy": "stratified estimator sum(N_h / N * p_h): p_h the share of stratum h's answers that agree with the "
    "model, N_h its rows",
    "interval": "95%: Wilson score interval with continuity correction (Newcombe 1998) per stratum, on the "
    "finite-population effective sample size n(N-1)/(N-n); strata joined by MOVER (Zou & Donner 2008)",
    "precision": "the share of a label's stratum (its rows at or above min_confidence: its folder after sort) "
    "that show it",
    "missed_animals": "rows labelled no_animal, at any confidence, that show an animal: sum(N_h * y_h) over the "
    "no_animal and _uncertain strata",
    "recall": "the share of rows showing a label that land in its stratum, Y / (Y + Z) with Y and Z from disjoint "
    "strata, their 97.5% intervals joined; given where at least 5 answers show the label; approximate (a rare "
    "label's rows scattered over large strata make Z hard to bound)",
    "thresholds": "the lowest confidence of a label's answered rows at which the lower limit of the precision of "
    "its rows at or above it reaches target_precision; null where none does",
    "sample": ALLOCATION,
    "cant_tell": "answers of can't tell and rows not answered yet are left out: the estimates assume they are like "
    "the answered rows of their stratum",
}


@dataclass(frozen=True)
class Stratum:
    name: str
    rows: int
    sampled: int
    answered: int
    cant_tell: int
    right: int  # answers that agree with the model


@dataclass(frozen=True)
class LabelResult:
    precision: Interval | None  # None while its stratum has no answer
    rows: int  # labelled so at or above min_confidence (its stratum)
    sampled: int
    answered: int
    uncertain_rows: int  # labelled so below min_confidence


@dataclass(frozen=True)
class AuditResult:
    """:func:`analyse`'s answer; ``to_json`` is audit.json."""

    predictions: Path
    sample: Path
    seed: int
    min_confidence: float
    target_precision: float
    error_rows: int  # not sampled: no label to check
    strata: list[Stratum]
    accuracy: Interval | None  # None while a stratum has no answer (see ``waiting``)
    uncertain: Interval | None  # the accuracy of the _uncertain stratum
    labels: dict[str, LabelResult]
    missed: Missed | None  # None for a model without no_animal
    recall: dict[str, tuple[Interval, int]]  # true label → (recall, answers showing it)
    thresholds: dict[str, Threshold]

    @property
    def classified(self) -> int:
        return sum(s.rows for s in self.strata)

    @property
    def sampled(self) -> int:
        return sum(s.sampled for s in self.strata)

    @property
    def answered(self) -> int:
        return sum(s.answered for s in self.strata)

    @property
    def cant_tell(self) -> int:
        return sum(s.cant_tell for s in self.strata)

    @property
    def unanswered(self) -> int:
        return self.sampled - self.answered - self.cant_tell

    @property
    def waiting(self) -> list[str]:
        """Strata without an answer that counts: the overall accuracy needs one in each."""
        return [s.name for s in self.strata if s.rows and not s.answered]

    @property
    def needed_answers(self) -> int | None:
        return needed_answers(self.target_precision)

    def to_json(self) -> dict[str, Any]:
        return _json(self)


def analyse(answers: Answers, target_precision: float, **where: Any) -> AuditResult:
    """Every estimate of ``answers``; ``where``: predictions, sample, seed, error_rows (for the record)."""
    pop = answers.population
    per = [answers.per_stratum(v) for v in (np.ones(len(answers.rows)), answers.answered, answers.cant_tell)]
    right = answers.per_stratum(answers.correct)
    strata = [
        Stratum(name, int(pop.rows[h]), int(per[0][h]), int(per[1][h]), int(per[2][h]), int(right[h]))
        for h, name in enumerate(pop.strata)
    ]
    by_stratum = dict(zip(pop.strata, stratum_accuracy(answers)))
    labels = {}
    for label in sorted(set(pop.labels), key=str.casefold):
        h = pop.index(label)
        below = int(np.count_nonzero((pop.labels == label) & pop.uncertain))
        s = strata[h] if h is not None else Stratum(label, 0, 0, 0, 0, 0)
        labels[label] = LabelResult(by_stratum.get(label), s.rows, s.sampled, s.answered, below)
    return AuditResult(
        min_confidence=pop.min_confidence,
        target_precision=target_precision,
        strata=strata,
        accuracy=accuracy(answers),
        uncertain=by_stratum.get(UNCERTAIN),
        labels=labels,
        missed=missed_animals(answers),
        recall=recall(answers),
        thresholds=thresholds(answers, target_precision),
        **where,
    )


def _iv(iv: Interval | None, digits: int = 4) -> dict[str, float] | None:
    return None if iv is None else iv.as_dict(digits)


def _json(r: AuditResult) -> dict[str, Any]:
    missed = None
    if r.missed is not None:
        missed = {
            **(_iv(r.missed.count, 1) or {"estimate": None, "low": None, "high": None}),
            "rows": r.missed.rows,
            "share": _iv(r.missed.share),
            "labels": {k: {"estimate": round(v, 1), "answers": r.missed.seen[k]} for k, v in r.missed.animals.items()},
        }
    return {
        "animalsort_version": __version__,
        "predictions": str(r.predictions),
        "confidence_level": LEVEL,
        "accuracy": _iv(r.accuracy),
        "missed_animals": missed,
        "labels": {
            k: {
                "precision": _iv(v.precision),
                "rows": v.rows,
                "sampled": v.sampled,
                "answered": v.answered,
                "uncertain_rows": v.uncertain_rows,
            }
            for k, v in r.labels.items()
        },
        "uncertain": {"accuracy": _iv(r.uncertain), "rows": next((s.rows for s in r.strata if s.name == UNCERTAIN), 0)},
        "recall": {k: {**iv.as_dict(), "answers": n} for k, (iv, n) in r.recall.items()},
        "target_precision": r.target_precision,
        "thresholds": {k: t.threshold for k, t in r.thresholds.items()},
        "threshold_details": {k: _threshold(t) for k, t in r.thresholds.items()},
        "sample": {
            "path": str(r.sample),
            "size": r.sampled,
            "seed": r.seed,
            "min_confidence": r.min_confidence,
            "answered": r.answered,
            "cant_tell": r.cant_tell,
            "unanswered": r.unanswered,
            "waiting": r.waiting,
            "error_rows_not_sampled": r.error_rows,
            "strata": {
                s.name: {
                    "rows": s.rows,
                    "sampled": s.sampled,
                    "answered": s.answered,
                    "cant_tell": s.cant_tell,
                    "right": s.right,
                }
                for s in r.strata
            },
        },
        "method": METHOD,
    }


def _threshold(t: Threshold) -> dict[str, Any]:
    p = t.point
    return {
        "threshold": t.threshold,
        "precision": _iv(p.precision) if p else None,
        "answers": p.answers if p else None,
        "rows_kept": p.kept if p else None,
        "to_uncertain": p.to_uncertain if p else None,
        "to_uncertain_at_min_confidence": t.uncertain_now,
        "curve": [
            [
                q.threshold,
                round(q.precision.estimate, 4),
                round(q.precision.low, 4),
                round(q.precision.high, 4),
                q.answers,
                q.kept,
            ]
            for q in t.curve
        ],
    }
