"""``classify_folder``: the one core entry point for a folder — listing → batches → the model →
rows → CSV and sidecar; ``iter_rows`` streams the same rows with no file.

The rows and the file they go to are the predictions contract (``formats/predictions.py``);
this module only decides what goes in them.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from animalsort.errors import NoImagesError, UsageError
from animalsort.formats.detection_rows import ROWS, columns
from animalsort.formats.detections import DEFAULT_THRESHOLD, Detections, read_detections
from animalsort.formats.predictions import (
    CsvWriter,
    Row,
    header,
    prediction_row,
    prepare_output,
    read_sidecar,
    sidecar_path,
    text_row,
    write_sidecar,
)
from animalsort.inference.detected import DetectionRows
from animalsort.inference.local import score_batches
from animalsort.inference.looking import method_record
from animalsort.inference.options import (
    ClassifyOptions,
    Summary,
    check_label_lists,
    label_lists,
    recorded_lists,
    whole_number,
)
from animalsort.inference.scoring import Scored
from animalsort.machine import default_workers
from animalsort.paths import is_uri
from animalsort.sources.decode import apply_pixel_limit
from animalsort.sources.listing import Inventory, Listing, nothing_to_classify
from animalsort.sources.manifests import Listable, describe_listing, discard, source_for, src_of, whole
from animalsort.sources.views import VIEW_MODES

if TYPE_CHECKING:
    from animalsort.model.runner import LoadedModel


MAX_REPORTED_ERRORS = 20  # the summary names this many failures; the CSV has them all


def classify_folder(
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
    ``shard``; a source may be an object-storage URI (``sources/manifests.py``)."""
    opts = options or ClassifyOptions()
    start = time.perf_counter()
    check_options(opts)
    skip = [*exclude] + ([out, sidecar_path(out)] if out is not None else [])
    listing = _listing(sources, opts, skip)
    try:
        found = _read_detections(sources, listing, opts)  # a bad file is refused before a model is loaded
        if opts.resume and out is not None:
            _check_resumable(out, opts, src_of(listing), found)  # before a model is loaded for nothing
        return _classify(listing, out, opts, start, progress, found)
    finally:
        discard(listing)


def iter_rows(
    sources: Path | Sequence[Path], options: ClassifyOptions | None = None, *, progress: bool = False
) -> Iterator[dict[str, str]]:
    """The rows ``classify_folder`` would write, as they are made, with no file: one dict per
    row, keyed by the CSV's columns, each value the CSV's text. Memory stays flat whatever
    the number of files."""
    opts = options or ClassifyOptions()
    check_options(opts)
    if opts.sequences is not None or opts.resume:
        raise UsageError("sequences and resume need a CSV file: use classify_folder (or animalsort.classify)")
    listing = _listing(sources, opts, [])
    try:
        found = _read_detections(sources, listing, opts)
        _refuse_empty(listing)
        loaded, inventory = _load(listing, opts, progress)
        top_k = min(opts.top_k, loaded.labels.answerable)
        summary = _new_summary(None, loaded, inventory)
        detected = DetectionRows(found, opts.rows, loaded.labels.labels, top_k) if found is not None else None
        names = header(top_k, opts.boxes) + (columns(opts.rows) if detected is not None else [])
        scored = _engine(listing, loaded, opts, top_k, [], summary, found=found)
        for rows, _ in scored_rows(scored, loaded.labels.labels, top_k, summary, opts.boxes, detected):
            yield from (dict(zip(names, text_row(names, row))) for row in rows)
        if detected is not None:
            yield from (dict(zip(names, text_row(names, row))) for row in detected.left_rows())
    finally:
        discard(listing)


def check_options(opts: ClassifyOptions) -> None:
    """Values and combinations that cannot give the right answer, refused before anything runs."""
    apply_pixel_limit()  # a bad $ANIMALSORT_MAX_MEGAPIXELS fails here, not as every row's error
    whole_number("top_k", opts.top_k)  # 0 would write rows shorter than their header
    whole_number("batch_size", opts.batch_size)
    if isinstance(opts.workers, int):
        whole_number("workers", opts.workers, least=0)
    if opts.view not in VIEW_MODES:
        raise UsageError(f"unknown view {opts.view!r}; choose one of: {', '.join(VIEW_MODES)}")
    check_label_lists(opts)
    if opts.decode == "gpu" and opts.view != "centre":
        raise UsageError("--decode gpu decodes the centre window only: add --view centre, or decode on the CPU")
    if opts.shard is not None and opts.sequences is not None:
        raise UsageError(
            "--sequences with --shard: a burst can fall into two shards; classify the shards without "
            "--sequences, then `animalsort merge SHARDS… --sequences`"
        )
    _check_detection_options(opts)


