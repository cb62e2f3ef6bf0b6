"""``classify``: the one core entry point for a folder — images → batches → the model → rows.

The rows and the file they go to are the predictions contract (``predictions.py``); this
module only decides what goes in them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import NoImagesError, UsageError
from animalsort.images import Inventory, Listing, default_workers, nothing_to_classify
from animalsort.predictions import CsvWriter, error_row, ok_row, prepare_output, sidecar_path, write_sidecar
from animalsort.scoring import Scored, score_batch
from animalsort.sources import describe, discard, source_for, src_of, whole
from animalsort.video import DEFAULT_EVERY, DEFAULT_MAX_FRAMES, Sampling

if TYPE_CHECKING:
    from animalsort.data import Batch
    from animalsort.model import LoadedModel

MAX_REPORTED_ERRORS = 20  # the summary names this many failures; the CSV has them all


@dataclass
class ClassifyOptions:
    model: str | None = None
    weights: Path | None = None
    labels: str = "animals"
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"  # auto | torch | onnx (auto: ONNX Runtime on the CPU, torch on a GPU)
    batch_size: int = 32
    workers: int | None = None
    top_k: int = 3
    resume: bool = False
    draft: bool = True
    decode: str = "auto"  # where JPEGs are decoded: auto | cpu | gpu
    engine: str = "local"  # local | ray
    ray_address: str | None = None  # None: start a local one-node Ray cluster
    num_gpus_per_actor: float = 0.0
    ray_actors: int = 1  # inference actors in the Ray engine's pool (spread over the nodes)
    videos: bool = True  # classify video clips (frames sampled every video_every seconds)
    video_every: float = DEFAULT_EVERY
    video_max_frames: int = DEFAULT_MAX_FRAMES
    video_rows: str = "videos"  # videos: one row per clip; frames: one per sampled frame
    sequences: float | None = None  # group bursts: photos within this many seconds (sequences.py)
    files_from: str | None = None  # a manifest of paths instead of folders ("-": stdin)
    root: Path | None = None  # what the manifest's relative paths are relative to
    shard: str | None = None  # "I/N": a deterministic 1/N of the listing (sources.py)

    def sampling(self) -> Sampling | None:
        return Sampling(self.video_every, self.video_max_frames) if self.videos else None


@dataclass
class Summary:
    found: int = 0
    ok: int = 0  # files (a clip counts once, whatever its rows)
    failed: int = 0
    videos: int = 0  # clips classified (of ``ok``)
    frames: int = 0  # their sampled frames
    resumed: int = 0  # rows kept from an earlier run (--resume)
    seconds: float = 0.0
    startup_seconds: float = 0.0  # model resolution and loading, before the first batch
    out: str | None = None
    model: str = ""
    device: str = ""
    precision: str = ""
    runtime: str = ""
    runtime_note: str = ""  # why the runtime asked for was not used, when it was not
    decode: str = "cpu"
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: Inventory | None = None  # the files that are not images (by extension)
    sequences: dict[str, Any] | None = None  # with --sequences: what sequences.record says

    @property
    def images_per_s(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds > 0 else 0.0


def classify(
    sources: Path | Sequence[Path],
    out: Path | None,
    options: ClassifyOptions | None = None,
    *,
    progress: bool = True,
    exclude: Iterable[Path] = (),
) -> Summary:
    """Classify every image under ``sources`` (folders, and image files named one by one);
    write one CSV row per file to ``out`` (None: stdout), paths relative to their common
    parent. ``options`` may name a manifest (``files_from``, ``root``) instead, and a
    ``shard``; a source may be an object-storage URI (``sources.py``)."""
    opts = options or ClassifyOptions()
    start = time.perf_counter()
    check_options(opts)
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    skip = [*exclude] + ([out, sidecar_path(out)] if out is not None else [])
    listing = source_for(
        paths, files_from=opts.files_from, root=opts.root, shard=opts.shard, exclude=skip, videos=opts.videos
    )
    try:
        return _classify(listing, out, opts, start, progress)
    finally:
        discard(listing)


def check_options(opts: ClassifyOptions) -> None:
    """Combinations that cannot give the right answer, refused before anything runs."""
    if opts.shard is not None and opts.sequences is not None:
        raise UsageError(
            "--sequences with --shard: a burst can fall into two shards; classify the shards without "
            "--sequences, then `animalsort merge SHARDS… --sequences`"
        )


def _classify(listing: Any, out: Path | None, opts: ClassifyOptions, start: float, progress: bool) -> Summary:
    from animalsort import model

    listed = whole(listing)  # an empty shard still writes its CSV
    if next(iter(listed), None) is None:
        if isinstance(listed, Listing):
            raise NoImagesError(nothing_to_classify(listed, listed.inventory()))
        raise NoImagesError(f"nothing to classify: {describe(listed)} lists no files")
    if out is not None:
        prepare_output(out)
    with ThreadPoolExecutor(1) as pool:  # count the files while the model loads (joined before any fork)
        counting = pool.submit(listing.inventory)
        loaded = model.load(
            opts.model,
            opts.weights,
            labels=opts.labels,
            device=opts.device,
            precision=opts.precision,
            runtime=opts.runtime,
            progress=progress,
        )
        inventory = counting.result()
    top_k = min(opts.top_k, len(loaded.labels.labels))
    summary = Summary(
        out=str(out) if out else None,
        model=loaded.name,
        device=str(loaded.device),
        precision=loaded.precision,
        runtime=loaded.runtime,
        runtime_note=loaded.note,
        skipped=inventory,
    )
    with contextlib.ExitStack() as stack:
        target = out
        if out is None and opts.sequences is not None:  # sequences need the whole CSV: stdout gets it at the end
            target = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="animalsort-"))) / "preds.csv"
        with CsvWriter(target, top_k, resume=opts.resume) as writer:
            summary.resumed = len(writer.done())
            scored = _engine(listing, loaded, opts, top_k, writer.done(), summary, progress)
            summary.startup_seconds = time.perf_counter() - start
            total = inventory.images + inventory.videos - summary.resumed
            _write_rows(scored, writer, loaded.labels.labels, top_k, summary, total, progress)
        if target is not None and opts.sequences is not None:
            from animalsort import sequences

            summary.sequences = sequences.record(sequences.annotate(target, Path(listing.root), opts.sequences))
            if out is None:
                with open(target, newline="", encoding="utf-8", errors="surrogateescape") as f:
                    shutil.copyfileobj(f, sys.stdout)
                sys.stdout.flush()
    summary.found = summary.ok + summary.failed + summary.resumed
    summary.seconds = time.perf_counter() - start
    if out is not None:
        write_sidecar(out, sidecar_record(summary, opts, loaded, listing))
    return summary


def _engine(
    listing: Any,
    loaded: LoadedModel,
    opts: ClassifyOptions,
    top_k: int,
    done: list[str],
    summary: Summary,
    progress: bool,
) -> Iterator[Scored]:
    """Scored batches from the chosen engine: the local DataLoader, or a Ray cluster."""
    from animalsort import data, model

    if opts.engine == "ray":
        from animalsort import ray_engine

        return ray_engine.score(listing, opts, loaded.preprocessing, top_k, done, progress)
    on_device = model.pick_decode(opts.decode, loaded.device) == "gpu"
    summary.decode = "gpu" if on_device else "cpu"
    video = opts.sampling()
    stream = data.image_stream(
        listing, loaded.preprocessing, opts.batch_size, done, draft=opts.draft, raw_jpeg=on_device, video=video
    )
    workers = default_workers() if opts.workers is None else opts.workers
    batches = data.loader(stream, workers, pin_memory=loaded.device.type == "cuda")
    return score_batches(loaded, batches, top_k, opts.video_rows)


def _write_rows(
    scored: Iterable[Scored],
    writer: CsvWriter,
    names: Sequence[str],
    top_k: int,
    summary: Summary,
    total: int,
    progress: bool,
) -> None:
    from tqdm import tqdm

    with tqdm(total=total, unit="file", desc="classify", disable=not progress, smoothing=0.1) as bar:
        for s in scored:
            rows = []
            for i, rel in enumerate(s.paths):
                if s.ok[i]:
                    rows.append(ok_row(rel, [names[j] for j in s.idx[i]], s.conf[i], top_k, s.frame_s[i]))
                    continue
                rows.append(error_row(rel, s.errors[i], top_k))
                summary.failed += 1
                if len(summary.errors) < MAX_REPORTED_ERRORS:
                    summary.errors.append((rel, s.errors[i]))
            summary.ok += s.files_ok
            summary.videos += s.clips
            summary.frames += s.frames
            writer.write(rows)
            bar.update(s.files_ok + s.ok.count(False))


def score_batches(loaded: LoadedModel, batches: Iterable[Batch], top_k: int, video_rows: str) -> Iterator[Scored]:
    """The local engine: DataLoader batches → the model on this machine's device."""
    from animalsort import data

    cuda = loaded.device.type == "cuda"
    for batch in batches:
        x = batch.images.to(loaded.device, non_blocking=cuda)
        if batch.raw is not None:
            data.decode_on_device(batch, x, loaded.preprocessing)
        yield score_batch(loaded, x, batch.meta(), top_k, video_rows)


