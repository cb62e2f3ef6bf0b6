"""`animalsort tag` speed (#29): photos tagged per second, with sidecars and embedded, the
first run and a second run (which finds every file up to date), and undo.

Photos are 12 MP JPEGs (4000×3000) by default — the size a camera writes; tagging reads and
rewrites whole files when embedding, so the size matters — made once from the real photos of
``../shared/data`` (or noise when absent), with a predictions CSV that labels them all.

    python benchmarks/tag_speed.py [--photos 1000] [--size 4000x3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from animalsort import _api
from animalsort.machine import cpu_count, cpu_features
from animalsort.tagging.keywords import Wording
from animalsort.tagging.tag_rows import TagOptions

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LABELS = ["cat", "dog", "bird", "fox", "no_animal"]


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> Path:
    """``n`` JPEGs of ``size`` (copies of a handful of real photos scaled up, each re-saved so
    they differ), and a predictions CSV + sidecar for them."""
    sources = sorted(DATA.rglob("*.jpg"))[:8] if DATA.is_dir() else []
    rng = np.random.default_rng(0)
    bases = [Image.open(p).convert("RGB").resize(size) for p in sources] or [
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    ]
    folder.mkdir(parents=True)
    first = folder / "000000.jpg"
    bases[0].save(first, quality=90)
    rows = []
    for i in range(n):
        name = f"{i:06d}.jpg"
        if i < len(bases):
            bases[i].save(folder / name, quality=90)
        else:  # a copy of one of the first few: the same bytes cost the same to tag
            shutil.copy(folder / f"{i % len(bases):06d}.jpg", folder / name)
        rows.append([name, LABELS[i % len(LABELS)], "0.9000", "ok", "", ""])
    preds = folder.parent / "preds.csv"
    with open(preds, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "confidence", "status", "error", "frame_s"])
        w.writerows(rows)
    meta = {"src": str(folder), "model": "lite0", "weights_sha256": "0" * 64}
    (preds.parent / "preds.csv.json").write_text(json.dumps(meta))
    return preds


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    print(f"CPU: {platform.processor() or platform.machine()}, {cpu_count()} cores, features: {cpu_features()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        preds = make_photos(Path(tmp) / "photos", args.photos, (w, h))
        mb = sum(p.stat().st_size for p in (Path(tmp) / "photos").glob("*.jpg")) / 1e6
        print(f"{args.photos} JPEGs, {w}×{h}, {mb:.0f} MB; {LABELS} in turn (no_animal rows get no keyword)")
        for mode in ("sidecar", "embed"):
            how = TagOptions(Wording(), embed=mode == "embed")
            journal = None
            for run in ("first", "again"):
                s, (res, _, _) = timed(lambda: _api.tag_folder(preds, how))  # noqa: B023
                journal = journal or res.journal
                results.append({"mode": mode, "run": run, "seconds": s, "written": res.tagged})
            s, back = timed(lambda: _api.undo(journal))  # noqa: B023
            results.append({"mode": mode, "run": "undo", "seconds": s, "written": back.restored + back.removed})
        for r in results:
            r["photos_per_s"] = args.photos / r["seconds"]
    print(f"{'mode':>8} {'run':>6} {'seconds':>8} {'photos/s':>9} {'written':>8}")
    for r in results:
        print(f"{r['mode']:>8} {r['run']:>6} {r['seconds']:>8.2f} {r['photos_per_s']:>9.0f} {r['written']:>8}")
    if args.json:
        args.json.write_text(json.dumps({"cpu_features": cpu_features(), "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