def _check_detection_options(opts: ClassifyOptions) -> None:
    """``--rows`` and ``--detection-threshold`` go with ``--detections``, which decodes on the CPU."""
    if opts.rows not in ROWS:
        raise UsageError(f"unknown rows {opts.rows!r}; choose one of: {', '.join(ROWS)}")
    t = opts.detection_threshold
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
        raise UsageError(
            f"detection threshold {t!r}: give a confidence from 0 to 1 (MegaDetector's {DEFAULT_THRESHOLD})"
        )
    if opts.detections is None:
        if opts.rows != "files":
            raise UsageError("--rows detections writes a row per detection: give the detections with --detections")
        if opts.detection_threshold != DEFAULT_THRESHOLD:
            raise UsageError("--detection-threshold chooses among detections: give them with --detections")
    elif opts.decode == "gpu":
        raise UsageError("--decode gpu decodes whole frames; --detections decodes crops on the CPU: drop --decode gpu")


def _read_detections(sources: Path | Sequence[Path], listing: Listable, opts: ClassifyOptions) -> Detections | None:
    """The detections file read against the one folder it is relative to (None without one):
    the folder MegaDetector ran on is SRC, or with --files-from the --root."""
    if opts.detections is None:
        return None
    src = src_of(listing)
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if is_uri(src):
        raise UsageError(f"--detections reads local folders, not {src}: copy the photos here, or classify without it")
    if opts.files_from is None and (len(paths) != 1 or not os.path.isdir(paths[0])):
        raise UsageError(
            f"--detections {opts.detections}: its paths are relative to the one folder MegaDetector ran on; give that "
            f"folder as the only SRC (not {', '.join(os.fspath(p) for p in paths[:3])})"
        )
    return read_detections(Path(opts.detections).expanduser(), src, opts.detection_threshold)


def _listing(sources: Path | Sequence[Path], opts: ClassifyOptions, skip: list[Path]) -> Listable:
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    return source_for(
        paths, files_from=opts.files_from, root=opts.root, shard=opts.shard, exclude=skip, videos=opts.videos
    )


def _refuse_empty(listing: Listable) -> None:
    listed = whole(listing)  # an empty shard still writes its CSV
    if next(iter(listed), None) is None:
        if isinstance(listed, Listing):
            raise NoImagesError(nothing_to_classify(listed, listed.inventory()))
        raise NoImagesError(f"nothing to classify: {describe_listing(listed)} lists no files")


def _load(listing: Listable, opts: ClassifyOptions, progress: bool) -> tuple[LoadedModel, Inventory]:
    """The model, loaded while another thread counts the files (joined before any fork)."""
    from animalsort.model.load import load

    with ThreadPoolExecutor(1) as pool:
        counting = pool.submit(listing.inventory)
        loaded = load(
            opts.model,
            opts.weights,
            labels=opts.labels,
            device=opts.device,
            precision=opts.precision,
            runtime=opts.runtime,
            progress=progress,
            look=opts.view != "centre",
            only=opts.only,
            exclude=opts.exclude,
        )
        return loaded, counting.result()


def _new_summary(out: Path | None, loaded: LoadedModel, inventory: Inventory) -> Summary:
    return Summary(
        out=str(out) if out else None,
        model=loaded.name,
        device=str(loaded.device),
        precision=loaded.precision,
        runtime=loaded.runtime,
        runtime_note=loaded.note,
        skipped=inventory,
    )


def _classify(
    listing: Listable, out: Path | None, opts: ClassifyOptions, start: float, progress: bool, found: Detections | None
) -> Summary:
    _refuse_empty(listing)
    if out is not None:
        prepare_output(out)
    loaded, inventory = _load(listing, opts, progress)
    top_k = min(opts.top_k, loaded.labels.answerable)
    summary = _new_summary(out, loaded, inventory)
    detected = DetectionRows(found, opts.rows, loaded.labels.labels, top_k) if found is not None else None
    extra = columns(opts.rows) if detected is not None else []
    with contextlib.ExitStack() as stack:
        target = out
        if out is None and opts.sequences is not None:  # sequences need the whole CSV: stdout gets it at the end
            target = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="animalsort-"))) / "preds.csv"
        with CsvWriter(target, top_k, resume=opts.resume, boxes=opts.boxes, extra=extra) as writer:
            summary.resumed = len(writer.done())
            if detected is not None:
                detected.skip(writer.done())
            scored = _engine(listing, loaded, opts, top_k, writer.done(), summary, progress, found)
            summary.startup_seconds = time.perf_counter() - start
            total = inventory.images + inventory.videos - summary.resumed
            with tqdm(total=total, unit="file", desc="classify", disable=not progress, smoothing=0.1) as bar:
                for rows, files in scored_rows(scored, loaded.labels.labels, top_k, summary, opts.boxes, detected):
                    writer.write(rows)
                    bar.update(files)
            if detected is not None:
                writer.write(_left_rows(detected, summary))
        if target is not None and opts.sequences is not None:
            summary.sequences = _annotate_sequences(target, listing, opts.sequences, to_stdout=out is None)
    summary.found = summary.ok + summary.failed + summary.resumed
    summary.seconds = time.perf_counter() - start
    if out is not None:
        write_sidecar(out, sidecar_record(summary, opts, loaded, listing))
    return summary


