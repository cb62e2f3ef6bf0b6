"""Labels a person fixed in ``animalsort review``: ``PREDS.corrections.csv`` beside the CSV.

One line per change (``path,label,reviewed_at``), appended, flushed and fsync'd as it is
made, so closing the page or killing the server loses nothing. The file is never rewritten:
the last line for a path wins, and an empty label takes the path back to unreviewed (undo).
A line cut short by a kill is ignored when reading and sealed off before the next append.

A CSV classified with ``--detections`` is corrected detection by detection: its file has a
fourth column, ``detection`` (the detection's number in its photo, from 1, as
``formats/detection_rows`` numbers them; empty for a correction of the whole photo). Lines of
three fields still read (a file written before, or for a CSV without detections, is the same
as ever); an older animalsort skips the four-field lines rather than apply a detection's label
to the whole photo.

The answers in the audit sample beside the CSV (``PREDS.sample.csv``, ``answers.py``) are
corrections too: a person looked at the photo and said what it shows. Where both name a path,
the one given later counts — a person who changes their mind means the new answer, whichever
page they gave it on (and review, which shows audit answers as reviewed, only ever adds a
later one). An audit answer is about the whole photo.

Readers: :func:`reviewed_rows` (``sort --from``, ``tag``, ``export``, ``report``: reviewed rows
carry their corrected label, ``report`` marks them), ``finetune --from``, ``review``. This
module never imports torch.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from animalsort.errors import InputError, OutputError
from animalsort.formats import answers, detection_rows
from animalsort.formats.detections import Detection
from animalsort.formats.predictions import BOX_COLUMNS, box_cells, cell_text, read_predictions, text_row

COLUMNS = ("path", "label", "reviewed_at")
DETECTION = "detection"
SUFFIX = ".corrections.csv"
MAX_LABEL = 100  # characters


def corrections_path(predictions: Path) -> Path:
    """``preds.csv`` → ``preds.corrections.csv`` (beside it)."""
    predictions = Path(predictions)
    return predictions.with_name(predictions.stem + SUFFIX)


REVIEW, AUDIT = "review", "audit"  # where a correction was given: PREDS.corrections.csv, PREDS.sample.csv


@dataclass(frozen=True)
class Correction:
    label: str  # "" = back to unreviewed
    reviewed_at: str  # ISO 8601, UTC
    source: str = REVIEW


Key = tuple[str, int | None]  # (path, detection number; None for the whole photo)


def clean_label(label: str) -> str:
    """A label as typed, trimmed; refuses what no folder or CSV should hold."""
    label = " ".join(str(label).split())
    if not label:
        raise ValueError("a label cannot be empty")
    if len(label) > MAX_LABEL:
        raise ValueError(f"a label has at most {MAX_LABEL} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in label):
        raise ValueError("a label cannot hold control characters")
    return label


def read(predictions: Path) -> dict[str, Correction]:
    """The current correction of each reviewed photo (the last line of review's for it, paths
    taken back by an undo left out, or its audit answer where that was given later).
    Corrections of single detections: :func:`read_all`."""
    return {p: c for (p, n), c in read_all(predictions).items() if n is None}


def files_used(predictions: Path, found: Mapping[str, Correction] | Mapping[Key, Correction]) -> dict[str, Path]:
    """The files the corrections in ``found`` came from: REVIEW → PREDS.corrections.csv, AUDIT → PREDS.sample.csv."""
    where = {REVIEW: corrections_path(predictions), AUDIT: answers.sample_path(predictions)}
    return {s: where[s] for s in (REVIEW, AUDIT) if any(c.source == s for c in found.values())}


def read_all(predictions: Path) -> dict[Key, Correction]:
    """The current correction of each reviewed photo and detection; a photo's audit answer
    counts as a correction of the whole photo where it was given after review's last line."""
    latest = {key: c for key, c in history(predictions).items() if c.label}
    for path, answer in answers.read(predictions).items():
        mine = latest.get((path, None))
        if mine is None or answers.parse_time(answer.answered_at) > answers.parse_time(mine.reviewed_at):
            latest[(path, None)] = Correction(answer.label, answer.answered_at, AUDIT)
    return latest


def history(predictions: Path) -> dict[Key, Correction]:
    """The last line for every photo and detection in the file, undos (empty labels) included."""
    path = corrections_path(predictions)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = data.decode("utf-8-sig", "surrogateescape")  # a spreadsheet's byte-order mark goes
    if not text.endswith("\n"):  # a line cut short by a kill
        text = text[: text.rfind("\n") + 1]
    latest: dict[Key, Correction] = {}
    for record in _records(text):
        if len(record) not in (3, 4) or record[:3] == list(COLUMNS):
            continue
        p, label, at = record[:3]
        number = record[3] if len(record) == 4 else ""
        try:
            datetime.fromisoformat(at)
            key: Key = (p, int(number) if number else None)
        except ValueError:
            continue
        latest[key] = Correction(label, at)
    return latest


