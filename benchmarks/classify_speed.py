"""classify speed: the model-only ceiling, a tutorial-style baseline, and animalsort end to end.

Generates JPEG sets from the bundled example photos (300×225, 640×480 and 4032×3024 by
default), then, in one run, measures for each set:

  ceiling   model-only throughput on random uint8 input at the chosen precision
  baseline  the usual pipeline: ImageFolder, PIL Resize + CenterCrop, ToTensor, Normalize,
            fp32 forward, DataLoader with the same number of workers and the same weights
  animalsort  `animalsort classify` end to end in a fresh process, once per runtime (torch,
            onnx): the streaming rate (its own timing from the first batch on), the overall
            rate (wall clock, start-up included), the time to the first CSV row (Python,
            torch and model start-up included; the ONNX graph already cached) and the peak
            RSS (largest process)
  whole     whole processes on 1,000 640×480 JPEGs: the tutorial baseline, timm's
            ``inference.py`` loop (``timm_baseline``), and `animalsort classify` for each --view
  videos    `animalsort classify` on H.264 clips (default 6 × 20 s of 1280×720 at 30 fps, a slow
            pan over the example photos): sampled frames/s (one per second of clip by default,
            decoded in the DataLoader workers like photos) and seconds of video per second

    python benchmarks/classify_speed.py [--sizes 640x480] [--count 512] [--runtimes torch,onnx] [--json out.json]
    python benchmarks/classify_speed.py --sizes 640x480,4032x3024 --runtimes onnx --view centre,frame  # × centre
    python benchmarks/classify_speed.py --sizes '' --whole 0 --videos 1280x720 --runtimes onnx
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classify_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "photos"


# --------------------------------------------------------------------------- data


def _make_one(args: tuple[Path, tuple[int, int], int]) -> None:
    from PIL import Image

    folder, (w, h), i = args
    sources = sorted(EXAMPLES.glob("*.jpg"))
    src = Image.open(sources[i % len(sources)]).convert("RGB")
    # a different crop of each photo every round, scaled to cover the target size
    k = i // len(sources)
    sw, sh = src.size
    cw, ch = int(sw * (0.7 + 0.3 * ((k * 7) % 10) / 10)), int(sh * (0.7 + 0.3 * ((k * 3) % 10) / 10))
    x0, y0 = (k * 37) % max(1, sw - cw + 1), (k * 53) % max(1, sh - ch + 1)
    img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BICUBIC)
    img.save(folder / "images" / f"img_{i:06d}.jpg", quality=90)


def _make_clip(args: tuple[Path, tuple[int, int], int, float, int]) -> None:
    import av
    from PIL import Image

    path, (w, h), i, seconds, fps = args
    sources = sorted(EXAMPLES.glob("*.jpg"))
    src = Image.open(sources[i % len(sources)]).convert("RGB")
    scale = max(w * 1.3 / src.width, h * 1.3 / src.height)
    big = src.resize((round(src.width * scale), round(src.height * scale)), Image.Resampling.BICUBIC)
    frames = round(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for k in range(frames):  # a slow pan: every frame differs, as a camera's do
            x = round((big.width - w) * k / max(1, frames - 1))
            y = round((big.height - h) * (0.5 + 0.5 * ((k // fps) % 2)) / 2)
            frame = av.VideoFrame.from_image(big.crop((x, y, x + w, y + h)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _generate(folder: Path, sub: str, fn: object, jobs: list, chunksize: int = 1) -> Path:
    """Run ``fn`` over ``jobs`` in processes to fill ``folder/sub`` once (a marker says it is complete)."""
    from concurrent.futures import ProcessPoolExecutor

    marker = folder / ".complete"
    if not marker.exists():
        (folder / sub).mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor() as pool:
            list(pool.map(fn, jobs, chunksize=chunksize))
        marker.touch()
    return folder


def _make_dng(args: tuple) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from PIL import Image
    from rawfiles import make_dng  # the tests' DNG writer (tifffile, imagecodecs: the dev extras)

    path, (w, h), i, preview = args
    sources = sorted(EXAMPLES.glob("*.jpg"))
    photo = path.with_suffix(".src.jpg")
    Image.open(sources[i % len(sources)]).convert("RGB").resize((w, h), Image.Resampling.BICUBIC).save(photo)
    make_dng(path, photo, preview, turned=i % 2 == 1)
    photo.unlink()


def make_raw_set(root: Path, size: tuple[int, int], count: int, preview: str | None) -> Path:
    """``count`` CFA DNGs of ``size`` from the example photos, with a full-size JPEG preview or none;
    every other one stored turned (Orientation 6)."""
    w, h = size
    folder = root / f"dng-{w}x{h}-{count}-{preview or 'nopreview'}"
    jobs = [(folder / "raw" / f"IMG_{i:04d}.dng", size, i, preview) for i in range(count)]
    return _generate(folder, "raw", _make_dng, jobs)


def make_clips(root: Path, size: tuple[int, int], count: int, seconds: float, fps: int) -> Path:
    """``count`` H.264 clips of ``size`` and ``seconds``, each a pan over an example photo."""
    w, h = size
    folder = root / f"clips-{w}x{h}-{count}x{seconds:g}s-{fps}fps"
    jobs = [(folder / "clips" / f"clip_{i:03d}.mp4", size, i, seconds, fps) for i in range(count)]
    return _generate(folder, "clips", _make_clip, jobs)


def make_set(root: Path, size: tuple[int, int], count: int) -> Path:
    """``count`` JPEGs of ``size`` cut from the example photos (real content, real entropy)."""
    w, h = size
    folder = root / f"{w}x{h}-{count}"
    return _generate(folder, "images", _make_one, [(folder, size, i) for i in range(count)], chunksize=16)


# --------------------------------------------------------------------------- measurements


def ceiling(model_name: str | None, runtime: str, precision: str, batch: int, seconds: float) -> float:
    from animalsort.model import load

    loaded = load.load(
        model_name, labels="animals", device="auto", precision=precision, runtime=runtime, progress=False
    )
    size = loaded.preprocessing.input_size
    x = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8).to(loaded.device)
    sync = torch.cuda.synchronize if loaded.device.type == "cuda" else (lambda: None)
    for _ in range(3):
        loaded.infer(x)
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        loaded.infer(x)
        n += batch
    sync()
    return n / (time.perf_counter() - t0)


def decode_rate(folder: Path, model_name: str | None, seconds: float, view: str = "centre") -> float:
    """Photos decoded (and resized: the centre crop, or --view's first look) per second of one
    core's time: the batches classify's workers make, in this process, timed with process_time."""
    from animalsort.inference.batches import chunks, image_stream
    from animalsort.model import load

    pre = load.load(model_name, labels="animals", device="cpu", runtime="onnx", progress=False).preprocessing
    stream = image_stream(folder, pre, 32, view=view)
    groups = list(chunks(stream.paths(), 32, None))
    stream.make_batch(groups[0][:3])
    n, t0, k = 0, time.process_time(), 0
    while time.process_time() - t0 < seconds:
        group = groups[k % len(groups)]
        stream.make_batch(group)
        n += len(group)
        k += 1
    return n / (time.process_time() - t0)


def baseline(folder: Path, model_name: str | None, batch: int, workers: int) -> float:
    """The tutorial pipeline, with the same weights, timed like ours (model build included)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from animalsort.model import build, checkpoints, fetch, registry
    from animalsort.model.device import pick_device

    t0 = time.perf_counter()
    reg = registry.load_registry()
    spec = reg.get(model_name or reg.default)
    device = pick_device("auto")
    net = build.build_arch(spec.arch, spec.num_classes)
    build.load_weights(net, checkpoints.load_state(fetch.fetch(spec, progress=False)), spec.key_map)
    net.eval().to(device)
    pre = spec.preprocessing
    interp = (
        transforms.InterpolationMode.BICUBIC
        if pre.interpolation == "bicubic"
        else transforms.InterpolationMode.BILINEAR
    )
    tf = transforms.Compose(
        [
            transforms.Resize(pre.resize_size, interpolation=interp),
            transforms.CenterCrop(pre.input_size),
            transforms.ToTensor(),
            transforms.Normalize(pre.mean, pre.std),
        ]
    )
    ds = datasets.ImageFolder(str(folder), transform=tf)
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False)
    n = 0
    with torch.no_grad():
        for x, _ in loader:
            net(x.to(device)).softmax(dim=1).topk(3)[1].cpu()
            n += len(x)
    return n / (time.perf_counter() - t0)


