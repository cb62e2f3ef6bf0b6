"""Labels a person fixed in ``animalsort review``: ``PREDS.corrections.csv`` beside the CSV.

One line per change (``path,label,reviewed_at``), appended, flushed and fsync'd as it is
made, so closing the page or killing the server loses nothing. The file is never rewritten:
the last line for a path wins, and an empty label takes the path back to unreviewed (undo).
A line cut short by a kill is ignored when reading and sealed off before the next append.

The answers in the audit sample beside the CSV (``PREDS.sample.csv``, ``answers.py``) are
corrections too: a person looked at the photo and said what it shows. Where both name a path,
the one given later counts — a person who changes their mind means the new answer, whichever
page they gave it on (and review, which shows audit answers as reviewed, only ever adds a
later one).

Readers: ``sort --from`` and ``finetune --from`` (reviewed rows carry their corrected label),
``tag``, ``export``, ``report`` (marks reviewed rows), ``review``. This module never imports torch.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from animalsort.errors import InputError, OutputError
from animalsort.formats import answers

COLUMNS = ("path", "label", "reviewed_at")
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
    """The current correction of each reviewed path: the last line of review's for it (paths
    taken back by an undo are left out), or its audit answer where that was given later."""
    latest = {p: c for p, c in history(predictions).items() if c.label}
    for path, answer in answers.read(predictions).items():
        mine = latest.get(path)
        if mine is None or answers.parse_time(answer.answered_at) > answers.parse_time(mine.reviewed_at):
            latest[path] = Correction(answer.label, answer.answered_at, AUDIT)
    return latest


def files_used(predictions: Path, found: dict[str, Correction]) -> dict[str, Path]:
    """The files the corrections in ``found`` came from: REVIEW → PREDS.corrections.csv, AUDIT → PREDS.sample.csv."""
    where = {REVIEW: corrections_path(predictions), AUDIT: answers.sample_path(predictions)}
    return {s: where[s] for s in (REVIEW, AUDIT) if any(c.source == s for c in found.values())}


def history(predictions: Path) -> dict[str, Correction]:
    """The last line for every path in the file, undos (empty labels) included."""
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
    latest: dict[str, Correction] = {}
    for record in _records(text):
        if len(record) != len(COLUMNS) or list(record) == list(COLUMNS):
            continue
        p, label, at = record
        try:
            datetime.fromisoformat(at)
        except ValueError:
            continue
        latest[p] = Correction(label, at)
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
    """The corrections file opened for appending. ``append`` returns when the line is on disk."""

    def __init__(self, predictions: Path):
        self.path = corrections_path(predictions)
        try:
            self._f: IO[str] = open(self.path, "a+", encoding="utf-8", errors="surrogateescape", newline="")
            self._f.seek(0, os.SEEK_END)
            size = self._f.tell()
            if size == 0:
                csv.writer(self._f, lineterminator="\n").writerow(COLUMNS)
            elif not _ends_with_newline(self.path, size):
                self._f.write("\n")  # seal a line cut short by a kill
            self._sync()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._f, lineterminator="\n")

    def append(self, path: str, label: str) -> Correction:
        c = Correction(label, datetime.now(UTC).isoformat(timespec="milliseconds"))
        try:
            self._writer.writerow((path, c.label, c.reviewed_at))
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
