"""Batches → rows → CSV, and ``classify``, the one core entry point for a folder.

Rows are written (and flushed) as batches finish, in discovery order, so a crash keeps what
was done and ``resume`` continues where it stopped. Confidences are formatted to fixed
decimals, so a resumed CSV is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from animalsort import __version__
from animalsort.errors import InputError, NoImagesError, OutputError

CONFIDENCE_FORMAT = "{:.4f}"
MAX_REPORTED_ERRORS = 20  # the summary names this many failures; the CSV has them all


def header(top_k: int) -> list[str]:
    cols = ["path", "label", "confidence"]
    for k in range(2, top_k + 1):
        cols += [f"label_{k}", f"confidence_{k}"]
    return cols + ["status", "error"]


def ok_row(path: str, labels: Iterable[str], confidences: Iterable[float], top_k: int) -> list[str]:
    row = [path]
    for lab, conf in zip(labels, confidences):
        row += [lab, CONFIDENCE_FORMAT.format(conf)]
    row += [""] * (1 + 2 * top_k - len(row))
    return row + ["ok", ""]


def error_row(path: str, error: str, top_k: int) -> list[str]:
    return [path] + [""] * (2 * top_k) + ["error", error]


# --------------------------------------------------------------------------- CSV writer


class CsvWriter:
    """Streams rows to a CSV file (or a text stream), flushing after every batch.

    With ``resume`` an existing file is read back: complete rows are kept (a row cut off by a
    crash is dropped), and their paths are returned by :meth:`done` so they are not redone.
    """

    def __init__(self, out: Path | None, top_k: int, resume: bool = False, stream: IO[str] | None = None):
        self.out = out
        self.columns = header(top_k)
        self._done: list[str] = []
        if out is None:
            self._f: IO[str] = stream if stream is not None else sys.stdout
            self._owns = False
        else:
            self._owns = True
            kept = self._read_back(out) if resume and out.exists() else None
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                if kept is None:
                    self._f = open(out, "w", newline="", encoding="utf-8", errors="surrogateescape")
                else:
                    self._rewrite(out, kept)
                    self._f = open(out, "a", newline="", encoding="utf-8", errors="surrogateescape")
                    self._done = [r[0] for r in kept]
            except OSError as exc:
                raise OutputError(
                    f"cannot write {out}: {exc.strerror or exc}; choose another --out "
                    "or fix the folder's permissions"
                ) from None
        self._w = csv.writer(self._f)
        if not self._done:
            self._write([self.columns])

    def _read_back(self, out: Path) -> list[list[str]]:
        try:
            text = out.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise OutputError(f"cannot read {out} to resume: {exc.strerror or exc}") from None
        if not text:
            return []
        records = list(csv.reader(io.StringIO(text, newline="")))
        if not records or records[0] != self.columns:
            raise OutputError(
                f"cannot resume {out}: its columns {records[0] if records else []} differ from "
                f"this run's {self.columns}; use the same --top-k, or a new --out without --resume"
            )
        rows = records[1:]
        # The last record is complete only if the file ends with a line break after it.
        if rows and not text.endswith("\n"):
            rows.pop()
        return [r for r in rows if len(r) == len(self.columns)]

    def _rewrite(self, out: Path, rows: list[list[str]]) -> None:
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            w.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)

    def done(self) -> list[str]:
        return self._done

    def _write(self, rows: list[list[str]]) -> None:
        try:
            self._w.writerows(rows)
            self._f.flush()
        except OSError as exc:
            raise OutputError(
                f"cannot write to {self.out or 'stdout'}: {exc.strerror or exc}. The rows written "
                "so far are kept; free some space and rerun with --resume"
            ) from None

    def write(self, rows: list[list[str]]) -> None:
        self._write(rows)

    def close(self) -> None:
        if self._owns:
            try:
                self._f.flush()
                os.fsync(self._f.fileno())
            except OSError:
                pass
            self._f.close()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_predictions(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a classify CSV as dicts (used by sort and report; no torch needed)."""
    try:
        f = open(path, newline="", encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        reader = csv.DictReader(f)
        missing = {"path", "label", "confidence", "status"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(
                f"{path} is not an animalsort predictions CSV (no {', '.join(sorted(missing))} "
                "column); make one with `animalsort classify SRC --out FILE`"
            )
        yield from reader


# --------------------------------------------------------------------------- classify


@dataclass
class ClassifyOptions:
    model: str | None = None
    weights: Path | None = None
    labels: str = "animals"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32
    workers: int | None = None
    top_k: int = 3
    resume: bool = False
    draft: bool = True
    decode: str = "auto"  # where JPEGs are decoded: auto | cpu | gpu
    engine: str = "local"  # local | ray
    ray_address: str | None = None  # None: start a local one-node Ray cluster
    num_gpus_per_actor: float = 0.0


@dataclass
class Summary:
    found: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # rows kept from an earlier run (--resume)
    seconds: float = 0.0
    startup_seconds: float = 0.0  # model resolution and loading, before the first batch
    out: str | None = None
    model: str = ""
    device: str = ""
    precision: str = ""
    decode: str = "cpu"
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds > 0 else 0.0


def classify(
    src: Path,
    out: Path | None,
    options: ClassifyOptions | None = None,
    *,
    progress: bool = True,
    exclude: Iterable[Path] = (),
) -> Summary:
    """Classify every image under ``src``; write one CSV row per file to ``out`` (None: stdout)."""
    from tqdm import tqdm

    from animalsort import data, model

    opts = options or ClassifyOptions()
    start = time.perf_counter()
    src = data.check_source(src)
    excluded = [*exclude] + ([out, sidecar_path(out)] if out is not None else [])
    if data.first_image(src, excluded) is None:
        raise NoImagesError(
            f"no image files under {src} (looked for {', '.join(sorted(data.IMAGE_EXTENSIONS))}); "
            "check the folder"
        )
    top_k = opts.top_k
    loaded = model.load(
        opts.model, opts.weights, labels=opts.labels, device=opts.device,
        precision=opts.precision, progress=progress,
    )  # fmt: skip
    top_k = min(top_k, len(loaded.labels.labels))
    summary = Summary(out=str(out) if out else None, model=loaded.name,
                      device=str(loaded.device), precision=loaded.precision)  # fmt: skip
    workers = data.default_workers() if opts.workers is None else opts.workers
    with CsvWriter(out, top_k, resume=opts.resume) as writer:
        summary.skipped = len(writer.done())
        if opts.engine == "ray":
            from animalsort import ray_engine

            summary.decode = "cpu"
            scored = ray_engine.score(src, opts, loaded.preprocessing, top_k, excluded, writer.done(), progress)
        else:
            on_device = model.pick_decode(opts.decode, loaded.device) == "gpu"
            summary.decode = "gpu" if on_device else "cpu"
            stream = data.image_stream(src, loaded.preprocessing, opts.batch_size, excluded,
                                       writer.done(), draft=opts.draft, raw_jpeg=on_device)  # fmt: skip
            scored = score_batches(loaded, data.loader(stream, workers, pin_memory=loaded.device.type == "cuda"), top_k)
        names = loaded.labels.labels
        summary.startup_seconds = time.perf_counter() - start
        with tqdm(unit="img", desc="classify", disable=not progress, smoothing=0.1) as bar:
            for s in scored:
                rows = []
                for i, rel in enumerate(s.paths):
                    if s.ok[i]:
                        rows.append(ok_row(rel, [names[j] for j in s.idx[i]], s.conf[i], top_k))
                        summary.ok += 1
                    else:
                        rows.append(error_row(rel, s.errors[i], top_k))
                        summary.failed += 1
                        if len(summary.errors) < MAX_REPORTED_ERRORS:
                            summary.errors.append((rel, s.errors[i]))
                writer.write(rows)
                bar.update(len(rows))
    summary.found = summary.ok + summary.failed + summary.skipped
    summary.seconds = time.perf_counter() - start
    if out is not None:
        write_sidecar(out, summary, opts, loaded.sha256, loaded.labels.name, src)
    return summary


@dataclass
class Scored:
    """One batch's outcome, whatever engine produced it: top-k label indices and
    confidences for the rows that decoded (``ok``), the reason for those that did not."""

    paths: list[str]
    ok: list[bool]
    errors: list[str]
    idx: list[list[int]]  # per row (empty for failed rows)
    conf: list[list[float]]


def score(loaded: Any, images: Any, ok: list[bool], top_k: int) -> tuple[list[list[int]], list[list[float]]]:
    """Top-k (indices, confidences) for a uint8 NHWC batch already on the model's device."""
    import torch

    from animalsort.taxonomy import rank

    if not any(ok):
        return [[] for _ in ok], [[] for _ in ok]
    with torch.inference_mode(), autocast(loaded.device, loaded.precision):
        probs = loaded.net(images)
    conf, idx = rank(probs, loaded.labels, top_k)
    return idx.cpu().tolist(), conf.cpu().tolist()


def score_batches(loaded: Any, batches: Iterable[Any], top_k: int) -> Iterator[Scored]:
    """The local engine: DataLoader batches → the model on this machine's device."""
    from animalsort import data

    cuda = loaded.device.type == "cuda"
    for batch in batches:
        x = batch.images.to(loaded.device, non_blocking=cuda)
        if batch.raw is not None:
            data.decode_on_device(batch, x, loaded.preprocessing)
        idx, conf = score(loaded, x, batch.ok, top_k)
        yield Scored(batch.paths, batch.ok, batch.errors, idx, conf)


def autocast(device: Any, precision: str) -> Any:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def write_sidecar(out: Path, summary: Summary, opts: ClassifyOptions, sha256: str, labels: str, src: Path) -> None:
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    record = {
        "animalsort_version": __version__,
        "src": os.fsdecode(Path(src).absolute()),  # the CSV's paths are relative to it (used by `report`)
        "model": summary.model,
        "weights_sha256": sha256,
        "labels": labels,
        "device": summary.device,
        "precision": summary.precision,
        "decode": summary.decode,
        "options": options,
        "counts": {"found": summary.found, "ok": summary.ok, "failed": summary.failed,
                   "resumed": summary.skipped},
        "seconds": round(summary.seconds, 3),
        "startup_seconds": round(summary.startup_seconds, 3),
        "images_per_s": round(summary.images_per_s, 2),
    }  # fmt: skip
    try:
        sidecar_path(out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {sidecar_path(out)}: {exc.strerror or exc}") from None