def timm_baseline(folder: Path, model_name: str | None, batch: int, workers: int) -> float:
    """timm's ``inference.py`` loop with the same weights: timm's eval transform and loader over
    an image folder, the model channels-last in eval mode under ``no_grad``, softmax and top-k."""
    import timm.data

    from animalsort.model import build, checkpoints, fetch, registry

    t0 = time.perf_counter()
    reg = registry.load_registry()
    spec = reg.get(model_name or reg.default)
    net = build.build_arch(spec.arch, spec.num_classes)
    build.load_weights(net, checkpoints.load_state(fetch.fetch(spec, progress=False)), spec.key_map)
    net = net.eval().to(memory_format=torch.channels_last)
    pre = spec.preprocessing
    dataset = timm.data.ImageDataset(str(folder))
    loader = timm.data.create_loader(
        dataset,
        input_size=(3, pre.input_size, pre.input_size),
        batch_size=batch,
        use_prefetcher=False,
        interpolation=pre.interpolation,
        mean=pre.mean,
        std=pre.std,
        num_workers=workers,
        crop_pct=pre.crop_pct,
    )
    n = 0
    with torch.no_grad():
        for x, _ in loader:
            net(x.contiguous(memory_format=torch.channels_last)).softmax(dim=1).topk(3)[1].cpu()
            n += len(x)
    return n / (time.perf_counter() - t0)


