"""Local engine vs Ray engine for classify on this machine: what Ray's overhead costs.

Both classify the same generated 640×480 JPEG set (see classify_speed.py) with the same
model, batch size and decoding; the Ray engine starts a local one-node cluster. Reported:
wall-clock seconds (start-up included) and the streaming rate (images / time after start-up).

    python benchmarks/engine_overhead.py [--count 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify_speed import make_set  # noqa: E402

from animalsort.inference.options import ClassifyOptions
from animalsort.inference.pipeline import classify_folder  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-bench")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    folder = make_set(args.data, (640, 480), args.count)
    results = {}
    for engine in ("local", "ray"):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = classify_folder(
                folder, Path(tmp) / "p.csv", ClassifyOptions(engine=engine, batch_size=args.batch_size), progress=False
            )
            wall = time.perf_counter() - t0
            csv_bytes = (Path(tmp) / "p.csv").read_bytes()
        results[engine] = {
            "wall_s": wall,
            "images": s.found,
            "startup_s": s.startup_seconds,
            "streaming_images_per_s": s.found / (s.seconds - s.startup_seconds),
            "overall_images_per_s": s.found / wall,
            "csv": csv_bytes,
        }
    same = results["local"].pop("csv") == results["ray"].pop("csv")
    print(f"{args.count} JPEGs 640x480, lite0 fp32, batch {args.batch_size}, this machine's CPUs")
    print(f"{'engine':<7} {'wall s':>7} {'img/s overall':>13} {'img/s streaming':>15}")
    for engine, r in results.items():
        print(
            f"{engine:<7} {r['wall_s']:>7.1f} {r['overall_images_per_s']:>13.1f} {r['streaming_images_per_s']:>15.1f}"
        )
    ratio = results["ray"]["overall_images_per_s"] / results["local"]["overall_images_per_s"]
    print(f"ray / local (overall): {ratio:.2f}; CSVs identical: {same}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "csv_identical": same}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
