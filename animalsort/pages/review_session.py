"""A review session: the rows of a predictions CSV and a person's corrections to them
(``formats/corrections``: every change is appended to ``PREDS.corrections.csv`` and on disk
before the page hears it was saved), with undo, and each photo as the page shows it.

A CSV classified with ``--detections`` is reviewed detection by detection: each box of a
photo is an item (its label corrected alone, the photo's other boxes drawn beside it), and a
photo without any is one item.
"""

from __future__ import annotations

import mimetypes
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from animalsort.errors import InputError, RowPathError
from animalsort.formats import corrections
from animalsort.formats.detection_rows import (
    DETECTION_CATEGORY,
    DETECTION_CONFIDENCE,
    EMPTY,
    NUMBER,
    checked_detections,
)
from animalsort.formats.detections import Detection
from animalsort.formats.journal import Locator
from animalsort.formats.predictions import box_of, file_of, format_time, read_predictions, read_sidecar
from animalsort.formats.thresholds import Thresholds
from animalsort.pages import thumbnails
from animalsort.sources.storage import open_path, read_bytes

VIEW_SIZE = 1600  # px: HEIC, TIFF and video frames are sent as JPEGs this large
SHOWN_AS_IS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".avif"})  # an <img> shows these


@dataclass(frozen=True)
class Item:
    path: str  # as in the CSV
    label: str  # the model's
    confidence: float
    others: tuple[tuple[str, float], ...]  # the other top-k labels
    frame_s: str  # a clip's best frame or a frame row's time; "" for photos
    box: tuple[float, float, float, float] | None = None  # where the animal is (--view frame, tiles; a detector's box)
    threshold: float = 0.0  # its label's (--min-confidence, or --thresholds)
    sure: bool = True  # its confidence reaches it (else sort sends it to _uncertain)
    detection: int | None = None  # --detections: the box's number in its photo (None: the whole photo)
    about: tuple[str, float] = ("", 0.0)  # --detections: the box's category and the detector's confidence
    beside: tuple[tuple[float, float, float, float, str], ...] = ()  # the photo's other boxes (x, y, w, h, key)

    @property
    def key(self) -> str:
        """What the page and the corrections name it by: its path, and a box's number after a NUL
        (which no path holds)."""
        return self.path if self.detection is None else f"{self.path}\0{self.detection}"

    def as_json(self) -> list[Any]:
        row: list[Any] = [self.key, self.label, self.confidence, self.others, self.frame_s, self.box]
        row += [self.threshold, self.sure]
        if self.detection is not None:
            row += [self.path, [self.detection, *self.about], self.beside]
        return row


class Decisions(ABC):
    """One decision per path (review's label, or audit mode's answer) in ``corrected``, and
    the stack that takes this session's back, last first; thread-safe. A session says how a
    decision is kept (``_write``)."""

    def __init__(self) -> None:
        self.corrected: dict[str, str] = {}
        self._undo: list[tuple[str, str]] = []  # (path, its decision before; "" = none)
        self._lock = threading.Lock()

    def _decide(self, path: str, decision: str) -> dict[str, Any]:
        with self._lock:
            previous = self.corrected.get(path, "")
            self._write(path, decision)
            self._undo.append((path, previous))
            return self._answer(path)

    def undo(self) -> dict[str, Any] | None:
        """Take back the last decision made in this session (None when there is none)."""
        with self._lock:
            if not self._undo:
                return None
            path, previous = self._undo.pop()
            self._write(path, previous)
            return self._answer(path)

    @abstractmethod
    def _write(self, path: str, decision: str) -> None:
        """Keep ``decision`` for ``path`` ("": none), on disk and in ``corrected``."""

    def _answer(self, path: str) -> dict[str, Any]:
        """What the page hears after a change to ``path``."""
        return {
            "path": path,
            "label": self.corrected.get(path, ""),
            "reviewed": len(self.corrected),
            "undo": len(self._undo),
        }


