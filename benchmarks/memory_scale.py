"""Memory does not grow with folder size: peak RSS classifying 1,000 vs 100,000 small files.

Uses a tiny random-initialised model (timm test_efficientnet at 32 px, saved as an animalsort
checkpoint) so that the pipeline, not the network, is what runs: discovery, decoding
workers, batching, CSV writing. Peak RSS is the largest process's (main or worker), read from
the kernel's accounting of a fresh `animalsort classify` process.

    python benchmarks/memory_scale.py [--counts 1000,100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
import classify_process  # noqa: E402
from tiny_model import save_tiny  # noqa: E402  # the tests' tiny_weights model, with 10 classes


def make_files(root: Path, n: int, per_dir: int = 1000) -> Path:
    from PIL import Image

    folder = root / f"tiny-{n}"
    if (folder / ".complete").exists():
        return folder
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (120, 80, 40)).save(buf, format="JPEG", quality=80)
    data = buf.getvalue()
    for i in range(n):
        d = folder / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"img_{i:07d}.jpg").write_bytes(data)
    (folder / ".complete").touch()
    return folder


def measure(folder: Path, weights: Path, out: Path, workers: int | None) -> dict:
    options = ["--weights", str(weights), "--batch-size", "256"]
    if workers is not None:
        options += ["--workers", str(workers)]
    run = classify_process.classify(folder, out, options)
    rows = sum(1 for _ in open(out, encoding="utf-8")) - 1
    return {"files": rows, "seconds": run.wall_s, "peak_rss_mb": run.peak_rss_mb}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,100000")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-bench")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    weights = save_tiny(args.data / "tiny.pt", [f"class_{i}" for i in range(10)])
    results = []
    print(f"{'files':>8} {'rows':>8} {'seconds':>8} {'images/s':>9} {'peak RSS MB':>11} {'x first':>8}")
    for n in map(int, args.counts.split(",")):
        folder = make_files(args.data, n)
        with tempfile.TemporaryDirectory() as tmp:
            res = measure(folder, weights, Path(tmp) / "preds.csv", args.workers)
        res["count"] = n
        results.append(res)
        ratio = res["peak_rss_mb"] / results[0]["peak_rss_mb"]
        print(
            f"{n:>8} {res['files']:>8} {res['seconds']:>8.1f} {res['files'] / res['seconds']:>9.0f} "
            f"{res['peak_rss_mb']:>11.0f} {ratio:>8.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
