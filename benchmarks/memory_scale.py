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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


def tiny_checkpoint(path: Path) -> Path:
    import torch

    from animalsort.model.build import build_arch
    from animalsort.model.checkpoints import save_checkpoint
    from animalsort.sources.preprocess import Preprocessing

    torch.manual_seed(0)
    labels = [f"class_{i}" for i in range(10)]
    net = build_arch("timm:test_efficientnet", len(labels))
    return save_checkpoint(
        path,
        net,
        arch="timm:test_efficientnet",
        labels=labels,
        preprocessing=Preprocessing(input_size=32, crop_pct=1.0),
        name="tiny",
    )


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
    cmd = [
        sys.executable,
        "-m",
        "animalsort",
        "-q",
        "classify",
        str(folder),
        "--out",
        str(out),
        "--weights",
        str(weights),
        "--batch-size",
        "256",
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    rows = sum(1 for _ in open(out, encoding="utf-8")) - 1
    return {"files": rows, "seconds": time.perf_counter() - t0, "peak_rss_mb": int(r.stdout.split()[-1]) / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,100000")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-bench")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    weights = tiny_checkpoint(args.data / "tiny.pt")
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