def _records(text: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            continue


class Log:
    """The corrections file opened for appending. ``append`` returns when the line is on disk.
    ``detections``: the CSV was classified with ``--detections`` (a new file gets the fourth
    column's name in its header)."""

    def __init__(self, predictions: Path, detections: bool = False):
        self.path = corrections_path(predictions)
        try:
            self._f: IO[str] = open(self.path, "a+", encoding="utf-8", errors="surrogateescape", newline="")
            self._f.seek(0, os.SEEK_END)
            size = self._f.tell()
            if size == 0:
                csv.writer(self._f, lineterminator="\n").writerow(COLUMNS + ((DETECTION,) if detections else ()))
            elif not _ends_with_newline(self.path, size):
                self._f.write("\n")  # seal a line cut short by a kill
            self._sync()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._f, lineterminator="\n")

    def append(self, path: str, label: str, detection: int | None = None) -> Correction:
        """Record ``label`` for ``path`` (for its detection number ``detection``, when given)."""
        c = Correction(label, datetime.now(UTC).isoformat(timespec="milliseconds"))
        line = (path, c.label, c.reviewed_at) + ((str(detection),) if detection is not None else ())
        try:
            self._writer.writerow(line)
            self._sync()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return c

    def _sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


REVIEWED = "reviewed"  # the key a corrected row carries (its value: the model's label)


def apply(rows: Iterable[dict[str, str]], corrections: dict[str, Correction]) -> Iterator[dict[str, str]]:
    """``rows`` with each reviewed, classified row's ``label`` replaced by the correction; such
    a row carries ``reviewed`` = the model's label, which tells ``sort.folder_for`` to place it
    by its label whatever its confidence."""
    for row in rows:
        c = corrections.get(row["path"])
        if c is not None and row.get("status", "ok") == "ok":
            yield {**row, "label": c.label, REVIEWED: row["label"]}
        else:
            yield row


def reviewed_rows(predictions: Path) -> Iterator[dict[str, str]]:
    """The rows of a predictions CSV as every reader of it uses them: one row per photo (a
    ``--rows detections`` CSV folded, ``detection_rows.photo_rows``), with the corrections made
    in ``review`` applied — a photo's to the row (:func:`apply`), a detection's to that
    detection, whose photo's label, ``count``, ``labels`` and ``detections`` follow
    (:func:`relabelled`). A detections cell that does not read stops the reading, naming the row."""
    fixes = read_all(predictions)
    photos = {p: c for (p, n), c in fixes.items() if n is None}
    by_photo: dict[str, dict[int, Correction]] = {}
    for (p, n), c in fixes.items():
        if n is not None:
            by_photo.setdefault(p, {})[n] = c
    for row in apply(detection_rows.photo_rows(read_predictions(predictions)), photos):
        try:
            found = detection_rows.detections_of(row)  # read here: a cell that does not read names the CSV
            fixes_here = by_photo.get(row["path"])
            if found is not None and fixes_here and REVIEWED not in row and row.get("status", "ok") == "ok":
                row = relabelled(row, fixes_here)
        except ValueError as exc:
            raise InputError(f"{predictions}, row {row['path']!r}: {exc}; correct it, or classify again") from None
        yield row


def relabelled(row: dict[str, str], fixes: dict[int, Correction]) -> dict[str, str]:
    """``row`` with the labels a person gave to its detections (by number): the photo's label,
    confidence and box are its primary detection's again (its other top-k labels go when that
    is another detection); ``reviewed`` (= the model's label) when the primary is a reviewed
    one, or when a person said no box shows an animal."""
    found = detection_rows.detections_of(row)
    if found is None:
        return row
    fixed = [replace(d, label=fixes[n].label, reviewed=True) if n in fixes else d for n, d in enumerate(found, start=1)]
    cells = text_row(detection_rows.FILES_COLUMNS, detection_rows.files_cells(fixed))
    out = {**row, **dict(zip(detection_rows.FILES_COLUMNS, cells))}
    before, top = detection_rows.primary(found), detection_rows.primary(fixed)
    if top is None:  # a person said no box shows an animal
        out.update(dict.fromkeys(BOX_COLUMNS, ""), label="no_animal")
        return {**out, REVIEWED: row["label"]}
    if before is None or _place(found, before) != _place(fixed, top):
        out.update({k: "" for k in row if k.startswith(("label_", "confidence_"))})
        out.update(zip(BOX_COLUMNS, box_cells(top.bbox)), confidence=cell_text("confidence", top.confidence or 0.0))
    out["label"] = top.label
    return {**out, REVIEWED: row["label"]} if top.reviewed else out


def _place(detections: list[Detection], d: Detection) -> int:
    return next(i for i, other in enumerate(detections) if other is d)
