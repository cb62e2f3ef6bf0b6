"""Fit the whole-frame look's constants (``animalsort/inference/looking.py`` ``RULES``) on the
*fit* half of the whole-frame benchmark, and print what each choice gives on the *test* half:
the trade-off between small animals found, empty frames called animal and what it costs.

The halves (``frames.half``): animal frames by their animal photo (both frames of one animal in
one half), empty frames by their scene, natural photos of animals-dev / people-dev by name. Every
number comes from the product's own code: ``Preprocessor.look`` / ``closer`` for the pixels,
``LoadedModel.look`` for the model, ``looking.see`` / ``decide`` / ``closer_look`` for the
answer. First looks are computed once; closer looks once per square (cached in memory).

    python benchmarks/fit_look.py [--frames DIR] [--data ../shared/data] [--json fit.json]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

import frames  # noqa: E402
from accuracy import GROUP_LABELS  # noqa: E402
from whole_frame import iou  # noqa: E402

from animalsort.inference.looking import RULES, Labels, LookRule, closer_look, decide, see  # noqa: E402
from animalsort.machine import cpu_count, cpu_features  # noqa: E402
from animalsort.model.load import load  # noqa: E402
from animalsort.sources.decode import open_rgb  # noqa: E402
from animalsort.sources.preprocess import Preprocessor  # noqa: E402

SIZES = (3, 5, 10, 20, 40)


@dataclass
class Item:
    """One benchmark photo: where it is, what it shows (group "" = nothing, "people" = people),
    its half, an animal's true box (frames) and its first look."""

    path: Path
    group: str
    half: str
    size_pct: int = 0  # the pasted animal's share of the frame (0: a natural photo or an empty frame)
    box: tuple[float, float, float, float] | None = None
    natural: bool = False
    look: tuple[np.ndarray, np.ndarray] | None = None
    frame: tuple[int, int] = (0, 0)


