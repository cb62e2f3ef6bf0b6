"""Whole-frame benchmark (#27): how each --view mode finds animals off-centre and small, keeps
empty frames empty, and what it costs.

Frames are made the way camera traps see animals (``frames.py``): the animals of
``../shared/data/animals-dev`` (giraffe excluded: no ImageNet-1k class) pasted at random
positions, at 3–40% of the frame's area, into real empty scenes at 4:3 and 16:9, 1–12 MP, plus
empty scenes and close-ups. Every mode classifies the same frames with the real pipeline
(``classify_folder``), then animals-dev and people-dev as they are.

    apt-get install mate-backgrounds plasma-workspace-wallpapers    # the scenes (once)
    python benchmarks/whole_frame.py [--modes centre,frame,tiles] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import frames  # noqa: E402
from accuracy import GROUP_LABELS, evaluate  # noqa: E402

from animalsort.formats.predictions import read_predictions, read_sidecar  # noqa: E402
from animalsort.inference.options import ClassifyOptions  # noqa: E402
from animalsort.inference.pipeline import classify_folder  # noqa: E402
from animalsort.machine import cpu_count, cpu_features  # noqa: E402


def score(folder: Path, preds: Path) -> dict:
    """Accuracy by animal size and by position, and the share of empty frames called an animal."""
    truth = {r["path"]: r for r in csv.DictReader(open(folder / "frames.csv"))}
    hit: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for row in read_predictions(preds):
        t = truth[row["path"]]
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
    return {k: {"share": hit[k] / seen[k], "of": seen[k]} for k in sorted(seen)}


def run_mode(mode: str, folder: Path, data: Path, runtime: str) -> dict:
    options = ClassifyOptions(view=mode, runtime=runtime)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames.csv"
        start = time.perf_counter()
        summary = classify_folder(folder, out, options, progress=False)
        seconds = time.perf_counter() - start
        result = score(folder, out)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--frames", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-whole-frame")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="centre,frame,tiles")
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if missing := frames.missing_scenes():
        print(f"missing scenes ({len(missing)}): apt-get install mate-backgrounds plasma-workspace-wallpapers")
        return 2
    if not (args.frames / "frames.csv").is_file():
        print(f"building frames in {args.frames} …", flush=True)
        frames.build(args.data, args.frames, seed=args.seed)
    features = ", ".join(cpu_features()) or "none of " + ", ".join(("avx2", "avx512f", "vnni", "bf16", "amx"))
    print(f"machine: {platform.machine()}, {cpu_count()} cores, CPU features: {features}")
    results = [run_mode(m, args.frames, args.data, args.runtime) for m in args.modes.split(",")]
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
        f"frames: {counts['animals']['of']} with an animal, {counts['empty']['of']} empty; "
        + ", ".join(f"{k} n={counts[k]['of']}" for k in keys)
    )
    if args.json:
        args.json.write_text(json.dumps({"features": cpu_features(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
