"""Whole-frame benchmark (#27, #36): how each --view mode finds animals off-centre and small,
keeps empty frames empty, where its box is, and what it costs.

Frames are made the way camera traps see animals (``frames.py``): the animals of
``../shared/data/animals-dev`` (giraffe excluded: no ImageNet-1k class) pasted at random
positions, at 3–40% of the frame's area, into real empty scenes at 4:3 and 16:9, 1–12 MP, plus
empty scenes and close-ups. Every mode classifies the same frames with the real pipeline
(``classify_folder``), then animals-dev and people-dev as they are.

The whole-frame look's constants were fitted on the *fit* half of these frames
(``fit_look.py``; ``frames.half``): the table reports the *test* half (``--half all`` for every
frame). The box: for each animal found, the IoU of the row's box with the pasted animal's true
box (the median and the share ≥ 0.5, at each size).

    apt-get install mate-backgrounds plasma-workspace-wallpapers    # the scenes (once)
    python benchmarks/whole_frame.py [--modes centre,frame,tiles] [--half test] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import frames  # noqa: E402
from accuracy import GROUP_LABELS, evaluate  # noqa: E402

from animalsort.formats.predictions import box_of, read_predictions, read_sidecar  # noqa: E402
from animalsort.inference.options import ClassifyOptions  # noqa: E402
from animalsort.inference.pipeline import classify_folder  # noqa: E402
from animalsort.machine import cpu_count, cpu_features  # noqa: E402


def score(folder: Path, preds: Path, half: str = "test") -> dict:
    """Accuracy by animal size and by position, the share of empty frames called an animal, and
    the boxes' IoU with the truth for the animals found (``iou size N%``: every IoU, sorted)."""
    rows = list(csv.DictReader(open(folder / "frames.csv")))
    animals = sorted({r["source"] for r in rows if r["group"]})
    truth = {r["path"]: r for r in rows if half == "all" or frames.half(r, animals) == half}
    hit: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    ious: dict[str, list[float]] = {}
    for row in read_predictions(preds):
        t = truth.get(row["path"])
        if t is None:
            continue
        if not t["group"]:
            seen["empty"] += 1
            hit["empty"] += row["label"] != "no_animal"
            continue
        good = row["label"] in GROUP_LABELS[t["group"]]
        for key in (f"size {int(t['size_pct']):>2}%", t["where"], "animals"):
            seen[key] += 1
            hit[key] += good
        seen["animals said no_animal"] += 1
        hit["animals said no_animal"] += row["label"] == "no_animal"
        box = box_of(row)
        if good and box is not None:
            true_box = tuple(float(v) for v in t["box"].split(","))
            ious.setdefault(f"iou size {int(t['size_pct']):>2}%", []).append(round(iou(box, true_box), 3))
    out: dict = {k: {"share": hit[k] / seen[k], "of": seen[k]} for k in sorted(seen)}
    out.update({k: sorted(v) for k, v in sorted(ious.items())})
    return out


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def run_mode(mode: str, folder: Path, data: Path, runtime: str, half: str) -> dict:
    options = ClassifyOptions(view=mode, runtime=runtime)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames.csv"
        start = time.perf_counter()
        summary = classify_folder(folder, out, options, progress=False)
        seconds = time.perf_counter() - start
        result = score(folder, out, half)
        sidecar = read_sidecar(out)
    natural = evaluate(data, options)
    return {
        "mode": mode,
        "runtime": f"{summary.runtime} {summary.precision}",
        "frames": summary.ok,
        "seconds": round(seconds, 1),
        "frames_per_s": round(summary.ok / seconds, 2),
        "windows_per_frame": sidecar.get("windows_per_file"),
        "synthetic": result,
        "animals_dev_top1": round(natural["animals_top1"], 3),
        "people_no_animal": f"{natural['people_no_animal']}/{natural['people_total']}",
    }


def print_boxes(results: list[dict]) -> None:
    """Where the box is: per mode and size, the animals found, the median IoU of their boxes with
    the truth and the share with IoU ≥ 0.5 (a mode without boxes prints nothing)."""
    print("\n| mode | size | found with a box | median IoU | IoU ≥ 0.5 |")
    print("|---|---|---|---|---|")
    for r in results:
        for key, values in r["synthetic"].items():
            if key.startswith("iou") and values:
                share = sum(v >= 0.5 for v in values) / len(values)
                print(f"| {r['mode']} | {key[9:]} | {len(values)} | {statistics.median(values):.2f} | {share:.2f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    frames.add_arguments(ap)
    ap.add_argument("--modes", default="centre,frame,tiles")
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--half", default="test", choices=("test", "fit", "all"), help="the frames reported")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not frames.ready(args):
        return 2
    features = ", ".join(cpu_features()) or "none of " + ", ".join(("avx2", "avx512f", "vnni", "bf16", "amx"))
    print(f"machine: {platform.machine()}, {cpu_count()} cores, CPU features: {features}")
    results = [run_mode(m, args.frames, args.data, args.runtime, args.half) for m in args.modes.split(",")]
    keys = [k for k in results[0]["synthetic"] if k.startswith("size")] + ["centre", "off-centre", "animals"]
    head = ["mode", "runtime", "windows", "frames/s"] + keys + ["empty called animal", "animals-dev", "people"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        s = r["synthetic"]
        cells = [r["mode"], r["runtime"], f"{r['windows_per_frame']}", f"{r['frames_per_s']}"]
        cells += [f"{s[k]['share']:.2f}" for k in keys] + [f"{s['empty']['share']:.2f}"]
        cells += [f"{r['animals_dev_top1']:.3f}", r["people_no_animal"]]
        print("| " + " | ".join(cells) + " |")
    counts = results[0]["synthetic"]
    print(
        f"frames ({args.half} half): {counts['animals']['of']} with an animal, {counts['empty']['of']} empty; "
        + ", ".join(f"{k} n={counts[k]['of']}" for k in keys)
    )
    print_boxes(results)
    if args.json:
        args.json.write_text(json.dumps({"features": cpu_features(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
