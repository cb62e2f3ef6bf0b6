"""The ``--detections`` benchmark (#37) — its data: MegaDetector batch JSON for the whole-frame
benchmark's frames (``frames.py``), made from each pasted subject's true box with the errors a
real detector makes, so ``classify --detections`` can be measured against ``--view frame`` and
``--view tiles`` on the same frames (the measurements come with ``classify --detections``).

- Every true box is found, jittered by up to ±10% of its size (position and size), at a
  confidence of 0.5–0.95 — except a missed one now and then (``MISSED``).
- Some frames get a false box on the background (``FALSE_BOX``), at 0.15–0.4: the ones at or
  above the default threshold (0.2) are the detector's own false animals, the floor for "empty
  frames called animal".
- People are MegaDetector's category 2 ("person"); animals 1.
- Frames with two subjects (``frames.build_mixed``: two animals of different groups, a person and
  an animal) come beside the whole-frame benchmark's own, which stay as they are.
- A set that is 70% empty (``empty_heavy``) for the frames/s comparison.

Deterministic for a seed. ``python benchmarks/detections.py [--frames DIR] [--seed 0]`` builds
what is missing and writes ``DIR/md.json`` (MegaDetector's own validator accepts it).

``--scale N`` instead measures reading a MegaDetector file of N images (70% empty; every image
with the low-confidence boxes MegaDetector writes down to 0.005) with ``formats.detections``:
its size, the reader's peak memory and seconds, in a process of its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import frames  # noqa: E402

JITTER = 0.10  # of a box's width / height
CONF = (0.5, 0.95)  # a found subject's confidence
MISSED = 0.04  # the share of subjects the detector misses
FALSE_BOX = 0.2  # the share of frames with a false box on the background
FALSE_CONF = (0.15, 0.4)
CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}


def subjects(folder: Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """Every frame (``frames.csv`` and ``mixed.csv``) → its subjects' (group, true box)."""
    found: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = {}
    for row in csv.DictReader(open(folder / "frames.csv")):
        found[row["path"]] = [(row["group"], _box(row["box"]))] if row["group"] else []
    for row in csv.DictReader(open(folder / "mixed.csv")):
        pairs = zip(row["groups"].split(";"), row["boxes"].split(";"))
        found[row["path"]] = [(group, _box(box)) for group, box in pairs]
    return found


def _box(text: str) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in text.split(","))
    return x, y, w, h


def detect(truth: list[tuple[str, tuple[float, float, float, float]]], rng: random.Random) -> list[dict]:
    """One frame's detections as a detector would report them (most confident first)."""
    found = []
    for group, (x, y, w, h) in truth:
        if rng.random() < MISSED:
            continue
        dx, dy = rng.uniform(-JITTER, JITTER) * w, rng.uniform(-JITTER, JITTER) * h
        nw, nh = w * (1 + rng.uniform(-JITTER, JITTER)), h * (1 + rng.uniform(-JITTER, JITTER))
        box = _inside(x + dx, y + dy, nw, nh)
        found.append({"category": "2" if group == "person" else "1", "conf": _conf(rng, CONF), "bbox": box})
    if rng.random() < FALSE_BOX:
        found.append({"category": "1", "conf": _conf(rng, FALSE_CONF), "bbox": _background(truth, rng)})
    return sorted(found, key=lambda d: -d["conf"])


def _conf(rng: random.Random, span: tuple[float, float]) -> float:
    return round(rng.uniform(*span), 3)


def _inside(x: float, y: float, w: float, h: float) -> list[float]:
    """A box moved and cut to lie inside the frame (as a detector reports it)."""
    x0, y0 = min(max(0.0, x), 0.99), min(max(0.0, y), 0.99)
    x1, y1 = min(1.0, max(x0 + 0.01, x + w)), min(1.0, max(y0 + 0.01, y + h))
    return [round(x0, 4), round(y0, 4), round(x1 - x0, 4), round(y1 - y0, 4)]


def _background(truth: list, rng: random.Random) -> list[float]:
    """A small box (1–5% of the frame) that overlaps no subject."""
    for _ in range(100):
        side = rng.uniform(0.1, 0.22)
        w, h = side, side * rng.uniform(0.6, 1.4)
        x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - min(h, 0.99))
        if not any(x < bx + bw and bx < x + w and y < by + bh and by < y + h for _, (bx, by, bw, bh) in truth):
            return _inside(x, y, w, h)
    return _inside(0.0, 0.0, 0.05, 0.05)