class Session(Decisions):
    """The classified rows of one CSV and their corrections; thread-safe."""

    def __init__(
        self, predictions: Path, src: Path | None = None, *, log: bool = True, thresholds: Thresholds | None = None
    ):
        """``log=False``: the rows and photos only (review's audit mode keeps its answers in the
        sample, not in PREDS.corrections.csv, which is then neither created nor written).
        ``thresholds``: which photos are uncertain (default: below --min-confidence 0.5)."""
        super().__init__()
        predictions = Path(predictions)
        if not predictions.is_file():
            raise InputError(f"{predictions}: no such predictions CSV; make one with `animalsort classify SRC -o FILE`")
        meta = read_sidecar(predictions)
        self.predictions = predictions
        self.src = Path(src) if src is not None else Path(meta["src"]) if meta.get("src") else predictions.parent
        self.items: list[Item] = []
        self._files: list[str] = []
        self.failed = 0
        self.refused: list[tuple[str, str]] = []  # rows leading outside SRC: never shown nor opened
        self.thresholds = thresholds or Thresholds()
        locate = Locator(predictions, self.src)
        for rows in _photos(read_predictions(predictions)):
            if rows[0].get("status") != "ok":
                self.failed += 1
                continue
            try:
                file = locate(file_of(rows[0]))
            except RowPathError as exc:
                self.refused.append((rows[0]["path"], str(exc)))
                continue
            found = _items(rows, self.thresholds)
            self.items += found
            self._files += [file] * len(found)
        self._index = {item.key: i for i, item in enumerate(self.items)}
        self.detections = any(item.detection is not None for item in self.items)
        fixes = corrections.read_all(predictions).items()
        self.corrected = {_key(p, n): c.label for (p, n), c in fixes if _key(p, n) in self._index}
        labels = set(_label_names(meta)) | {"no_animal"} | set(self.corrected.values())
        labels |= {item.label for item in self.items} | {lab for item in self.items for lab, _ in item.others}
        self.labels = sorted(labels, key=str.casefold)
        self._log = corrections.Log(predictions, self.detections) if log else None

    @property
    def corrections_file(self) -> Path:
        return corrections.corrections_path(self.predictions)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "csv": self.predictions.name,
                "items": [it.as_json() for it in self.items],
                "thresholds": self.thresholds.file.name if self.thresholds.file else None,
                "labels": self.labels,
                "corrected": dict(self.corrected),
                "failed": self.failed,
                "undo": len(self._undo),
            }

    def correct(self, path: str, label: str) -> dict[str, Any]:
        """Record ``label`` for the item ``path`` names (its key: a photo's path, or a box's,
        :attr:`Item.key`); accepting the model's label records it too."""
        if path not in self._index:
            raise KeyError(path)
        return self._decide(path, corrections.clean_label(label))

    def _write(self, path: str, label: str) -> None:
        """The corrections file gets a line (an empty label takes the correction back); a
        label the model does not have joins the choices."""
        item = self.items[self._index[path]]
        self._log.append(item.path, label, item.detection)
        if not label:
            self.corrected.pop(path, None)
            return
        self.corrected[path] = label
        if label not in self.labels:
            self.labels = sorted([*self.labels, label], key=str.casefold)

    def media(self, i: int) -> tuple[str, bytes] | None:
        """(content type, bytes) to show item ``i``: the file itself when a browser shows
        it, else a JPEG (HEIC, TIFF, a video's frame)."""
        item, path = self.items[i], self._files[i]
        ext = os.path.splitext(path)[1].lower()
        if not item.frame_s and ext in SHOWN_AS_IS:
            try:
                data = read_bytes(open_path("", path))
            except Exception:
                return None
            return mimetypes.guess_type(path)[0] or "application/octet-stream", data
        jpeg = thumbnails.thumbnail_jpeg(path, float(item.frame_s) if item.frame_s else None, size=VIEW_SIZE)
        return None if jpeg is None else ("image/jpeg", jpeg)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def _key(path: str, detection: int | None) -> str:
    return Item(path, "", 0.0, (), "", detection=detection).key


def _photos(rows: Iterable[dict[str, str]]) -> Iterator[list[dict[str, str]]]:
    """The rows of each photo: one, or its ``--rows detections`` rows (consecutive)."""
    pending: list[dict[str, str]] = []
    for row in rows:
        if pending and not (NUMBER in row and row["path"] == pending[0]["path"]):
            yield pending
            pending = []
        pending.append(row)
    if pending:
        yield pending


def _items(rows: list[dict[str, str]], thresholds: Thresholds) -> list[Item]:
    """A photo's items: one, or one per box (``--detections``), each knowing the others and
    whether its label reaches its threshold."""
    row = rows[0]
    if row.get(NUMBER) not in (None, "", EMPTY):  # --rows detections: a row per box, with its own top-k
        items = [
            Item(
                r["path"],
                r["label"],
                _float(r.get("confidence")),
                _others(r),
                r.get("frame_s") or "",
                box_of(r),
                detection=_number(r),
                about=(r[DETECTION_CATEGORY], _float(r[DETECTION_CONFIDENCE])),
            )
            for r in rows
        ]
    else:
        found = checked_detections(row) or []
        items = [
            Item(
                row["path"],
                d.label,
                d.confidence or 0.0,
                (),
                _time(d, row),
                d.bbox,
                detection=n,
                about=(d.category, d.conf),
            )
            for n, d in enumerate(found, start=1)
        ]
    if not items:
        frame_s = row.get("frame_s") or ""
        items = [Item(row["path"], row["label"], _float(row.get("confidence")), _others(row), frame_s, box_of(row))]
    else:
        beside = [tuple((*o.box, o.key) for o in items if o is not it and o.box) for it in items]
        items = [replace(it, beside=b) for it, b in zip(items, beside)]
    sure = [(thresholds.of(it.label), thresholds.sure(it.label, it.confidence)) for it in items]
    return [replace(it, threshold=t, sure=s) for it, (t, s) in zip(items, sure)]


def _time(d: Detection, row: dict[str, str]) -> str:
    return format_time(d.frame_s) if d.frame_s is not None else row.get("frame_s") or ""


def _number(row: dict[str, str]) -> int:
    try:
        return int(row[NUMBER])
    except ValueError:
        raise InputError(
            f"row {row['path']!r}: detection {row[NUMBER]!r} is not a box's number; classify again"
        ) from None


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _others(row: dict[str, str]) -> tuple[tuple[str, float], ...]:
    k, others = 2, []
    while row.get(f"label_{k}"):
        others.append((row[f"label_{k}"], float(row[f"confidence_{k}"] or 0)))
        k += 1
    return tuple(others)


def _label_names(meta: dict[str, Any]) -> list[str]:
    """The labels the model could have given (the sidecar's; older sidecars name the set)."""
    if isinstance(meta.get("label_names"), list):
        return [str(x) for x in meta["label_names"]]
    from animalsort.taxonomy import animal_labels, imagenet_labels

    named = {"animals": animal_labels, "imagenet": imagenet_labels}.get(meta.get("labels"))  # type: ignore[arg-type]
    return list(named().labels) if named else []
