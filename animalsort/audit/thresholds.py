"""Per-label confidence thresholds that reach a target precision on the sample's evidence
(the commands that take ``--thresholds audit.json`` read them with ``formats.thresholds``).

For a label L and a threshold t, the precision of the rows labelled L with confidence ≥ t is
estimated from the answered rows among them: within L's stratum (t ≥ --min-confidence) the
answered rows above t are a simple random sample of the stratum's rows above t, whose count
the CSV gives; below --min-confidence the rows of L in ``_uncertain`` above t are a second
such cell, and the two are joined as strata are (MOVER). The candidates are the confidences
of the answered rows of L.

The threshold is the lowest candidate whose 95% lower limit reaches the target; none where
the sample cannot show the target at any candidate (a label needs :func:`needed_answers`
answers above its threshold, all right, for 0.95: 92). Picking the lowest of many candidates
could pick a lucky dip; the simulation measures how often the chosen threshold's true
precision is below the target (under 2% at 200-800 answers, benchmarks/audit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animalsort.audit.intervals import LEVEL, Interval, stratified, wilson_cc, z_of
from animalsort.audit.population import Answers


@dataclass(frozen=True)
class Point:
    """The precision of the rows of a label at or above one threshold."""

    threshold: float
    precision: Interval
    answers: int  # answered rows at or above it
    kept: int  # rows of the label at or above it
    to_uncertain: int  # rows of the label below it


@dataclass(frozen=True)
class Threshold:
    label: str
    threshold: float | None
    point: Point | None  # at the threshold
    curve: list[Point]  # every candidate, highest first
    uncertain_now: int  # rows of the label below --min-confidence


def needed_answers(target: float, level: float = LEVEL) -> int | None:
    """Answers, all right, before a lower limit can reach ``target`` (a small stratum's finite
    population correction lowers it); None beyond 100,000."""
    n = np.arange(1, 100_001)
    low, _ = wilson_cc(np.ones(len(n)), n, z_of(level))
    reached = np.flatnonzero(low >= target)
    return int(n[reached[0]]) if len(reached) else None


def curve(answers: Answers, label: str) -> list[Point]:
    """The precision of ``label`` at each candidate threshold, highest first."""
    pop = answers.population
    home = pop.index(label)
    mine = pop.labels == label
    conf = np.sort(pop.confidence[mine])  # the label's rows, any stratum
    asked = answers.answered & (answers.labels == label)
    cands = np.unique(answers.confidence[asked])[::-1]
    if not len(cands):
        return []
    sample_conf, right = answers.confidence[asked], answers.correct[asked]
    above = sample_conf[None, :] >= cands[:, None]  # candidate × answered row
    in_home = sample_conf >= pop.min_confidence
    kept = len(conf) - np.searchsorted(conf, cands, side="left")
    home_rows = int(pop.rows[home]) if home is not None else 0
    deep = cands < pop.min_confidence
    # cell 0: the label's stratum (its rows above t, or all of it below --min-confidence); cell 1: _uncertain's
    size = np.stack([np.where(deep, home_rows, kept), np.where(deep, kept - home_rows, 0)], axis=1)
    n = np.stack([(above & in_home).sum(1), (above & ~in_home).sum(1)], axis=1)
    x = np.stack([(above & in_home & right).sum(1), (above & ~in_home & right).sum(1)], axis=1)
    p = np.divide(x, n, out=np.zeros(n.shape), where=n > 0)
    weights = size / np.maximum(size.sum(1, keepdims=True), 1)
    est, lo, hi = stratified(weights, p, n, size)
    return [
        Point(float(t), Interval(float(e), float(a), float(b)), int(m), int(k), int(len(conf) - k))
        for t, e, a, b, m, k in zip(cands, est, lo, hi, n.sum(1), kept)
        if not np.isnan(e)
    ]


def choose(points: list[Point], target: float) -> Point | None:
    """The lowest threshold among ``points`` whose lower limit reaches ``target``."""
    return min((p for p in points if p.precision.low >= target), key=lambda p: p.threshold, default=None)


def thresholds(answers: Answers, target: float) -> dict[str, Threshold]:
    """Every label of the CSV → its threshold for ``target`` precision (or None), with the curve."""
    pop = answers.population
    out = {}
    for label in sorted(set(pop.labels)):
        points = curve(answers, label)
        best = choose(points, target)
        below = int(np.count_nonzero((pop.labels == label) & pop.uncertain))
        out[label] = Threshold(label, best.threshold if best else None, best, points, below)
    return out
