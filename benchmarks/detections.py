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
what is missing, writes ``DIR/md.json`` (MegaDetector's own validator accepts it) and measures
(``--half test``, as ``whole_frame.py`` reports): accuracy by animal size for ``--detections``
beside ``--view frame`` and ``--view tiles`` on the same frames; empty frames called animal
beside the JSON's own false boxes; counts exactly right (frames whose animals were all found);
two-species and person+animal frames with every label right; frames/s of ``--detections`` and
``--view frame`` on the 70%-empty set, in the same run (a ratio: the machine may be shared);
and the natural photos' top-1 (animals-dev, ``--view frame``), the targets' reference.

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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import frames  # noqa: E402
from accuracy import GROUP_LABELS, evaluate  # noqa: E402
from whole_frame import score  # noqa: E402

from animalsort.formats.predictions import read_predictions  # noqa: E402
from animalsort.inference.options import ClassifyOptions  # noqa: E402
from animalsort.inference.pipeline import classify_folder  # noqa: E402

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


THRESHOLD = 0.2  # the reader's default (formats.detections.DEFAULT_THRESHOLD)


def classified(folder: Path | list, options: ClassifyOptions, tmp: Path, name: str) -> tuple[list[dict], float]:
    """The rows of ``classify`` with ``options`` on ``folder``, and its frames/s."""
    out = tmp / f"{name}.csv"
    start = time.perf_counter()
    summary = classify_folder(folder, out, options, progress=False)
    return list(read_predictions(out)), summary.ok / (time.perf_counter() - start)


def found_all(truth: list, detections: list[dict]) -> bool:
    """Whether every animal of a frame has a box at or above the threshold (an IoU ≥ 0.3 with it)."""
    from whole_frame import iou

    boxes = [d["bbox"] for d in detections if d["category"] == "1" and d["conf"] >= THRESHOLD]
    return all(any(iou(tuple(b), box) >= 0.3 for b in boxes) for group, box in truth if group != "person")


def labelled(row: dict, group: str) -> bool:
    """Whether the row's ``labels`` name the subject's group (a person as ``person``)."""
    names = {part.rsplit(":", 1)[0] for part in row["labels"].split(";") if part}
    return bool(names & ({"person"} if group == "person" else GROUP_LABELS[group]))


def detection_scores(rows: list[dict], md: dict, folder: Path) -> dict:
    """What only ``--detections`` answers: counts, two subjects, empty frames beside the JSON's false boxes."""
    truth = subjects(folder)
    listed = {im["file"]: im["detections"] for im in md["images"]}
    out: dict[str, list[int]] = {"counts right (all found)": [0, 0], "two-animals": [0, 0], "person-animal": [0, 0]}
    for row in rows:
        t = truth.get(row["path"], [])
        animals = sum(1 for group, _ in t if group != "person")
        if animals and found_all(t, listed[row["path"]]):
            out["counts right (all found)"][0] += row["count"] == str(animals)
            out["counts right (all found)"][1] += 1
        if row["path"].startswith("mixed/"):
            kind = "two-animals" if all(g != "person" for g, _ in t) else "person-animal"
            out[kind][0] += all(labelled(row, group) for group, _ in t)
            out[kind][1] += 1
    return {k: {"share": hit / n if n else 0.0, "of": n} for k, (hit, n) in out.items()}


def measure(folder: Path, data: Path, half: str, seed: int) -> dict:
    """Every number of the issue's measure (the module's docstring)."""
    md_path = folder / "md.json"
    md = json.loads(md_path.read_text())
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name, options in (
            ("detections", ClassifyOptions(detections=md_path)),
            ("frame", ClassifyOptions(view="frame")),
            ("tiles", ClassifyOptions(view="tiles")),
        ):
            rows, _ = classified(folder, options, tmp, name)
            results[name] = score(folder, tmp / f"{name}.csv", half)
            if name == "detections":
                results["only detections"] = detection_scores(rows, md, folder)
        listing = tmp / "empty_heavy.txt"
        listing.write_text("".join(p + "\n" for p in empty_heavy(folder, seed=seed)))
        speed: dict[str, list[float]] = {"detections": [], "frame": []}
        for _ in range(2):  # alternated: the machine's other load falls on both
            for name, extra in (("detections", {"detections": md_path}), ("frame", {"view": "frame"})):
                options = ClassifyOptions(files_from=str(listing), root=folder, **extra)
                speed[name].append(classified([], options, tmp, f"speed-{name}")[1])
        results["frames/s (70% empty)"] = {k: round(max(v), 2) for k, v in speed.items()}
    natural = evaluate(data, ClassifyOptions(view="frame"))
    results["animals-dev top-1 (frame)"] = round(natural["animals_top1"], 3)
    results["same animals' natural photos"] = natural_by_size(folder, half, {m[0] for m in natural["mistakes"]})
    results["json false boxes"] = false_boxes(md, THRESHOLD)
    results["json false boxes, empty frames of the half"] = false_box_share(folder, md, half)
    return results


def natural_by_size(folder: Path, half: str, mistakes: set[str]) -> dict[str, float]:
    """Per animal size, the top-1 of the natural photos (animals-dev, ``--view frame``) the
    frames of that size were made from: the target's reference ("the same animals")."""
    rows = [r for r in csv.DictReader(open(folder / "frames.csv")) if r["group"]]
    animals = sorted({r["source"] for r in rows})
    by_size: dict[str, list[bool]] = {}
    for r in rows:
        if half == "all" or frames.half(r, animals) == half:
            by_size.setdefault(f"size {int(r['size_pct']):>2}%", []).append(r["source"] not in mistakes)
    return {k: sum(v) / len(v) for k, v in sorted(by_size.items())}


def false_box_share(folder: Path, md: dict, half: str) -> float:
    """The share of the half's empty frames the JSON gives a box at or above the threshold: the
    floor for "empty frames called animal" (a box there is the detector's false animal)."""
    rows = list(csv.DictReader(open(folder / "frames.csv")))
    animals = sorted({r["source"] for r in rows if r["group"]})
    empty = {r["path"] for r in rows if not r["group"] and (half == "all" or frames.half(r, animals) == half)}
    boxed = sum(
        1 for im in md["images"] if im["file"] in empty and any(d["conf"] >= THRESHOLD for d in im["detections"])
    )
    return boxed / len(empty)


def print_measure(results: dict, half: str) -> None:
    keys = [k for k in results["frame"] if k.startswith("size")] + ["animals", "empty"]
    print(f"\n| ({half} half) | " + " | ".join(keys).replace("empty", "empty called animal") + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name in ("detections", "frame", "tiles"):
        s = results[name]
        print(f"| {name} | " + " | ".join(f"{s[k]['share']:.2f}" for k in keys) + " |")
    same = results["same animals' natural photos"]
    floor = results["json false boxes, empty frames of the half"]
    print(
        "| natural photos of the same animals | "
        + " | ".join(f"{same[k]:.2f}" for k in keys[:-2])
        + f" | | {floor:.2f} (the JSON's false boxes) |"
    )
    print("n: " + ", ".join(f"{k} {results['frame'][k]['of']}" for k in keys))
    for k, v in results["only detections"].items():
        print(f"{k}: {v['share']:.2f} of {v['of']}")
    speed = results["frames/s (70% empty)"]
    print(f"frames/s on the 70%-empty set: {speed} ({speed['detections'] / speed['frame']:.1f}× --view frame)")
    print(f"animals-dev top-1, --view frame: {results['animals-dev top-1 (frame)']}")
    print(f"the JSON's own false boxes: {results['json false boxes']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    frames.add_arguments(ap)
    ap.add_argument("--scale", type=int, help="measure reading a file of this many images instead")
    ap.add_argument("--half", default="test", choices=("test", "fit", "all"), help="the frames reported")
    ap.add_argument("--json", type=Path, help="write the numbers here too")
    ap.add_argument("--no-measure", action="store_true", help="only write md.json")
    args = ap.parse_args()
    if args.scale:
        measure_scale(args.scale, args.seed)
        return 0
    if not frames.ready(args, mixed=True):
        return 2
    md = batch_output(args.frames, args.seed)
    (args.frames / "md.json").write_text(json.dumps(md, indent=1))
    kinds = {"mixed": 0, "animals": 0, "empty": 0}
    for im in md["images"]:
        kinds[im["file"].split("/")[0]] += 1
    print(f"{args.frames / 'md.json'}: {len(md['images'])} frames ({kinds}); {false_boxes(md)}")
    print(f"70%-empty set: {len(empty_heavy(args.frames, seed=args.seed))} frames")
    if not args.no_measure:
        results = measure(args.frames, args.data, args.half, args.seed)
        print_measure(results, args.half)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
