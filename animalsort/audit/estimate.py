"""From a sample's answers to what holds for the whole CSV, each with a 95% interval
(intervals.py: continuity-corrected Wilson per stratum, MOVER across strata).

- **Overall accuracy**: the stratified estimator ``sum(N_h / N · p_h)``, p_h the share of
  stratum h's answers that agree with the model.
- **Precision of a label**: the share of its stratum's rows (labelled so at or above
  ``min_confidence``: its folder after ``sort``) that show it.
- **Missed animals**: the number of rows labelled ``no_animal`` (at any confidence) that
  show an animal, ``sum(N_h · y_h)`` over the ``no_animal`` stratum and ``_uncertain``
  (y_h: the share of the stratum's answers that are such rows); and which animals they were.
- **Recall of a true label T**: the share of rows showing T that land in T's stratum,
  ``Y / (Y + Z)``: Y (rows showing T in T's stratum) and Z (rows showing T anywhere else)
  come from disjoint strata, so are independent; the interval joins their 97.5% intervals
  through the ratio (0.975² ≥ 0.95). Given where at least :data:`RECALL_MIN` answers show T.

"Can't tell" answers and rows not answered yet are left out, stratum by stratum: the
estimates hold if such rows are like the answered ones of their stratum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animalsort.audit.intervals import LEVEL, Interval, stratified
from animalsort.audit.population import NO_ANIMAL, Answers

RECALL_MIN = 5  # answers showing a label before its recall is given


def _interval(est: float, low: float, high: float) -> Interval | None:
    return None if np.isnan(est) else Interval(float(est), float(low), float(high))


def accuracy(answers: Answers) -> Interval | None:
    """The share of all classified rows whose label is right (None while a stratum has no answer)."""
    pop = answers.population
    est, low, high = stratified(pop.rows / pop.rows.sum(), answers.proportion(answers.correct), answers.n, pop.rows)
    return _interval(est, low, high)


def stratum_accuracy(answers: Answers) -> list[Interval | None]:
    """Each stratum's share of right labels (a label's precision; ``_uncertain``'s accuracy)."""
    pop = answers.population
    p = answers.proportion(answers.correct)
    est, low, high = stratified(np.ones((len(p), 1)), p[:, None], answers.n[:, None], pop.rows[:, None])
    return [_interval(e, lo, hi) for e, lo, hi in zip(est, low, high)]


@dataclass(frozen=True)
class Missed:
    """Rows labelled no_animal that show an animal: how many, their share, which animals."""

    count: Interval | None
    rows: int  # rows labelled no_animal
    share: Interval | None
    animals: dict[str, float]  # truth label → estimated rows
    seen: dict[str, int]  # truth label → answers showing it


def missed_animals(answers: Answers) -> Missed | None:
    """None when no row is labelled no_animal (a model without that label)."""
    pop = answers.population
    is_empty = pop.labels == NO_ANIMAL
    rows = int(np.count_nonzero(is_empty))
    if not rows:
        return None
    # the share of each stratum's rows labelled no_animal: 1 in its own stratum, known in _uncertain, else 0
    cap = np.bincount(pop.stratum, weights=is_empty, minlength=len(pop.strata)) / np.maximum(pop.rows, 1)
    hits = (answers.labels == NO_ANIMAL) & (answers.truth != NO_ANIMAL)
    est, low, high = stratified(np.where(cap > 0, pop.rows, 0), answers.proportion(hits), answers.n, pop.rows, cap)
    count = _interval(est, low, high)
    share = None if count is None else Interval(count.estimate / rows, count.low / rows, count.high / rows)
    animals, seen = {}, {}
    for truth in sorted(set(answers.truth[hits & answers.answered])):
        shown = hits & (answers.truth == truth)
        animals[truth] = float(np.sum(pop.rows * answers.proportion(shown)))
        seen[truth] = int(np.count_nonzero(shown & answers.answered))
    return Missed(count, rows, share, animals, seen)


def recall(answers: Answers) -> dict[str, tuple[Interval, int]]:
    """True label → (recall, answers showing it), where at least RECALL_MIN answers show it."""
    pop = answers.population
    shown = answers.truth[answers.answered]
    labels, counts = np.unique(shown.astype(str), return_counts=True) if len(shown) else ([], [])
    out = {}
    for label, seen in zip(labels, counts):
        if seen < RECALL_MIN:
            continue
        home = pop.index(label)
        p = answers.proportion(answers.truth == label)
        inside = np.zeros(len(pop.strata), bool)
        if home is not None:
            inside[home] = True
        level = 1 - (1 - LEVEL) / 2  # two independent parts: 0.975² ≥ 0.95
        y = stratified(np.where(inside, pop.rows, 0), p, answers.n, pop.rows, level=level)
        z = stratified(np.where(inside, 0, pop.rows), p, answers.n, pop.rows, level=level)
        if np.isnan(y[0]) or np.isnan(z[0]) or y[0] + z[0] <= 0:
            continue
        est = y[0] / (y[0] + z[0])
        low = y[1] / (y[1] + z[2]) if y[1] + z[2] > 0 else 0.0
        high = y[2] / (y[2] + z[1]) if y[2] + z[1] > 0 else 1.0
        out[str(label)] = (Interval(float(est), float(low), float(high)), int(seen))
    return out
