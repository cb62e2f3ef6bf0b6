"""How the audit's intervals behave (issue #38): coverage and bias by simulation, widths by
sample size, and a check on real photos.

A synthetic predictions CSV of 10,000 rows with known per-label precision and a known number
of animals among the rows labelled no_animal (a camera trap: mostly empty frames, a few common
species, some rare ones, two labels always right) is sampled again and again by the audit's
own design; a "person" answers from the truth (3% "can't tell" at random); every reported
interval is checked against the true value of the whole CSV.

    python benchmarks/audit.py                 # interval width vs sample size (50, 100, 200, 400)
    python benchmarks/audit.py --coverage      # the coverage table (sizes 100-800, --reps 1000)
    python benchmarks/audit.py --real          # animals-dev + people-dev, --view centre, samples of 60
    python benchmarks/audit.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animalsort.audit.estimate import accuracy, missed_animals, recall, stratum_accuracy
from animalsort.audit.intervals import Interval
from animalsort.audit.population import CANT_TELL, NO_ANIMAL, UNCERTAIN, Answers, Population
from animalsort.audit.sample import draw
from animalsort.audit.thresholds import thresholds

MIN_CONFIDENCE = 0.5
TARGET = 0.95
#: label → (rows labelled so, precision of its rows at or above MIN_CONFIDENCE); no_animal: (rows, animals among
#: its confident rows). 12% of each label's rows fall below MIN_CONFIDENCE, where 45% are right.
CAMERA_TRAP = {
    NO_ANIMAL: (5200, 80),
    "deer": (1800, 0.96),
    "fox": (600, 0.90),
    "bird": (800, 0.85),
    "rabbit": (400, 0.93),
    "boar": (450, 1.0),
    "badger": (250, 0.80),
    "squirrel": (300, 0.70),
    "cat": (120, 0.95),
    "hare": (50, 1.0),
    "marten": (30, 0.60),
}
UNSURE_SHARE, UNSURE_RIGHT = 0.12, 0.45


@dataclass(frozen=True)
class Synthetic:
    population: Population
    truth: np.ndarray  # what each row shows


def synthetic(spec: dict[str, tuple[int, float]] = CAMERA_TRAP, seed: int = 38) -> Synthetic:
    """The synthetic CSV: exact counts of right and wrong rows per label; the right ones more
    confident than the wrong ones (so precision rises with the threshold)."""
    rng = np.random.default_rng(seed)
    animals = [lab for lab in spec if lab != NO_ANIMAL]
    labels, conf, truth = [], [], []
    for label, (rows, quality) in spec.items():
        unsure = round(rows * UNSURE_SHARE)
        sure = rows - unsure
        wrong = int(quality) if label == NO_ANIMAL else round(sure * (1 - quality))
        unsure_wrong = round(unsure * (1 - UNSURE_RIGHT))
        low = np.sort(0.12 + 0.3799 * rng.beta(2, 1.5, unsure))
        parts = [
            (0.5 + 0.5 * rng.beta(6, 1.2, sure - wrong), True),
            (0.5 + 0.5 * rng.beta(2, 2.5, wrong), False),
            (low[unsure_wrong:], True),
            (low[:unsure_wrong], False),  # the least confident are the wrong ones
        ]
        for values, right in parts:
            for c in values:
                labels.append(label)
                conf.append(round(float(c), 4))
                truth.append(label if right else _wrong_truth(label, spec, animals, rng))
    order = rng.permutation(len(labels))
    pop = Population.of(np.array(labels, object)[order], np.array(conf)[order], MIN_CONFIDENCE)
    return Synthetic(pop, np.array(truth, object)[order])


def _wrong_truth(label: str, spec: dict, animals: list[str], rng: np.random.Generator) -> str:
    if label == NO_ANIMAL:
        return animals[rng.integers(len(animals))]
    if rng.random() < 0.4:
        return NO_ANIMAL  # an empty frame called an animal
    others = [a for a in animals if a != label]
    return others[rng.integers(len(others))]


@dataclass(frozen=True)
class Truth:
    """The true values of the whole CSV, for the quantities the audit estimates."""

    accuracy: float
    precision: dict[str, float]  # per stratum
    missed: int
    no_animal_rows: int
    recall: dict[str, float]

    @classmethod
    def of(cls, s: Synthetic) -> Truth:
        pop, truth = s.population, s.truth
        right = truth == pop.labels
        precision = {name: float(right[m].mean()) for name, m in zip(pop.strata, pop.members)}
        empty = pop.labels == NO_ANIMAL
        in_home = np.array([pop.strata[h] for h in pop.stratum], object) == truth
        rec = {t: float(in_home[truth == t].mean()) for t in set(truth)}
        return cls(float(right.mean()), precision, int((empty & (truth != NO_ANIMAL)).sum()), int(empty.sum()), rec)

    def precision_at(self, s: Synthetic, label: str, t: float) -> float:
        rows = (s.population.labels == label) & (s.population.confidence >= t)
        return float((s.truth[rows] == label).mean())


def answer(s: Synthetic, rows: np.ndarray, rng: np.random.Generator, cant_tell: float = 0.03) -> np.ndarray:
    """A careful person: the truth, or "can't tell" for a random few."""
    return np.where(rng.random(len(rows)) < cant_tell, CANT_TELL, s.truth[rows]).astype(object)


@dataclass
class Tally:
    """Per quantity: did each interval cover the truth, the estimate's error, the width."""

    hits: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    widths: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    thresholds_found: int = 0
    thresholds_below_target: int = 0

    def check(self, key: str, iv: Interval | None, value: float, scale: float = 1.0) -> None:
        if iv is None:
            return
        self.hits[key].append(iv.contains(value))
        self.errors[key].append((iv.estimate - value) / scale)
        self.widths[key].append((iv.high - iv.low) / scale)

    def summary(self) -> dict:
        quantities = {
            k: {
                "coverage": float(np.mean(self.hits[k])),
                "bias": float(np.mean(self.errors[k])),
                "bias_se": float(np.std(self.errors[k]) / np.sqrt(len(self.errors[k]))),
                "width": float(np.mean(self.widths[k])),
                "reps": len(self.hits[k]),
            }
            for k in sorted(self.hits)
        }
        return {
            "quantities": quantities,
            "thresholds_found": self.thresholds_found,
            "thresholds_below_target": self.thresholds_below_target,
        }


