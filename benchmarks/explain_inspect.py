"""explain and inspect on real photos: where Grad-CAM puts its heat, and how fast both run.

explain: every photo of ../shared/data/animals-dev whose group has a zero-shot label is
pasted (longer side 240 and 320 px) at a seeded random spot of a blank 640×480 canvas, inside the
model's centre crop; Grad-CAM of the predicted label (and of the group's own label) is
measured by the share of its mass inside the pasted box. The issue's bar is ≥ 0.6.

inspect: the whole shared/data tree as a dataset (its folders as classes), then a generated
set of N 640×480 JPEGs with planted copies, and the near-duplicate search alone on 100,000
hashes.

    python benchmarks/explain_inspect.py [--data ../shared/data] [--synthetic 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import GROUP_LABELS  # noqa: E402

from animalsort.datasets import inspection  # noqa: E402
from animalsort.model import load  # noqa: E402
from animalsort.pages import explain  # noqa: E402


def bench_explain(src: Path, seed: int, side: int) -> dict:
    cam = explain.GradCam(load.load(None, None, precision="fp32", progress=False))
    rng = random.Random(seed)
    manifest = list(csv.DictReader(open(src / "manifest.csv")))
    masses, own, right, times, areas = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in manifest:
            labels = GROUP_LABELS.get(r["group"]) or set()
            if not labels:
                continue
            animal = Image.open(src / r["path"]).convert("RGB")
            f = side / max(animal.size)  # up or down to the chosen size
            animal = animal.resize((round(animal.width * f), round(animal.height * f)), Image.Resampling.BICUBIC)
            canvas = Image.new("RGB", (640, 480), (255, 255, 255))
            # the crop of a 640×480 image is its central 480×480 (x 80..560)
            x = rng.randint(80, 560 - animal.width)
            y = rng.randint(0, 480 - animal.height)
            canvas.paste(animal, (x, y))
            path = Path(tmp) / "pasted.png"
            canvas.save(path)
            box = (x, y, x + animal.width, y + animal.height)
            t = time.perf_counter()
            e = explain.explain_file(cam, path)
            times.append(time.perf_counter() - t)
            masses.append(e.mass_inside(box))
            right.append(e.label in labels)
            label = e.label if e.label in labels else sorted(labels & set(cam.loaded.labels.labels))[0]
            own.append(explain.explain_file(cam, path, label).mass_inside(box))
            areas.append(animal.width * animal.height / (640 * 480))
    correct = [m for m, ok in zip(masses, right) if ok]
    return {
        "photos": len(masses),
        "median_mass_predicted": round(statistics.median(masses), 3),
        "share_ge_0.6_predicted": round(sum(m >= 0.6 for m in masses) / len(masses), 3),
        "median_mass_when_correct": round(statistics.median(correct), 3) if correct else None,
        "share_ge_0.6_when_correct": round(sum(m >= 0.6 for m in correct) / len(correct), 3) if correct else None,
        "correct": len(correct),
        "median_mass_group_label": round(statistics.median(own), 3),
        "share_ge_0.6_group_label": round(sum(m >= 0.6 for m in own) / len(own), 3),
        "median_box_area": round(statistics.median(areas), 3),
        "seconds_per_image": round(statistics.median(times), 3),
    }


def bench_inspect(data: Path, synthetic: int, workers: int) -> dict:
    out: dict = {}
    t = time.perf_counter()
    res = inspection.scan(data / "animals-dev", workers=workers, progress=False)
    out["animals_dev"] = {
        "images": len(res.images),
        "seconds": round(time.perf_counter() - t, 2),
        "findings": {k: len(v) for k, v in res.by_kind().items()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(synthetic):
            cls = root / f"class{i % 10}"
            cls.mkdir(exist_ok=True)
            small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC).save(cls / f"{i}.jpg", quality=85)
        planted = max(1, synthetic // 100)
        for i in range(planted):  # 1% copies into another class
            shutil.copy(root / f"class{i % 10}" / f"{i}.jpg", root / f"class{(i + 1) % 10}" / f"copy{i}.jpg")
        t = time.perf_counter()
        res = inspection.scan(root, workers=workers, progress=False)
        sec = time.perf_counter() - t
        kinds = res.by_kind()
        out["synthetic"] = {
            "images": len(res.images),
            "seconds": round(sec, 2),
            "images_per_s": round(len(res.images) / sec, 1),
            "planted_copies": planted,
            "duplicates_found": len(kinds.get("duplicate", [])),
            "label_conflicts_found": len(kinds.get("label_conflict", [])),
            "other_findings": sum(len(v) for k, v in kinds.items() if k not in ("duplicate", "label_conflict")),
        }
    hashes = np.random.default_rng(1).integers(0, 2**63, 100_000, dtype=np.uint64)
    t = time.perf_counter()
    inspection.near_pairs(hashes, inspection.NEAR_BITS)
    out["near_search_100k_seconds"] = round(time.perf_counter() - t, 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--synthetic", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sides", type=int, nargs="+", default=[240, 320], help="pasted photos' longer side (px)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not (args.data / "animals-dev").is_dir():
        print(f"no animals-dev under {args.data}; pass --data", file=sys.stderr)
        return 2
    results = {side: bench_explain(args.data / "animals-dev", args.seed, side) for side in args.sides}
    i = bench_inspect(args.data, args.synthetic, args.workers)
    for side, e in results.items():
        print(f"explain (lite0, Grad-CAM, photos pasted with longer side {side} px on a 640×480 canvas)")
        _print_explain(e)
    a, s = i["animals_dev"], i["synthetic"]
    print("inspect")
    print(f"  animals-dev: {a['images']} images in {a['seconds']} s; findings {a['findings']}")
    print(
        f"  synthetic: {s['images']} 640×480 JPEGs in {s['seconds']} s ({s['images_per_s']} img/s, "
        f"{args.workers} workers); {s['planted_copies']} planted copies → {s['duplicates_found']} duplicate groups, "
        f"{s['label_conflicts_found']} label conflicts, {s['other_findings']} other findings"
    )
    print(f"  near-duplicate search alone, 100,000 hashes: {i['near_search_100k_seconds']} s")
    if args.json:
        args.json.write_text(
            json.dumps({"explain": {str(k): v for k, v in results.items()}, "inspect": i}, indent=2) + "\n"
        )
    return 0


def _print_explain(e: dict) -> None:
    print(f"  photos                                 {e['photos']}")
    print(f"  median box area (share of image)       {e['median_box_area']}")
    print(
        f"  heat inside box, predicted label       median {e['median_mass_predicted']}, "
        f"≥ 0.6 for {e['share_ge_0.6_predicted']:.0%}"
    )
    print(
        f"  … when the prediction is right ({e['correct']})    median {e['median_mass_when_correct']}, "
        f"≥ 0.6 for {e['share_ge_0.6_when_correct']:.0%}"
    )
    print(
        f"  heat inside box, the group's label     median {e['median_mass_group_label']}, "
        f"≥ 0.6 for {e['share_ge_0.6_group_label']:.0%}"
    )
    print(f"  seconds per image                      {e['seconds_per_image']}")


if __name__ == "__main__":
    sys.exit(main())