def batch_output(folder: Path, seed: int = 0) -> dict:
    """The MegaDetector batch JSON of every frame in ``folder``."""
    rng = random.Random(f"detections-{seed}")
    images = [{"file": path, "detections": detect(truth, rng)} for path, truth in sorted(subjects(folder).items())]
    info = {
        "format_version": "1.5",
        "detector": f"synthetic (benchmarks/detections.py, seed {seed}): true boxes with a detector's errors",
        "detector_metadata": {"typical_detection_threshold": 0.2, "conservative_detection_threshold": 0.05},
    }
    return {"images": images, "detection_categories": CATEGORIES, "info": info}


def empty_heavy(folder: Path, share: float = 0.7, seed: int = 0) -> list[str]:
    """Frames of which ``share`` are empty (every empty frame, and as many others as that
    allows, drawn at random), for frames/s on a folder like a camera trap's."""
    rows = list(csv.DictReader(open(folder / "frames.csv")))
    empty = [r["path"] for r in rows if not r["group"]]
    others = [r["path"] for r in rows if r["group"]]
    n = round(len(empty) * (1 - share) / share)
    return sorted(empty + random.Random(f"empty-heavy-{seed}").sample(others, min(n, len(others))))


def false_boxes(md: dict, threshold: float = 0.2) -> dict[str, int]:
    """How many frames the JSON gives a false box at or above ``threshold`` (empty frames, and all)."""
    empty = sum(1 for im in md["images"] if im["file"].startswith("empty/"))
    counted = {"empty frames": empty, "empty with a false box": 0}
    for im in md["images"]:
        if im["file"].startswith("empty/") and any(d["conf"] >= threshold for d in im["detections"]):
            counted["empty with a false box"] += 1
    return counted


def write_scale(out: Path, n: int, seed: int = 0) -> None:
    """A MegaDetector file of ``n`` images in ``n // 1000`` folders, written as a stream."""
    rng = random.Random(f"scale-{seed}")
    with open(out, "w") as f:
        f.write('{"images": [\n')
        for i in range(n):
            dets = [{"category": "1", "conf": round(rng.uniform(0.005, 0.15), 3), "bbox": [0.1, 0.2, 0.05, 0.07]}] * 3
            if rng.random() < 0.3:
                dets = [
                    {"category": "1", "conf": round(rng.uniform(0.5, 0.95), 3), "bbox": [0.3, 0.3, 0.2, 0.25]}
                ] + dets
            image = {"file": f"camera{i // 1000:04d}/IMG_{i % 1000:04d}.JPG", "detections": dets}
            f.write(("," if i else "") + json.dumps(image) + "\n")
        info = {"format_version": "1.5", "detector": "md_v5a.0.0.pt"}
        f.write(f'], "detection_categories": {json.dumps(CATEGORIES)}, "info": {json.dumps(info)}}}\n')


READ = """
import resource, sys, time
from animalsort.formats.detections import read_detections
start = time.perf_counter()
found = read_detections(sys.argv[1], sys.argv[2])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(found.entries)} images read in {seconds:.1f} s, peak memory {peak:.0f} MB")
"""


def measure_scale(n: int, seed: int) -> None:
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        md = Path(tmp) / "md.json"
        write_scale(md, n, seed)
        print(f"{md.stat().st_size / 1e6:.0f} MB of JSON, {n} images")
        subprocess.run([sys.executable, "-c", READ, str(md), tmp], check=True)
        rss = "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024"
        baseline = (
            f"import resource, animalsort.formats.detections; print(f'(python and the import: {{{rss}:.0f}} MB)')"
        )
        subprocess.run([sys.executable, "-c", baseline], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--frames", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-whole-frame")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, help="measure reading a file of this many images instead")
    args = ap.parse_args()
    if args.scale:
        measure_scale(args.scale, args.seed)
        return 0
    if missing := frames.missing_scenes():
        print(f"missing scenes ({len(missing)}): apt-get install mate-backgrounds plasma-workspace-wallpapers")
        return 2
    if not (args.frames / "frames.csv").is_file():
        print(f"building frames in {args.frames} …", flush=True)
        frames.build(args.data, args.frames, seed=args.seed)
    if not (args.frames / "mixed.csv").is_file():
        frames.build_mixed(args.data, args.frames, seed=args.seed)
    md = batch_output(args.frames, args.seed)
    (args.frames / "md.json").write_text(json.dumps(md, indent=1))
    kinds = {"mixed": 0, "animals": 0, "empty": 0}
    for im in md["images"]:
        kinds[im["file"].split("/")[0]] += 1
    print(f"{args.frames / 'md.json'}: {len(md['images'])} frames ({kinds}); {false_boxes(md)}")
    print(f"70%-empty set: {len(empty_heavy(args.frames, seed=args.seed))} frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