def simulate(s: Synthetic, sizes: list[int], reps: int, seed: int = 0) -> dict:
    """Per size: coverage, bias (missed animals: as a share of the no_animal rows) and mean width
    of every interval over ``reps`` samples; how often a chosen threshold's true precision is
    below the target."""
    truth = Truth.of(s)
    pop = s.population
    out = {}
    for size in sizes:
        tally = Tally()
        for r in range(reps):
            d = draw(pop, size, seed=seed * 100_000 + r)
            ans = Answers(pop, d.rows, answer(s, d.rows, np.random.default_rng([seed, r, size])))
            tally.check("accuracy", accuracy(ans), truth.accuracy)
            for name, iv in zip(pop.strata, stratum_accuracy(ans)):
                key = f"precision {name}" if name != UNCERTAIN else "accuracy _uncertain"
                tally.check(key, iv, truth.precision[name])
            tally.check("missed animals", missed_animals(ans).count, truth.missed, truth.no_animal_rows)
            for label, (iv, _) in recall(ans).items():
                tally.check(f"recall {label}", iv, truth.recall[label])
            for label, th in thresholds(ans, TARGET).items():
                if th.threshold is not None:
                    tally.thresholds_found += 1
                    tally.thresholds_below_target += truth.precision_at(s, label, th.threshold) < TARGET
        out[size] = tally.summary()
    return out


def coverage_table(result: dict) -> str:
    sizes = list(result)
    keys = list(dict.fromkeys(k for n in sizes for k in result[n]["quantities"]))
    lines = [f"{'coverage of the 95% intervals':<30}" + "".join(f"{'n=' + str(n):>10}" for n in sizes)]
    for k in keys:
        cells = [result[n]["quantities"].get(k, {}).get("coverage") for n in sizes]
        lines.append(f"{k:<30}" + "".join(f"{c:>10.3f}" if c is not None else f"{'-':>10}" for c in cells))
    found = "".join(f"{result[n]['thresholds_below_target']:>5}/{result[n]['thresholds_found']:<4}" for n in sizes)
    lines.append(f"{'thresholds below the target':<30}{found}")
    return "\n".join(lines)


def width_table(result: dict) -> str:
    """Mean width of the 95% intervals by sample size (missed animals: as a share of no_animal rows)."""
    sizes = list(result)
    rows = [("overall accuracy", ["accuracy"]), ("missed animals (share)", ["missed animals"])]
    rows += [("precision, no_animal", ["precision no_animal"]), ("precision, deer (1,584 rows)", ["precision deer"])]
    rows += [("precision, fox (528 rows)", ["precision fox"]), ("precision, cat (106 rows)", ["precision cat"])]
    lines = [f"{'mean width of the 95% interval':<32}" + "".join(f"{'n=' + str(n):>9}" for n in sizes)]
    for title, keys in rows:
        cells = [np.mean([result[n]["quantities"][k]["width"] for k in keys]) for n in sizes]
        lines.append(f"{title:<32}" + "".join(f"{c:>9.3f}" for c in cells))
    for key in ("accuracy", "missed animals"):
        cells = [result[n]["quantities"][key]["coverage"] for n in sizes]
        lines.append(f"{'coverage, ' + key:<32}" + "".join(f"{c:>9.3f}" for c in cells))
    return "\n".join(lines)


#: animals-dev group → the label a person answers when the model's label is wrong (accuracy.py says which are right)
ANSWER_FOR_GROUP = {"big_cat": "big_cat", "sheep_goat": "sheep", "horse": "horse", "giraffe": "other_animal"}
REAL_SIZE = 60