def items(frames_dir: Path, data: Path) -> list[Item]:
    rows = list(csv.DictReader(open(frames_dir / "frames.csv")))
    animals = sorted({r["source"] for r in rows if r["group"]})
    out = [
        Item(
            frames_dir / r["path"],
            r["group"],
            frames.half(r, animals),
            int(r["size_pct"]),
            tuple(float(v) for v in r["box"].split(",")) if r["box"] else None,
        )
        for r in rows
    ]
    manifest = {r["path"]: r["group"] for r in csv.DictReader(open(data / "animals-dev" / "manifest.csv"))}
    for rel, group in sorted(manifest.items()):
        if group in GROUP_LABELS:
            out.append(Item(data / "animals-dev" / rel, group, frames.natural_half(rel), natural=True))
    for p in sorted((data / "people-dev").iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
            out.append(Item(p, "people", frames.natural_half(p.name), natural=True))
    return out


class Looker:
    """First and closer looks of the benchmark photos, each computed once."""

    def __init__(self, runtime: str):
        self.loaded = load(runtime=runtime, progress=False, look=True, precision="fp32")
        self.pre = Preprocessor(self.loaded.preprocessing)
        self.crops: dict[tuple[str, tuple[float, ...]], tuple[np.ndarray, np.ndarray] | None] = {}
        self.labels: Labels | None = None
        self.seen_cache: dict[tuple[str, float, float], object] = {}
        self.closer_cache: dict[tuple, tuple] = {}

    def first(self, item: Item) -> None:
        im = open_rgb(item.path, self.pre.draft_for("frame"))
        logits, cells = self.loaded.look(torch.from_numpy(self.pre.look(im))[None])
        item.look, item.frame = (logits[0], cells[0]), im.size
        if self.labels is None:
            self.labels = Labels(self.loaded.labels, logits.shape[-1])

    def closer(self, item: Item, squares: list[tuple[float, ...]]) -> list[tuple[np.ndarray, np.ndarray]]:
        todo = [sq for sq in squares if (str(item.path), _key(sq)) not in self.crops]
        if todo:
            arrays = [self.pre.closer(open_rgb(item.path, self.pre.closer_draft(sq)), sq) for sq in todo]
            logits, cells = self.loaded.look(torch.from_numpy(np.stack(arrays)))
            for k, sq in enumerate(todo):
                self.crops[(str(item.path), _key(sq))] = (logits[k], cells[k])
        return [self.crops[(str(item.path), _key(sq))] for sq in squares]

    def answer(self, item: Item, rule: LookRule) -> tuple[str, tuple[float, ...] | None, int]:
        """(label, box, closer looks taken) for ``item`` under ``rule``."""
        key = (str(item.path), rule.box_level, rule.seen)
        if key not in self.seen_cache:
            self.seen_cache[key] = see(item.look[0], item.look[1], self.labels, rule)
        look = decide(self.seen_cache[key], self.labels, rule, item.frame)
        if look.closer:
            done = (*key, tuple(map(_key, look.closer)), rule.agree, rule.keep)
            if done not in self.closer_cache:
                closer_look(look, self.closer(item, look.closer), self.labels, rule)
                self.closer_cache[done] = (look.probs, look.animal, look.box, look.looked_closer)
            look.probs, look.animal, look.box, look.looked_closer = self.closer_cache[done]
        names = self.loaded.labels.labels
        if look.animal:
            probs = look.probs.copy()
            probs[self.labels.no_animal] = -1.0
            label = names[int(probs.argmax())]
        else:
            label = "no_animal"
        return label, look.box, look.looked_closer


def _key(square: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(round(v, 5) for v in square)


def evaluate(looker: Looker, pool: list[Item], rule: LookRule, half: str) -> dict[str, float]:
    """The measures of ``rule`` on one half: animals found by size, empty frames called an
    animal, natural photos right, people said no_animal, closer looks a frame / a natural photo,
    and the share of found animals ≥ 10% whose box has IoU ≥ 0.5 with the truth."""
    hits: dict[str, list[float]] = {}
    for item in (i for i in pool if i.half == half):
        label, box, closer = looker.answer(item, rule)
        animal = label != "no_animal"
        if item.natural:
            key = "people" if item.group == "people" else "animals-dev"
            hits.setdefault(key, []).append(not animal if key == "people" else label in GROUP_LABELS[item.group])
            hits.setdefault("closer natural", []).append(closer)
            continue
        hits.setdefault("closer frames", []).append(closer)
        if not item.group:
            hits.setdefault("empty called animal", []).append(animal)
            continue
        right = label in GROUP_LABELS[item.group]
        hits.setdefault(f"{item.size_pct}%", []).append(right)
        if right and item.size_pct >= 10 and box is not None:
            hits.setdefault("IoU>=0.5 (>=10%)", []).append(iou(box, item.box) >= 0.5)
    return {k: float(np.mean(v)) for k, v in hits.items()}


def candidates(mode: str) -> list[LookRule]:
    """The rules tried for ``mode``: closer-look geometry × the thresholds (``tiles``: more
    closer looks, at grid squares with the most evidence too)."""
    if mode == "frame":
        geometry = list(itertools.product(((1.5,), (2.0,), (2.5,)), (0.25, 0.35), (1,), (0.0,)))
        thresholds = itertools.product((4.0, 5.0, 6.0, 7.0), (0.2, 0.3, 0.4, 0.5, 1.01), (0.1, 0.2, 0.3, 1.1))
        decisions = list(itertools.product(thresholds, (0.5, 0.6, 0.7), (10.0, 99.0)))
    else:
        geometry = list(itertools.product(((1.5,), (1.5, 3.0)), (0.25,), (3, 5), (0.4, 0.5)))
        thresholds = itertools.product((3.0, 4.0, 5.0), (0.4, 0.6, 1.01), (0.3, 1.1))
        decisions = list(itertools.product(thresholds, (0.7, 0.8, 0.9), (99.0,)))
    return [
        LookRule(seen, sure, big, agree, keep, contexts, least, 0.6, budget, tile=tile)
        for contexts, least, budget, tile in geometry
        for (seen, sure, big), agree, keep in decisions
    ]


def feasible(m: dict[str, float], centre: dict[str, float]) -> bool:
    """The constraints of the issue that a fit must hold on its half: empty frames called an
    animal ≤ 5%, every people photo no_animal, natural photos of animals no worse than the
    centre crop's."""
    return (
        m.get("empty called animal", 1.0) <= 0.05
        and m.get("people", 0.0) == 1.0
        and m.get("animals-dev", 0.0) >= centre["animals-dev"]
    )


def objective(m: dict[str, float]) -> tuple[float, float]:
    """Small animals first (5% and 10% of the frame), then every size."""
    return ((m["5%"] + m["10%"]) / 2, float(np.mean([m[f"{s}%"] for s in SIZES])))


def frontier(looker: Looker, pool: list[Item], mode: str, centre: dict[str, float]) -> list[tuple[LookRule, dict]]:
    """The feasible rules on the fit half that no other beats at once on small animals and on
    closer looks at natural photos (their cost on ordinary photos), cheapest first."""
    scored = []
    for rule in candidates(mode):
        m = evaluate(looker, pool, rule, "fit")
        if feasible(m, centre):
            scored.append((m["closer natural"], objective(m), rule, m))
    scored.sort(key=lambda t: (t[0], [-v for v in t[1]]))
    out, best = [], (-1.0, -1.0)
    for _, goal, rule, m in scored:
        if goal > best:
            out.append((rule, m))
            best = goal
    return out


def centre_answers(looker: Looker, pool: list[Item], half: str) -> dict[str, float]:
    """The centre crop's measures on a half (the reference: ``--view centre``)."""
    from animalsort.taxonomy import rank

    hits: dict[str, list[float]] = {}
    for item in (i for i in pool if i.half == half):
        x = looker.pre.crop(open_rgb(item.path, looker.pre.draft_for("centre")))
        label = looker.loaded.labels.labels[
            int(rank(looker.loaded.infer(torch.from_numpy(x)[None]), looker.loaded.labels, 1)[1][0, 0])
        ]
        animal = label != "no_animal"
        if item.natural:
            key = "people" if item.group == "people" else "animals-dev"
            hits.setdefault(key, []).append(not animal if key == "people" else label in GROUP_LABELS[item.group])
        elif not item.group:
            hits.setdefault("empty called animal", []).append(animal)
        else:
            hits.setdefault(f"{item.size_pct}%", []).append(label in GROUP_LABELS[item.group])
    return {k: float(np.mean(v)) for k, v in hits.items()}


def table(rows: list[tuple[str, dict[str, float]]]) -> None:
    keys = [f"{s}%" for s in SIZES] + ["empty called animal", "animals-dev", "people", "IoU>=0.5 (>=10%)"]
    keys += ["closer frames", "closer natural"]
    print("| rule | half | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for name, m in rows:
        half, label = name.split("|")
        print(f"| {label} | {half} | " + " | ".join(f"{m.get(k, float('nan')):.2f}" for k in keys) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    frames.add_arguments(ap, seed=False)
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--modes", default="frame,tiles")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not frames.ready(args):
        return 2
    print(f"machine: {platform.machine()}, {cpu_count()} cores, CPU features: {', '.join(cpu_features()) or '-'}")
    looker = Looker(args.runtime)
    pool = items(args.frames, args.data)
    start = time.perf_counter()
    for item in pool:
        looker.first(item)
    print(f"first looks: {len(pool)} photos in {time.perf_counter() - start:.0f} s")
    centre = {half: centre_answers(looker, pool, half) for half in ("fit", "test")}
    rows = [(f"{half}|centre", centre[half]) for half in ("fit", "test")]
    for name, rule in RULES.items():
        rows += [(f"{half}|shipped {name}", evaluate(looker, pool, rule, half)) for half in ("fit", "test")]
    table(rows)
    record: dict[str, object] = {"centre": centre}
    for mode in args.modes.split(","):
        found = frontier(looker, pool, mode, centre["fit"])
        print(
            f"\n{mode}: {len(found)} rules on the fit half's frontier (small animals vs closer looks on natural photos)"
        )
        rows = []
        for n, (rule, m_fit) in enumerate(found):
            print(f"  {mode}-{n}: {rule}")
            rows += [(f"fit|{mode}-{n}", m_fit), (f"test|{mode}-{n}", evaluate(looker, pool, rule, "test"))]
        record[mode] = [
            {"rule": r.record(), "fit": f, "test": t} for (r, _), (_, f), (_, t) in zip(found, rows[::2], rows[1::2])
        ]
        table(rows)
    if args.json:
        args.json.write_text(json.dumps({"features": cpu_features(), "fits": record}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