def _left_rows(detected: DetectionRows, summary: Summary) -> list[Row]:
    """The error rows of the files the JSON lists that are not under SRC (counted as failed),
    and the detections' record for the summary and the sidecar."""
    rows = detected.left_rows()
    summary.failed += len(rows)
    summary.errors += [(row[0], row[row.index("error") + 1]) for row in rows][
        : MAX_REPORTED_ERRORS - len(summary.errors)
    ]
    summary.detections = detected.record()
    return rows


def _check_resumable(out: Path, opts: ClassifyOptions, src: str, found: Detections | None = None) -> None:
    """A resumed run continues the rows of the same folder (``src``), looking at frames as the
    run it continues did, answering with the same labels (--only/--exclude) and with the same
    detections (its sidecar says all four; a CSV from before --view was centre-only). A run
    killed before its end left no sidecar: its rows are kept as they are."""
    if not out.exists() or not sidecar_path(out).exists():
        return
    meta = read_sidecar(out)
    _check_same_detections(out, meta.get("detections"), opts, found)
    if meta.get("src") and not _same_source(str(meta["src"]), src):
        raise UsageError(
            f"cannot resume {out}: its rows are of {meta['src']}, this run classifies {src}; resume with that "
            "folder, or classify into a new --out"
        )
    before = (meta.get("options") or {}).get("view", "centre")
    if before != opts.view:
        raise UsageError(
            f"cannot resume {out}: it was classified with --view {before}, this run has --view {opts.view}; "
            f"resume with --view {before}, or classify into a new --out"
        )
    before_lists = recorded_lists(meta)
    if before_lists != (opts.only, opts.exclude):
        raise UsageError(
            f"cannot resume {out}: it was classified with {label_lists(*before_lists)}, this run has "
            f"{label_lists(opts.only, opts.exclude)}; resume with the same lists, or classify into a new --out"
        )
    if opts.view != "centre" and meta.get("look") != method_record(opts.view):
        raise UsageError(
            f"cannot resume {out}: its --view {before} rows were answered by another method "
            f"({(meta.get('look') or {}).get('method', 'square windows, before the whole-frame look')}); "
            "classify into a new --out (or again without --resume)"
        )


def _check_same_detections(out: Path, before: Any, opts: ClassifyOptions, found: Detections | None) -> None:
    """A CSV made with a detections file resumes with the same file (by sha256), threshold and
    rows; one made without, without."""
    if before is None and found is None:
        return
    if not isinstance(before, dict) or found is None:
        had = f"with --detections {before.get('file')}" if isinstance(before, dict) else "without --detections"
        has = f"has --detections {found.path}" if found is not None else "has none"
        raise UsageError(
            f"cannot resume {out}: it was classified {had}, this run {has}; resume as it was made, or classify into a "
            "new --out"
        )
    then = (before.get("sha256"), before.get("threshold"), before.get("rows"))
    if then != (found.sha256, found.threshold, opts.rows):
        raise UsageError(
            f"cannot resume {out}: it was classified with --detections {before.get('file')} (sha256 "
            f"{str(then[0])[:12]}…), --detection-threshold {then[1]}, --rows {then[2]}; this run has {found.path} "
            f"(sha256 {found.sha256[:12]}…), {found.threshold}, {opts.rows}: resume with the same, or classify into a "
            "new --out"
        )


def _same_source(a: str, b: str) -> bool:
    """Two sidecar ``src`` values name one folder (however spelled) or one object-storage prefix."""
    return a == b or not is_uri(a) and not is_uri(b) and os.path.realpath(a) == os.path.realpath(b)


def _annotate_sequences(target: Path, listing: Listable, gap: float, to_stdout: bool) -> dict[str, object]:
    """Add the burst columns to the finished CSV (and copy it to stdout when that was asked)."""
    from animalsort.inference import bursts

    made = bursts.record(bursts.annotate(target, Path(listing.root), gap))
    if to_stdout:
        with open(target, newline="", encoding="utf-8", errors="surrogateescape") as f:
            shutil.copyfileobj(f, sys.stdout)
        sys.stdout.flush()
    return made