def classified_real(data: Path) -> Synthetic:
    """animals-dev and people-dev classified with --view centre, and what each photo shows: its
    group's label (accuracy.py's mapping: the model's label when it counts as right, else the
    group's own; a giraffe is other_animal), no_animal for people-dev."""
    import csv
    import tempfile

    from accuracy import GROUP_LABELS

    from animalsort.formats.predictions import read_predictions
    from animalsort.inference.options import ClassifyOptions
    from animalsort.inference.pipeline import classify_folder

    groups = {r["path"]: r["group"] for r in csv.DictReader(open(data / "animals-dev" / "manifest.csv"))}
    labels, conf, truth = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for folder in ("animals-dev", "people-dev"):
            out = Path(tmp) / f"{folder}.csv"
            classify_folder(data / folder, out, ClassifyOptions(view="centre", precision="fp32"), progress=False)
            for row in read_predictions(out):
                if row["status"] != "ok":
                    continue
                labels.append(row["label"])
                conf.append(float(row["confidence"]))
                group = groups.get(row["path"]) if folder == "animals-dev" else None
                if group is None:
                    truth.append(NO_ANIMAL)
                elif row["label"] in GROUP_LABELS.get(group, ()):
                    truth.append(row["label"])
                else:
                    truth.append(ANSWER_FOR_GROUP.get(group) or next(iter(GROUP_LABELS[group])))
    return Synthetic(Population.of(labels, conf, MIN_CONFIDENCE), np.array(truth, object))


def real_check(real: Synthetic, reps: int = 200, size: int = REAL_SIZE) -> dict:
    """Samples of ``size`` from the real photos, answered from their truth: the first one's
    intervals against the true values, and coverage and widths over ``reps`` seeds."""
    truth = Truth.of(real)
    pop = real.population
    first = draw(pop, size, seed=0)
    ans = Answers(pop, first.rows, real.truth[first.rows])
    acc, missed = accuracy(ans), missed_animals(ans)
    labels = {
        name: (iv.as_dict(), truth.precision[name], iv.contains(truth.precision[name]))
        for name, iv in zip(pop.strata, stratum_accuracy(ans))
        if iv is not None and name != UNCERTAIN
    }
    spread = Tally()
    for r in range(reps):
        d = draw(pop, size, seed=r)
        again = Answers(pop, d.rows, real.truth[d.rows])
        spread.check("accuracy", accuracy(again), truth.accuracy)
        spread.check("missed animals", missed_animals(again).count, truth.missed, max(truth.no_animal_rows, 1))
        for name, iv in zip(pop.strata, stratum_accuracy(again)):
            spread.check("precision (all labels)", iv, truth.precision[name])
    return {
        "rows": len(pop.labels),
        "strata": len(pop.strata),
        "size": size,
        "true_accuracy": truth.accuracy,
        "true_missed": truth.missed,
        "no_animal_rows": truth.no_animal_rows,
        "seed0": {
            "accuracy": acc.as_dict() if acc else None,
            "accuracy_contains_truth": bool(acc and acc.contains(truth.accuracy)),
            "missed": missed.count.as_dict(1) if missed and missed.count else None,
            "missed_contains_truth": bool(missed and missed.count and missed.count.contains(truth.missed)),
            "labels": labels,
        },
        "seeds": spread.summary(),
    }


def real_table(res: dict) -> str:
    s0, q = res["seed0"], res["seeds"]["quantities"]
    lines = [
        f"{res['rows']} photos (animals-dev + people-dev, --view centre), {res['strata']} strata; "
        f"samples of {res['size']}",
        f"true accuracy {res['true_accuracy']:.3f}; true missed animals {res['true_missed']} of "
        f"{res['no_animal_rows']} rows labelled no_animal",
        f"seed 0: accuracy {s0['accuracy']} contains the truth: {s0['accuracy_contains_truth']}; "
        f"missed {s0['missed']} contains the truth: {s0['missed_contains_truth']}",
        f"seed 0: {sum(c for *_, c in s0['labels'].values())} of {len(s0['labels'])} label precisions "
        "contain the truth",
        f"{'over ' + str(q['accuracy']['reps']) + ' seeds':<24}{'coverage':>10}{'mean width':>12}",
    ]
    for k, v in q.items():
        lines.append(f"{k:<24}{v['coverage']:>10.3f}{v['width']:>12.3f}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coverage", action="store_true", help="the coverage table, sizes 100-800 (default --reps 1000)")
    ap.add_argument("--real", action="store_true", help="instead: animals-dev + people-dev, samples of 60")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    args = ap.parse_args()
    if args.real:
        if not (args.data / "animals-dev").is_dir():
            print(f"no data at {args.data}; pass --data", file=sys.stderr)
            return 2
        res = real_check(classified_real(args.data), reps=args.reps or 200)
        print(real_table(res))
    elif args.coverage:
        res = simulate(synthetic(), [100, 200, 400, 800], args.reps or 1000)
        print(coverage_table(res))
    else:
        res = simulate(synthetic(), [50, 100, 200, 400], args.reps or 200)
        print(width_table(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
