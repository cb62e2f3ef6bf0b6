"""A predictions CSV as export records: each row with the reviewed label applied, where its
file is now (a sort from the CSV may have moved it), its ranked labels and its burst."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.errors import InputError, RowPathError, UsageError
from animalsort.formats import corrections
from animalsort.formats.corrections import REVIEWED
from animalsort.formats.detection_rows import checked_detections
from animalsort.formats.detections import Detection
from animalsort.formats.journal import Locator
from animalsort.formats.predictions import FRAME_MARK, box_of, file_of, read_sidecar, sidecar_path
from animalsort.paths import is_uri
from animalsort.sources.listing import VIDEO_EXTENSIONS

#: What an export needs from the CSV's sidecar (classify writes all of them).
NEEDED = ("src", "model", "label_names")


@dataclass
class Record:
    path: str  # the CSV's path (relative to SRC)
    file: str  # where the file is now
    status: str
    label: str = ""
    confidence: float | None = None
    ranked: list[tuple[str, float]] = field(default_factory=list)  # the model's top-k
    error: str = ""
    frame_s: float | None = None
    box: tuple[float, float, float, float] | None = None
    reviewed: bool = False
    reviewed_at: str = ""
    sequence: str = ""
    sequence_label: str = ""
    sequence_confidence: float | None = None
    frames: list[Record] = field(default_factory=list)  # a clip classified with --video-rows frames
    detections: list[Detection] | None = None  # --detections: every box, labelled (reviews applied)
    reviewed_boxes: dict[int, str] = field(default_factory=dict)  # box number → when a person labelled it

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def is_clip(self) -> bool:
        return os.path.splitext(self.path)[1].lower() in VIDEO_EXTENSIONS


@dataclass
class Source:
    """The CSV and what its sidecar says."""

    predictions: Path
    src: Path
    meta: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return list(self.meta["label_names"])


def open_source(predictions: Path, src: Path | None = None) -> Source:
    predictions = Path(predictions)
    if not predictions.is_file():
        raise InputError(f"{predictions}: no such predictions CSV; make one with `animalsort classify SRC -o FILE`")
    meta = read_sidecar(predictions)
    if not meta:
        raise InputError(
            f"{predictions} has no sidecar ({sidecar_path(predictions).name}, written by classify beside the CSV): "
            "an export names the model, its weights and its labels from it. Classify again with --out, or put the "
            "sidecar back"
        )
    missing = [k for k in NEEDED if not meta.get(k)]
    if missing:
        raise InputError(
            f"{sidecar_path(predictions)} (from animalsort {meta.get('animalsort_version', 'unknown')}) lacks "
            f"{', '.join(missing)}; classify again with this version to export"
        )
    if src is None:
        if is_uri(str(meta["src"])):
            raise UsageError(f"{predictions} classified object storage ({meta['src']}); export needs local files")
        src = Path(meta["src"])
    return Source(predictions, Path(src), meta)


def _float(text: str | None) -> float | None:
    """A number cell, or None when it is empty or does not read (NaN and infinities included:
    JSON has no place for them)."""
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def records(source: Source) -> Iterator[Record]:
    """The CSV's photos and clips, streamed. A clip classified with ``--video-rows frames`` has
    one row per sampled frame (consecutive in the CSV): they come back as one clip record whose
    ``frames`` are those rows, labelled by :func:`clip_from_frames`."""
    pending: list[Record] = []
    for rec in _rows(source):
        if pending and (not is_frame_row(rec) or rec.file != pending[0].file):
            yield clip_from_frames(pending)
            pending = []
        if is_frame_row(rec) and rec.ok:
            pending.append(rec)
        else:
            yield rec
    if pending:
        yield clip_from_frames(pending)


TOP_FRAMES = 3  # as classify scores a clip's labels: the mean over a label's best frames


def clip_from_frames(frames: list[Record]) -> Record:
    """One record for a clip from its frame rows, by classify's rule for a clip's label
    (``inference.scoring``): the candidates are the labels first in some frame, without
    no_animal when an animal is among them; each label scores the mean of its best
    ``min(3, frames)`` frame probabilities; the best-scoring candidate wins, at its most
    confident frame. From the CSV each frame's top-k only (a label outside a frame's top-k counts
    0 there), so a score may come out a little lower than classify's own."""
    labels = list(dict.fromkeys(lab for f in frames for lab, _ in f.ranked))
    m = min(TOP_FRAMES, len(frames))

    def score(label: str) -> float:
        probs = sorted((dict(f.ranked).get(label, 0.0) for f in frames), reverse=True)
        return sum(probs[:m]) / m

    firsts = {f.label for f in frames}
    if firsts - {"no_animal"}:
        firsts.discard("no_animal")
    best = max(sorted(firsts), key=score)
    order = [best] + sorted((lab for lab in labels if lab != best), key=score, reverse=True)
    top = max(frames, key=lambda f: dict(f.ranked).get(best, 0.0))
    first = frames[0].path
    path = first[: first.rfind(FRAME_MARK)]
    return Record(
        path=path,
        file=frames[0].file,
        status="ok",
        label=best,
        confidence=score(best),
        ranked=[(lab, score(lab)) for lab in order[: len(frames[0].ranked)]],
        frame_s=top.frame_s,
        box=top.box,
        sequence=frames[0].sequence,
        sequence_label=frames[0].sequence_label,
        sequence_confidence=frames[0].sequence_confidence,
        frames=frames,
    )