def sidecar_record(summary: Summary, opts: ClassifyOptions, loaded: LoadedModel, listing: Any) -> dict[str, object]:
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    return {
        "src": src_of(listing),  # the CSV's paths are relative to it (report, review, sort, merge)
        **({"listing": listing.record()} if hasattr(listing, "record") else {}),
        "model": summary.model,
        "weights_sha256": loaded.sha256,
        "labels": loaded.labels.name,
        "label_names": list(loaded.labels.labels),  # what `review` offers to choose from
        "device": summary.device,
        "precision": summary.precision,
        "runtime": summary.runtime,
        "decode": summary.decode,
        "options": options,
        "counts": {
            "found": summary.found,
            "ok": summary.ok,
            "failed": summary.failed,
            "resumed": summary.resumed,
            "videos": summary.videos,
            "frames": summary.frames,
        },
        "not_classified": dict(sorted(summary.skipped.skipped.items())) if summary.skipped else {},
        "seconds": round(summary.seconds, 3),
        "startup_seconds": round(summary.startup_seconds, 3),
        "images_per_s": round(summary.images_per_s, 2),
        **({"video": video_record(opts)} if summary.videos else {}),
        **({"sequences": summary.sequences} if summary.sequences is not None else {}),
    }


def video_record(opts: ClassifyOptions) -> dict[str, object]:
    """How the clips were read and labelled (the sidecar's ``video``)."""
    import av

    from animalsort.scoring import TOP_FRAMES

    return {
        "decoder": f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})",
        "every_s": opts.video_every,
        "max_frames": opts.video_max_frames,
        "rows": opts.video_rows,
        "clip_label": f"the label with the highest mean probability over its {TOP_FRAMES} best frames, among "
        "the frames' first labels (no_animal only when no frame shows an animal); frame_s: its best frame",
    }
