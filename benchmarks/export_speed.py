"""`animalsort export` time and peak memory (#30) for large predictions CSVs, every format.

Each row's file is a real JPEG with EXIF time, offset and GPS (hard links of a few photos, so
100,000 files cost little disk; every export still opens and reads each one's metadata), in
bursts of 5 across 10 camera folders. Each export runs in its own process, which reports its
peak RSS; two sizes show whether memory stays flat as rows grow.

    python benchmarks/export_speed.py [--rows 10000,100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from animalsort.machine import cpu_count, cpu_features
from animalsort.taxonomy import animal_labels

LABELS = ["fox", "cat", "bird", "no_animal", "dog"]
CHILD = """
import resource, sys, time
from pathlib import Path
from animalsort.exports.predictions_export import ExportOptions, export_predictions
start = time.perf_counter()
fmt, preds, out = sys.argv[1:4]
res = export_predictions(Path(preds), Path(out), ExportOptions(fmt, deployment_depth=1, timezone="UTC"))
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, res.written)
"""


def make(folder: Path, rows: int) -> Path:
    src = folder / "src"
    seeds = []
    for i in range(5):
        p = folder / f"seed{i}.jpg"
        exif = Image.Exif()
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003], ifd[0x9011] = f"2024:05:06 07:08:{i:02d}", "+02:00"
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (52.0, 6.0, 0.0), "E", (4.0, 30.0, 0.0)
        Image.new("RGB", (640, 480), (40 * i, 90, 120)).save(p, quality=85, exif=exif)
        seeds.append(p)
    preds = folder / "preds.csv"
    with open(preds, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["path", "label", "confidence", "label_2", "confidence_2", "status", "error", "frame_s"]
            + ["sequence", "sequence_label", "sequence_confidence"]
        )
        for i in range(rows):
            rel = f"cam{i % 10:02d}/{i:07d}.jpg"
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(seeds[i % 5], src / rel)
            seq = f"cam{i % 10:02d}/s{i // 50}"
            label = LABELS[i % 5]
            w.writerow(
                [rel, label, "0.8100", "dog" if label != "dog" else "cat", "0.1000", "ok", "", "", seq, label, "0.8"]
            )
    meta = {"src": str(src), "model": "lite0", "weights_sha256": "0" * 64, "label_names": list(animal_labels().labels)}
    (folder / "preds.csv.json").write_text(json.dumps(meta))
    return preds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="10000,100000")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"CPU: {platform.machine()}, {cpu_count()} cores, features: {cpu_features()}")
    results = []
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            preds = make(Path(tmp), rows)
            print(f"{rows} rows made in {time.perf_counter() - t0:.0f} s")
            for fmt, out in (("megadetector", "md.json"), ("camtrap-dp", "package"), ("coco", "coco.json")):
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, fmt, str(preds), str(Path(tmp) / out)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds, rss, written = done.stdout.split()
                results.append(
                    {
                        "rows": rows,
                        "format": fmt,
                        "seconds": float(seconds),
                        "rows_per_s": rows / float(seconds),
                        "peak_rss_mb": float(rss),
                        "written": int(written),
                    }
                )
    print(f"{'rows':>8} {'format':>13} {'seconds':>8} {'rows/s':>8} {'peak RSS MB':>12}")
    for r in results:
        print(
            f"{r['rows']:>8} {r['format']:>13} {r['seconds']:>8.1f} {r['rows_per_s']:>8.0f} {r['peak_rss_mb']:>12.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"cpu_features": cpu_features(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