def end_to_end(folder: Path, out: Path, args: argparse.Namespace, runtime: str, view: str = "frame") -> dict:
    """`animalsort classify` in a fresh process, with peak RSS and time to first row."""
    options = ["--batch-size", str(args.batch_size), "--precision", args.precision, "--runtime", runtime]
    options += ["--view", view]
    if args.workers is not None:
        options += ["--workers", str(args.workers)]
    if args.model:
        options += ["--model", args.model]
    if args.decode != "cpu":
        options += ["--decode", args.decode]
    run = classify_process.classify(folder, out, options)
    side = json.loads(out.with_name(out.name + ".json").read_text())
    streaming = side["seconds"] - side["startup_seconds"]
    return {
        # the streaming rate: start-up (imports, model load) is reported as time to first row
        "images_per_s": side["counts"]["found"] / streaming,
        "frames_per_s": side["counts"].get("frames", 0) / streaming,
        "streaming_s": streaming,
        "images_per_s_overall": side["counts"]["found"] / run.wall_s,
        "wall_s": run.wall_s,
        "first_row_s": run.first_row_s,
        "peak_rss_mb": run.peak_rss_mb,
        "precision": side["precision"],
        "runtime": side["runtime"],
        "device": side["device"],
    }


def whole_process(folder: Path, args: argparse.Namespace, workers: int) -> dict:
    """Wall clock of whole processes (interpreter start to exit) on the same folder: the
    tutorial baseline, timm's inference loop, and `animalsort classify` once per --view (and
    with --precision fast when asked), each in a fresh process."""
    here = str(Path(__file__).parent)
    common = [str(folder), str(args.batch_size), str(workers), args.model or ""]
    seconds: dict[str, float] = {}
    for name in ("baseline", "timm_baseline"):
        code = (
            f"import sys; sys.path.insert(0, sys.argv[1]); from classify_speed import {name}; "
            f"{name}(__import__('pathlib').Path(sys.argv[2]), sys.argv[5] or None, int(sys.argv[3]), int(sys.argv[4]))"
        )
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, here, *common], check=True)
        seconds[name] = time.perf_counter() - t0
    model = ["--model", args.model] if args.model else []
    runs = [(v, args.precision) for v in args.view.split(",")] + [(v, "fast") for v in args.whole_fast.split(",") if v]
    for view, precision in runs:
        with tempfile.TemporaryDirectory() as tmp:
            options = ["--batch-size", str(args.batch_size), "--view", view, "--precision", precision, *model]
            # A first run of a precision measures and caches once per machine (the bf16/int8 gates, the
            # runtime choice, OpenVINO's compiled blobs): warm it on a few images, untimed, so the
            # timed run is what every later run costs.
            warm = Path(tmp) / "warm"
            warm.mkdir()
            for jpeg in sorted(folder.rglob("*.jpg"))[:16]:
                (warm / jpeg.name).symlink_to(jpeg)
            cmd = [sys.executable, "-m", "animalsort", "-q", "classify"]
            subprocess.run([*cmd, str(warm), "-o", str(Path(tmp) / "w.csv"), *options], check=True)
            t0 = time.perf_counter()
            subprocess.run([*cmd, str(folder), "-o", str(Path(tmp) / "p.csv"), *options], check=True)
            seconds[f"animalsort --view {view} --precision {precision}"] = time.perf_counter() - t0
    return {
        k: {"seconds": v, "x_baseline": seconds["baseline"] / v, "x_timm": seconds["timm_baseline"] / v}
        for k, v in seconds.items()
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300x225,640x480,4032x3024")
    ap.add_argument("--count", type=int, default=512, help="images per set (12 MP sets: a quarter)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--runtimes", default="torch,onnx", help="runtimes to compare (classify --runtime)")
    ap.add_argument("--whole", type=int, default=1000, help="640x480 JPEGs for the whole-process run (0: skip)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", default=None, help="a number or auto; default: animalsort's own default (auto)")
    ap.add_argument("--decode", default="cpu", help="passed to classify --decode (cpu|gpu|auto)")
    ap.add_argument("--ceiling-seconds", type=float, default=8.0)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "animalsort-bench")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--view", default="centre,frame", help="classify --view, one or more (centre,frame,tiles)")
    ap.add_argument("--whole-fast", default="frame", help="views also run with --precision fast in the whole run")
    ap.add_argument(
        "--raw", default="3000x2000", help="DNG size for the RAW run, with and without preview ('' to skip)"
    )
    ap.add_argument("--raw-count", type=int, default=48)
    ap.add_argument("--videos", default="1280x720", help="clip size for the video run ('' to skip)")
    ap.add_argument("--video-clips", type=int, default=6)
    ap.add_argument("--video-seconds", type=float, default=20.0)
    ap.add_argument("--video-fps", type=int, default=30)
    args = ap.parse_args()

    from animalsort.machine import cpu_count, cpu_features, default_workers
    from animalsort.model.device import pick_device

    device = pick_device("auto")
    workers = int(args.workers) if args.workers not in (None, "auto") else default_workers()  # the baseline's
    runtimes = args.runtimes.split(",")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, device {device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {args.model or 'lite0'}, "
        f"precision {args.precision}, batch {args.batch_size}, workers {workers}, decode {args.decode}, "
        f"view {args.view}; CPU features: {', '.join(cpu_features()) or 'none of AVX2/AVX-512/VNNI/BF16/AMX'}"
    )
    roofs = {}
    for runtime in runtimes:
        ceiling(args.model, runtime, args.precision, args.batch_size, 0.5)  # makes the ONNX graph once
        roofs[runtime] = ceiling(args.model, runtime, args.precision, args.batch_size, args.ceiling_seconds)
        print(f"ceiling {runtime} (model only, random input): {roofs[runtime]:.1f} images/s")
    results = []
    print(
        f"{'set':<10} {'n':>5} {'runtime':>7} {'view':>6} {'baseline':>9} {'animalsort':>10} {'x base':>7} "
        f"{'x ceil':>7} {'overall':>8} {'1st row s':>9} {'peak RSS MB':>11} {'decode/core':>11} {'limit':>6} "
        f"{'x limit':>7} {'x centre':>8}"
    )
    cores = cpu_count()
    for spec in filter(None, args.sizes.split(",")):
        w, h = map(int, spec.lower().split("x"))
        count = args.count // 4 if w * h > 4_000_000 else args.count
        folder = make_set(args.data, (w, h), count)
        base = None if args.skip_baseline else baseline(folder, args.model, args.batch_size, workers)
        for runtime, view in ((r, v) for r in runtimes for v in args.view.split(",")):
            decode = decode_rate(folder, args.model, args.ceiling_seconds / 2, view)
            with tempfile.TemporaryDirectory() as tmp:
                e2e = end_to_end(folder, Path(tmp) / "preds.csv", args, runtime, view)
            same = [r for r in results if r["set"] == f"{w}x{h}" and r["runtime"] == runtime and r["view"] == "centre"]
            row = {
                "set": f"{w}x{h}",
                "count": count,
                "runtime": runtime,
                "view": view,
                "x_centre": e2e["images_per_s"] / same[0]["animalsort_images_per_s"] if same else None,
                "baseline_images_per_s": base,
                "ceiling_images_per_s": roofs[runtime],
                **{f"animalsort_{k}": v for k, v in e2e.items()},
                "x_baseline": e2e["images_per_s"] / base if base else None,
                "x_ceiling": e2e["images_per_s"] / roofs[runtime],
                "decode_images_per_s_per_core": decode,
            }
            # what the cores can do when decoding and the model share them: cores / (decode + model core time)
            model_core = cores / roofs[runtime]
            row["shared_core_limit"] = cores / (1 / decode + model_core)
            row["x_limit"] = e2e["images_per_s"] / row["shared_core_limit"]
            results.append(row)
            b = f"{base:9.1f}" if base else f"{'-':>9}"
            xb = f"{row['x_baseline']:7.2f}" if base else f"{'-':>7}"
            xc = f"{row['x_centre']:8.2f}" if row["x_centre"] is not None else f"{'-':>8}"
            print(
                f"{row['set']:<10} {count:>5} {runtime:>7} {view:>6} {b} {e2e['images_per_s']:>10.1f} {xb} "
                f"{row['x_ceiling']:>7.2f} {e2e['images_per_s_overall']:>8.1f} {e2e['first_row_s']:>9.1f} "
                f"{e2e['peak_rss_mb']:>11.0f} {decode:>11.0f} {row['shared_core_limit']:>6.0f} "
                f"{row['x_limit']:>7.2f} {xc}"
            )
    raw_rows = []
    if args.raw and args.raw_count:
        w, h = map(int, args.raw.lower().split("x"))
        for preview in ("jpeg", None):
            folder = make_raw_set(args.data, (w, h), args.raw_count, preview)
            with tempfile.TemporaryDirectory() as tmp:
                e2e = end_to_end(folder, Path(tmp) / "preds.csv", args, runtimes[-1], args.view.split(",")[-1])
            what = "DNG, JPEG preview" if preview else "DNG, no preview (half-size demosaic)"
            raw_rows.append({"set": f"{w}x{h} {what}", "count": args.raw_count, **e2e})
            print(
                f"RAW {w}x{h} {what}: {e2e['images_per_s']:.1f} images/s streaming, "
                f"{e2e['images_per_s_overall']:.1f} overall, peak RSS {e2e['peak_rss_mb']:.0f} MB ({runtimes[-1]})"
            )
    whole = None
    if args.whole:
        folder = make_set(args.data, (640, 480), args.whole)
        whole = whole_process(folder, args, workers)
        print(f"whole processes, {args.whole} 640x480 JPEGs:")
        print("| run | seconds | × tutorial | × timm inference.py |\n|---|---|---|---|")
        for name, r in whole.items():
            print(f"| {name} | {r['seconds']:.1f} | {r['x_baseline']:.2f} | {r['x_timm']:.2f} |")
    videos = []
    if args.videos:
        w, h = map(int, args.videos.lower().split("x"))
        folder = make_clips(args.data, (w, h), args.video_clips, args.video_seconds, args.video_fps)
        cols = f"{'frames/s':>9} {'clips/s':>8} {'video s/s':>9} {'peak RSS MB':>11}"
        print(f"{'clips':<10} {'n':>5} {'runtime':>7} {cols}")
        for runtime in runtimes:
            with tempfile.TemporaryDirectory() as tmp:
                e2e = end_to_end(folder, Path(tmp) / "preds.csv", args, runtime, args.view.split(",")[-1])
            row = {
                "set": f"{w}x{h} H.264 {args.video_seconds:g} s at {args.video_fps} fps",
                "clips": args.video_clips,
                "runtime": runtime,
                "frames_per_s": e2e["frames_per_s"],
                "clips_per_s": e2e["images_per_s"],
                "video_seconds_per_s": args.video_clips * args.video_seconds / e2e["streaming_s"],
                "peak_rss_mb": e2e["peak_rss_mb"],
            }
            videos.append(row)
            print(
                f"{args.videos:<10} {args.video_clips:>5} {runtime:>7} {row['frames_per_s']:>9.1f} "
                f"{row['clips_per_s']:>8.2f} {row['video_seconds_per_s']:>9.1f} {row['peak_rss_mb']:>11.0f}"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "device": str(device),
                    "precision": args.precision,
                    "workers": workers,
                    "ceiling_images_per_s": roofs,
                    "sets": results,
                    "whole_process": whole,
                    "videos": videos,
                    "raw": raw_rows,
                    "cpu_features": cpu_features(),
                    "view": args.view,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