def _rows(source: Source) -> Iterator[Record]:
    """The CSV's rows, one per photo (``corrections.reviewed_rows``: a ``--rows detections``
    CSV folded, the reviews applied), as records."""
    fixed: dict[str, dict[int | None, str]] = {}  # path → {box number or None: when a person reviewed it}
    for (path, n), c in corrections.read_all(source.predictions).items():
        fixed.setdefault(path, {})[n] = c.reviewed_at
    locate = Locator(source.predictions, source.src)
    for row in corrections.reviewed_rows(source.predictions):
        status = row.get("status", "ok")
        try:
            file = locate(file_of(row))
        except RowPathError as exc:  # an export lists every row: one that leads outside SRC stops it
            raise RowPathError(f"{source.predictions}, row {row['path']!r}: {exc}; nothing was exported") from None
        rec = Record(path=row["path"], file=file, status=status, error=row.get("error", ""))
        rec.frame_s = _float(row.get("frame_s"))
        if status == "ok":
            _classified(rec, row, fixed.get(row["path"], {}))
        rec.sequence = row.get("sequence", "") or ""
        rec.sequence_label = row.get("sequence_label", "") or ""
        rec.sequence_confidence = _float(row.get("sequence_confidence"))
        yield rec


def _classified(rec: Record, row: dict[str, str], fixed: dict[int | None, str]) -> None:
    """The model's ranked labels, the box, the detections, and what a person reviewed."""
    k = 1
    while row.get("label" if k == 1 else f"label_{k}"):
        name = row["label" if k == 1 else f"label_{k}"]
        conf = _float(row.get("confidence" if k == 1 else f"confidence_{k}")) or 0.0
        rec.ranked.append((row.get(REVIEWED, name) if k == 1 else name, conf))  # the model's own first label
        k += 1
    rec.label, rec.confidence = rec.ranked[0] if rec.ranked else ("", None)
    rec.box = box_of(row)
    rec.detections = checked_detections(row)
    rec.reviewed_boxes = {n: at for n, at in fixed.items() if n is not None}
    if REVIEWED in row:
        rec.label, rec.reviewed = row["label"], True
        rec.reviewed_at = fixed.get(None) or max(rec.reviewed_boxes.values(), default="")


def is_frame_row(rec: Record) -> bool:
    """A clip's frame row (``clip.mp4#t=3.00``), as ``--video-rows frames`` writes them."""
    return rec.frame_s is not None and FRAME_MARK in rec.path
