"""The sampling design: strata, how many rows each gets, and which ones.

- **Strata**: one per predicted label for rows at or above ``min_confidence`` (what ``sort``
  puts in that label's folder), and one, ``_uncertain``, for every row below it (what sort
  puts in ``_uncertain/``). Error rows are not sampled: they have no label to check.
- **Allocation**: rows are given out one at a time. First one row to every stratum (so every
  stratum can be estimated). Then ``no_animal`` takes the next row whenever it holds less than
  a fifth of the sample (animals missed there are what people fear, and its confidence says
  nothing about an animal the model did not see); else a stratum below the minimum of 5 rows
  (the emptiest first; a stratum with fewer rows gets all of them); else the stratum with the
  highest priority ``N_h S_h / sqrt(n_h (n_h + 1))``: Wright's (2012) exact optimal Neyman
  allocation for whole rows, which minimises the variance of the overall accuracy estimate.
  ``S_h = sqrt(p_h (1 - p_h))`` takes the stratum's mean confidence as the guess of its
  accuracy, capped at 0.95 so an over-confident model cannot starve a stratum; the guess only
  moves rows between strata: a wrong one costs width, never validity. Handing out rows one at
  a time makes a larger sample the smaller one plus rows ("house-monotone"), so an extended
  sample is the sample a fresh draw of its size gives.
- **Which rows**: each stratum's rows in a random order fixed by the seed and the stratum's
  name; the sample is the first ``n_h`` of that order. The same seed gives the same sample,
  and a larger size takes the next rows of the same orders, so an extended sample keeps its
  rows (and answers) and is still a simple random sample within each stratum.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from animalsort.audit.population import NO_ANIMAL, Population
from animalsort.errors import UsageError

MIN_PER_STRATUM = 5
NO_ANIMAL_SHARE = 0.2
GUESS_CAP = 0.95  # the highest accuracy a stratum's confidence may promise the allocation
ALLOCATION = (
    f"one row at a time: one to every stratum; then to no_animal while it holds less than {NO_ANIMAL_SHARE:.0%} of "
    f"the sample; else to a stratum below {MIN_PER_STRATUM} rows; else to the stratum of highest priority "
    f"N_h*S_h/sqrt(n_h(n_h+1)) (Wright's exact Neyman allocation), S_h = sqrt(p_h(1-p_h)), p_h the stratum's mean "
    f"confidence (at most {GUESS_CAP})"
)


@dataclass(frozen=True)
class Draw:
    """Sampled rows of a population: ``rows`` (population indices), each one's stratum and
    its ``rank`` in its stratum's random order."""

    rows: np.ndarray
    stratum: np.ndarray
    rank: np.ndarray


def draw(pop: Population, size: int, seed: int, kept: np.ndarray | None = None) -> Draw:
    """A stratified sample of ``size`` rows (the first ``n_h`` of each stratum's order);
    with ``kept`` (rows per stratum an earlier draw with this seed holds) only the new ones."""
    kept = np.zeros(len(pop.strata), int) if kept is None else np.asarray(kept, int)
    sizes = allocate(pop.rows, pop.mean_confidence(), size, pop.index(NO_ANIMAL), kept)
    rows, strata, ranks = [], [], []
    for h, (name, members) in enumerate(zip(pop.strata, pop.members)):
        order = draw_order(len(members), seed, name)[kept[h] : sizes[h]]
        rows.append(members[order])
        strata.append(np.full(len(order), h))
        ranks.append(np.arange(kept[h], kept[h] + len(order)))
    return Draw(*(np.concatenate(a).astype(int) if a else np.zeros(0, int) for a in (rows, strata, ranks)))


def allocate(
    rows: np.ndarray,
    guess: np.ndarray,
    size: int,
    no_animal: int | None = None,
    kept: np.ndarray | None = None,
) -> np.ndarray:
    """Rows to sample per stratum (``rows[h]`` in stratum h, ``guess[h]`` its mean confidence;
    ``no_animal``: that stratum's index; ``kept``: rows an earlier sample already holds, never
    fewer). The first ``size`` rows of the order the module docstring gives."""
    rows = np.asarray(rows, int)
    strata = int(np.count_nonzero(rows))
    if size < strata:
        raise UsageError(
            f"--size {size} cannot give one row to each of the {strata} strata (one per label, and one below "
            f"--min-confidence); use --size {strata} or more"
        )
    size = min(size, int(rows.sum()))
    n = np.minimum(rows, 1)  # every stratum's first row
    minimum = np.minimum(rows, MIN_PER_STRATUM)
    p = np.clip(np.asarray(guess, float), 1 - GUESS_CAP, GUESS_CAP)
    weight = rows * np.sqrt(p * (1 - p))

    def entry(h: int) -> tuple[float, int, int]:  # the priority of stratum h's next row, as of n[h]
        return -weight[h] / math.sqrt(n[h] * (n[h] + 1)), h, int(n[h])

    queue: list[tuple[float, int, int]] = []  # Neyman's, made once every minimum is met
    while n.sum() < size:
        if no_animal is not None and n[no_animal] < min(rows[no_animal], NO_ANIMAL_SHARE * (n.sum() + 1)):
            n[no_animal] += 1  # its entry in the queue goes stale, and is renewed when it comes up
        elif (n < minimum).any():
            n[np.argmin(np.where(n < minimum, n, np.iinfo(n.dtype).max))] += 1
        else:
            if not queue:
                queue = [entry(h) for h in range(len(rows)) if n[h] < rows[h]]
                heapq.heapify(queue)
            _, h, seen = heapq.heappop(queue)
            if seen == n[h]:
                n[h] += 1
            if n[h] < rows[h]:
                heapq.heappush(queue, entry(h))
    return n if kept is None else np.maximum(n, kept)


def draw_order(count: int, seed: int, stratum: str) -> np.ndarray:
    """A random order of a stratum's ``count`` rows, fixed by ``seed`` and the stratum's name
    (independent of every other stratum, so adding a label elsewhere changes nothing here)."""
    words = np.frombuffer(hashlib.sha256(stratum.encode("utf-8", "surrogateescape")).digest()[:16], np.uint32)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *words.tolist()])))
    return rng.permutation(count)


def review_order(strata: Sequence[str], ranks: Sequence[int], sizes: dict[str, int]) -> list[int]:
    """Positions in the order a person should answer them: every stratum's first row, then
    its second …, in proportion to the stratum's share of the sample. Answering in this order
    and stopping anywhere leaves, in each stratum, the first rows of its random order — still
    a random sample of it."""
    return sorted(range(len(strata)), key=lambda i: (ranks[i] / sizes[strata[i]], strata[i]))
