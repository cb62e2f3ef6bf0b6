"""report at scale, in a real browser: a 10,000-row predictions CSV → HTML → headless Chromium.

Generates N small photos and a CSV of R rows pointing at them (labels, confidences and a
few failed rows), then times: building the page, its size, and Chromium loading it until the
first tab is rendered (DOM dumped after scripts ran); counts tabs and rendered cards, and
saves a screenshot. With --csv, uses your own classify CSV instead.

    python benchmarks/report_browser.py [--rows 10000] [--screenshot report.png] [--json out.json]

Needs Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import browser  # noqa: E402

from animalsort.pages import report  # noqa: E402


def synthetic(root: Path, rows: int, photos: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    src = root / "photos"
    src.mkdir()
    for i in range(photos):
        small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC).save(src / f"{i:04d}.jpg", quality=85)
    labels = ["cat", "dog", "bird", "cow", "sheep", "horse", "deer", "fox", "no_animal"]
    out = root / "preds.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["path", "label", "confidence", "label_2", "confidence_2", "label_3", "confidence_3", "status", "error"]
        )
        for i in range(rows):
            if i % 250 == 3:
                w.writerow([f"{i % photos:04d}.jpg", "", "", "", "", "", "", "error", "truncated image"])
                continue
            c = float(rng.uniform(0.2, 1.0))
            w.writerow(
                [
                    f"{i % photos:04d}.jpg",
                    labels[i % len(labels)],
                    f"{c:.4f}",
                    "no_animal",
                    f"{(1 - c) / 2:.4f}",
                    "bird",
                    "0.0100",
                    "ok",
                    "",
                ]
            )
    return src


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--photos", type=int, default=200, help="distinct photos the rows point at")
    ap.add_argument("--csv", type=Path, default=None, help="a classify CSV of yours instead of generated rows")
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    chromium = browser.find()
    if chromium is None:
        print("Chromium not found (apt-get install chromium, or set ANIMALSORT_CHROMIUM)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.csv is None:
            src = synthetic(root, args.rows, args.photos)
            csv_path = root / "preds.csv"
        else:
            src, csv_path = None, args.csv
        page = root / "report.html"
        t = time.perf_counter()
        summary = report.build(csv_path, page, src=src)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        dom = browser.dump_dom(chromium, page)
        load_s = time.perf_counter() - t
        tabs = re.findall(r'<button data-tab="[^"]+" data-count="(\d+)"', dom)
        gallery = dom.split('id="gallery"', 1)[1].split('<script type="application/json"', 1)[0]
        cards, images = gallery.count('class="card"'), gallery.count("<img")
        if args.screenshot:
            browser.screenshot(chromium, page, args.screenshot.absolute(), "#label:dog")
        result = {
            "rows": summary.rows,
            "failed": summary.failed,
            "uncertain": summary.uncertain,
            "labels": len(summary.labels),
            "build_seconds": round(build_s, 3),
            "html_bytes": page.stat().st_size,
            "chromium_load_seconds": round(load_s, 2),
            "tabs": len(tabs),
            "cards_rendered_first": cards,
            "images_in_dom_first": images,
        }
    print(f"{'rows':<30} {result['rows']}")
    print(f"{'labels / tabs':<30} {result['labels']} / {result['tabs']}")
    print(f"{'failed / uncertain':<30} {result['failed']} / {result['uncertain']}")
    print(f"{'build the page':<30} {result['build_seconds']} s")
    print(f"{'page size':<30} {result['html_bytes'] / 1e6:.2f} MB")
    print(f"{'Chromium load + first render':<30} {result['chromium_load_seconds']} s (process start included)")
    print(f"{'cards rendered at first':<30} {result['cards_rendered_first']} (chunk {report.CHUNK}; more on scroll)")
    if args.screenshot:
        print(f"{'screenshot':<30} {args.screenshot}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