def _engine(
    listing: Listable,
    loaded: LoadedModel,
    opts: ClassifyOptions,
    top_k: int,
    done: list[str],
    summary: Summary,
    progress: bool = False,
    found: Detections | None = None,
) -> Iterator[Scored]:
    """Scored batches from the chosen engine: the local DataLoader, or a Ray cluster."""
    from animalsort.inference.batches import image_stream, loader
    from animalsort.model.device import pick_decode

    if opts.engine == "ray":
        from animalsort.inference import ray_engine

        return ray_engine.score(listing, opts, loaded.preprocessing, top_k, done, progress, found)
    on_device = pick_decode(opts.decode, loaded.device) == "gpu"
    summary.decode = "gpu" if on_device else "cpu"
    stream = image_stream(
        listing,
        loaded.preprocessing,
        opts.batch_size,
        done,
        draft=opts.draft,
        raw_jpeg=on_device,
        video=opts.sampling(),
        view=opts.view,
        detections=found.peek if found is not None else None,  # the workers' copy: rows are written from this one
    )
    if isinstance(opts.workers, int):
        workers = opts.workers
    elif loaded.device.type == "cpu" and not on_device:  # None or "auto": measured here
        from animalsort.inference.balance import balance

        found = balance(stream, loaded)
        workers = found.workers if found is not None else default_workers()
        summary.balance = found.record() if found is not None else None
    else:
        workers = default_workers()
    batches = loader(stream, workers, pin_memory=loaded.device.type == "cuda")
    return score_batches(loaded, batches, top_k, opts.video_rows, stream.closer)


def scored_rows(
    scored: Iterable[Scored],
    names: Sequence[str],
    top_k: int,
    summary: Summary,
    boxes: bool = False,
    detected: DetectionRows | None = None,
) -> Iterator[tuple[list[Row], int]]:
    """Each scored batch as its rows (:func:`prediction_row`) and the number of files they answer,
    counted into ``summary`` (failures named up to a limit); with ``detected``, the rows
    ``--detections`` makes."""
    for s in scored:
        rows: list[Row] = []
        for answer in s.predictions:
            row = prediction_row(answer, names, top_k, boxes)
            if not answer.ok:
                summary.failed += 1
                if len(summary.errors) < MAX_REPORTED_ERRORS:
                    summary.errors.append((answer.path, answer.error))
            rows += detected.rows(answer, row) if detected is not None else [row]
        summary.ok += s.files_ok
        summary.videos += s.clips
        summary.frames += s.frames
        summary.windows += s.windows
        yield rows, s.files_ok + s.failed


def sidecar_record(summary: Summary, opts: ClassifyOptions, loaded: LoadedModel, listing: Any) -> dict[str, object]:
    return {
        "src": src_of(listing),  # the CSV's paths are relative to it (report, review, sort, merge)
        "started_ns": _started_ns(summary),  # sort leaves a file modified since where it is
        **({"listing": listing.record()} if hasattr(listing, "record") else {}),
        "model": summary.model,
        "weights_sha256": loaded.sha256,
        "labels": loaded.labels.name,
        "label_names": list(loaded.labels.labels),  # what `review` offers to choose from
        "device": summary.device,
        "precision": summary.precision,
        "runtime": summary.runtime,
        **({"workers_auto": summary.balance} if summary.balance else {}),
        **({"precision_gate_agreement": loaded.gate_agreement} if loaded.gate_agreement is not None else {}),
        "decode": summary.decode,
        "options": opts.record(),
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
        "windows_per_file": round(summary.windows / summary.ok, 2) if summary.ok else None,
        **({"look": method_record(opts.view)} if opts.view != "centre" else {}),
        **({"video": video_record(opts)} if summary.videos else {}),
        **({"sequences": summary.sequences} if summary.sequences is not None else {}),
        **({"detections": summary.detections} if summary.detections is not None else {}),
    }


def _started_ns(summary: Summary) -> int | None:
    """When the rows began to be read (ns since the epoch): this run's start or, for a resumed
    CSV, its first run's (None when that run did not record it)."""
    start = time.time_ns() - round(summary.seconds * 1e9)
    if not summary.resumed or summary.out is None:
        return start
    before = read_sidecar(Path(summary.out)).get("started_ns")
    return min(start, before) if type(before) is int else None


def video_record(opts: ClassifyOptions) -> dict[str, object]:
    """How the clips were read and labelled (the sidecar's ``video``)."""
    import av

    from animalsort.inference.scoring import TOP_FRAMES

    return {
        "decoder": f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})",
        "every_s": opts.video_every,
        "max_frames": opts.video_max_frames,
        "rows": opts.video_rows,
        "clip_label": f"the label with the highest mean probability over its {TOP_FRAMES} best frames, among "
        "the frames' first labels (no_animal only when no frame shows an animal); frame_s: its best frame",
    }
