"""A review session: the rows of a predictions CSV and a person's corrections to them
(``formats/corrections``: every change is appended to ``PREDS.corrections.csv`` and on disk
before the page hears it was saved), with undo, and each photo as the page shows it.
"""

from __future__ import annotations

import mimetypes
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from animalsort.errors import InputError, RowPathError
from animalsort.formats import corrections
from animalsort.formats.journal import Locator
from animalsort.formats.predictions import box_of, file_of, read_predictions, read_sidecar
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
    box: tuple[float, float, float, float] | None = None  # where the animal is (--view frame, tiles)
    threshold: float = 0.0  # its label's (--min-confidence, or --thresholds)
    sure: bool = True  # its confidence reaches it (else sort sends it to _uncertain)


class Session:
    """The classified rows of one CSV and their corrections; thread-safe."""

    def __init__(
        self, predictions: Path, src: Path | None = None, *, log: bool = True, thresholds: Thresholds | None = None
    ):
        """``log=False``: the rows and photos only (review's audit mode keeps its answers in the
        sample, not in PREDS.corrections.csv, which is then neither created nor written).
        ``thresholds``: which photos are uncertain (default: below --min-confidence 0.5)."""
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
        for row in read_predictions(predictions):
            if row.get("status") != "ok":
                self.failed += 1
                continue
            try:
                file = locate(file_of(row))
            except RowPathError as exc:
                self.refused.append((row["path"], str(exc)))
                continue
            self.items.append(_item(row, self.thresholds))
            self._files.append(file)
        self._index = {item.path: i for i, item in enumerate(self.items)}
        self.corrected = {p: c.label for p, c in corrections.read(predictions).items() if p in self._index}
        labels = set(_label_names(meta)) | {"no_animal"} | set(self.corrected.values())
        labels |= {item.label for item in self.items} | {lab for item in self.items for lab, _ in item.others}
        self.labels = sorted(labels, key=str.casefold)
        self._log = corrections.Log(predictions) if log else None
        self._undo: list[tuple[str, str]] = []  # (path, its label before the change; "" = unreviewed)
        self._lock = threading.Lock()

    @property
    def corrections_file(self) -> Path:
        return corrections.corrections_path(self.predictions)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "csv": self.predictions.name,
                "items": [
                    [it.path, it.label, it.confidence, it.others, it.frame_s, it.box, it.threshold, it.sure]
                    for it in self.items
                ],
                "thresholds": self.thresholds.file.name if self.thresholds.file else None,
                "labels": self.labels,
                "corrected": dict(self.corrected),
                "failed": self.failed,
                "undo": len(self._undo),
            }

    def correct(self, path: str, label: str) -> dict[str, Any]:
        """Record ``label`` for ``path`` (accepting the model's label records it too)."""
        if path not in self._index:
            raise KeyError(path)
        label = corrections.clean_label(label)
        with self._lock:
            previous = self.corrected.get(path, "")
            self._log.append(path, label)
            self.corrected[path] = label
            self._undo.append((path, previous))
            if label not in self.labels:
                self.labels = sorted([*self.labels, label], key=str.casefold)
            return self._answer(path)

    def undo(self) -> dict[str, Any] | None:
        """Take back the last correction made in this session (None when there is none)."""
        with self._lock:
            if not self._undo:
                return None
            path, previous = self._undo.pop()
            self._log.append(path, previous)
            if previous:
                self.corrected[path] = previous
            else:
                self.corrected.pop(path, None)
            return self._answer(path)

    def _answer(self, path: str) -> dict[str, Any]:
        return {
            "path": path,
            "label": self.corrected.get(path, ""),
            "reviewed": len(self.corrected),
            "undo": len(self._undo),
        }

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


def _item(row: dict[str, str], thresholds: Thresholds) -> Item:
    """A classified row as the page shows it, with whether its label reaches its threshold."""
    others, k = [], 2
    while row.get(f"label_{k}"):
        others.append((row[f"label_{k}"], float(row[f"confidence_{k}"] or 0)))
        k += 1
    label, conf, frame_s = row["label"], float(row.get("confidence") or 0), row.get("frame_s") or ""
    threshold, sure = thresholds.of(label), thresholds.sure(label, conf)
    return Item(row["path"], label, conf, tuple(others), frame_s, box_of(row), threshold, sure)


def _label_names(meta: dict[str, Any]) -> list[str]:
    """The labels the model could have given (the sidecar's; older sidecars name the set)."""
    if isinstance(meta.get("label_names"), list):
        return [str(x) for x in meta["label_names"]]
    from animalsort.taxonomy import animal_labels, imagenet_labels

    named = {"animals": animal_labels, "imagenet": imagenet_labels}.get(meta.get("labels"))  # type: ignore[arg-type]
    return list(named().labels) if named else []
