"""The columns ``classify --detections`` adds to a predictions CSV, and the one reader every
command uses to get a row's detections.

``--rows files`` (one row per file, as without detections): the row's label, confidence and
box are its primary detection's (:func:`primary`), then

- ``count``: the animals in the photo (detections whose label is an animal's);
- ``labels``: every label in the photo with its count, ``deer:2;person:1``: animal labels by
  count (most first, then by name), then ``person``, then ``vehicle`` (a ``;`` or ``%`` in a
  label is written ``%3B`` / ``%25``); empty for a photo without any;
- ``detections``: all of them, as a JSON list of objects in MegaDetector's own terms plus the
  label: ``{"label":"deer","confidence":0.9312,"category":"animal","conf":0.88,
  "bbox":[0.1,0.2,0.3,0.4]}`` (and ``"frame_s"`` in a clip: its frame, in seconds), most
  confident detection first; detection N of the photo is the Nth. JSON, because a label may
  hold any character and every language and spreadsheet tool reads it; MegaDetector's own CSV
  conversion (``convert_output_format.py``) carries boxes the same way.

``--rows detections`` (one row per detection): the row's label, top-k and box are the
detection's, then ``detection`` (its number in the photo, from 1), ``detection_confidence``
and ``detection_category``; a photo with no detection is one ``no_animal`` row whose
``detection`` is ``0`` (the other two empty). A clip's detection row has its frame's time in
``frame_s``. :func:`photo_rows` folds such rows back into one row per photo, so every reader
sees the ``--rows files`` form.

A photo with no detection is ``no_animal`` with confidence 1 − the best detection confidence
below the threshold (how sure the detector was that nothing is there); one whose every box
the classifier calls ``no_animal`` is ``no_animal`` at that crop's confidence, without a box.
A file no detector looked at (the JSON does not list it: classified whole, as without
detections) or that could not be read has all these cells empty (:func:`unseen_cells`):
readers treat it as a row without detections, by its one label.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from animalsort.errors import InputError
from animalsort.formats.detections import CATEGORIES, Detection
from animalsort.formats.predictions import BOX_COLUMNS, BOX_NUMBER, Row, ok_row, text_row

COUNT, LABELS, DETECTIONS = "count", "labels", "detections"
FILES_COLUMNS = [COUNT, LABELS, DETECTIONS]
NUMBER, DETECTION_CONFIDENCE, DETECTION_CATEGORY = BOX_NUMBER, "detection_confidence", "detection_category"
DETECTION_COLUMNS = [NUMBER, DETECTION_CONFIDENCE, DETECTION_CATEGORY]
ROWS = ("files", "detections")
EMPTY = "0"  # ``detection`` of the one row of a photo the detector saw empty
NO_ANIMAL = "no_animal"
_RANK = {"animal": 0, "person": 1, "vehicle": 2}


def columns(rows: str) -> list[str]:
    """The columns ``--detections`` adds after the others, for ``--rows files|detections``."""
    if rows not in ROWS:
        raise ValueError(f"rows is one of {ROWS}, not {rows!r}")
    return FILES_COLUMNS if rows == "files" else DETECTION_COLUMNS


def is_animal(d: Detection) -> bool:
    return d.category == "animal" and d.label != NO_ANIMAL


def primary(detections: Sequence[Detection]) -> Detection | None:
    """The detection a photo's row is labelled by: an animal beats a person beats a vehicle;
    among them the most confident label (a person's, from review, first), then the most
    confident detection. None when the photo has no detection with a label other than no_animal."""
    named = [d for d in detections if d.label and d.label != NO_ANIMAL]
    if not named:
        return None
    return min(named, key=lambda d: (_RANK.get(d.category, 3), not d.reviewed, -(d.confidence or 0.0), -d.conf))


def label_counts(detections: Iterable[Detection]) -> list[tuple[str, int]]:
    """(label, count) of every label in the photo, in the ``labels`` column's order."""
    counts = Counter((_RANK.get(d.category, 3), d.label) for d in detections if d.label and d.label != NO_ANIMAL)
    return [(lab, n) for (_, lab), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))]


def label_confidences(detections: Iterable[Detection]) -> dict[str, float]:
    """Each label in a photo (no_animal aside) with its confidence: its most confident
    detection's, 1.0 where a person gave it; in the detections' order."""
    best: dict[str, float] = {}
    for d in detections:
        if d.label and d.label != NO_ANIMAL:
            best[d.label] = max(best.get(d.label, 0.0), 1.0 if d.reviewed else d.confidence or 0.0)
    return best


def empty_confidence(below: float) -> float:
    """The no_animal confidence of a photo with no detection at or above the threshold."""
    return 1.0 - below


# --------------------------------------------------------------------------- writing

Ranked = Sequence[tuple[str, float]]  # a crop's labels, most likely first (the classifier's top-k)


def files_row(
    path: str, detections: Sequence[Detection], top_k: int, ranked: Sequence[Ranked] | None = None, below: float = 0.0
) -> Row:
    """A ``--rows files`` row (for ``CsvWriter(boxes=True, extra=columns("files"))``): the
    primary detection's label, top-k and box, then ``count``, ``labels``, ``detections``.
    ``ranked``: each detection's top-k (default: its own label); ``below``: the best
    confidence below the threshold (an empty photo's no_animal confidence)."""
    tops = _tops(detections, ranked)
    top = primary(detections)
    if top is not None:
        k = next(i for i, d in enumerate(detections) if d is top)
        labels, box, frame = tops[k], top.bbox, top.frame_s
    elif detections:  # every box is no_animal: the surest of them, without its box
        labels, box, frame = max(tops, key=lambda t: t[0][1]), None, None
    else:
        labels, box, frame = [(NO_ANIMAL, empty_confidence(below))], None, None
    head = ok_row(path, *_columns(labels, top_k), top_k, frame, box=box, boxes=True)
    return head + files_cells(detections)


def detection_rows(
    path: str, detections: Sequence[Detection], top_k: int, ranked: Sequence[Ranked] | None = None, below: float = 0.0
) -> list[Row]:
    """A photo's ``--rows detections`` rows: one per detection, in order (its top-k, its box,
    ``detection``, ``detection_confidence``, ``detection_category``), or one no_animal row."""
    if not detections:
        labels = [(NO_ANIMAL, empty_confidence(below))]
        return [ok_row(path, *_columns(labels, top_k), top_k, box=None, boxes=True) + detection_cells(0, None)]
    return [
        ok_row(path, *_columns(labels, top_k), top_k, d.frame_s, box=d.bbox, boxes=True) + detection_cells(n, d)
        for n, (d, labels) in enumerate(zip(detections, _tops(detections, ranked)), start=1)
    ]


def _tops(detections: Sequence[Detection], ranked: Sequence[Ranked] | None) -> list[Ranked]:
    if ranked is None:
        return [[(d.label, d.confidence or 0.0)] for d in detections]
    if len(ranked) != len(detections):
        raise ValueError(f"{len(ranked)} top-k lists for {len(detections)} detections")
    return [r or [(d.label, d.confidence or 0.0)] for d, r in zip(detections, ranked)]


def _columns(ranked: Ranked, top_k: int) -> tuple[list[str], list[float]]:
    return [lab for lab, _ in ranked[:top_k]], [c for _, c in ranked[:top_k]]


def files_cells(detections: Sequence[Detection]) -> Row:
    """``count``, ``labels`` and ``detections`` of a ``--rows files`` row."""
    count = sum(1 for d in detections if is_animal(d))
    labels = ";".join(f"{_escape(lab)}:{n}" for lab, n in label_counts(detections))
    return [count, labels, encode(detections)]


def detection_cells(number: int | None, d: Detection | None) -> Row:
    """``detection``, ``detection_confidence`` and ``detection_category`` of a ``--rows
    detections`` row; for a photo the detector saw empty, its one row's are ``0``, "", "";
    with ``number`` None (a file no detector looked at, an error row) all three are empty."""
    if number is None:
        return [None, None, None]
    if d is None:
        return [int(EMPTY), None, None]
    return [number, d.conf, d.category]


def unseen_cells(rows: str) -> Row:
    """The cells ``--detections`` adds to the row of a file no detector looked at (one the JSON
    does not list, classified whole as without detections) or to an error row: all empty."""
    return [None] * len(columns(rows))


def encode(detections: Sequence[Detection]) -> str:
    """The ``detections`` cell (see the module's text); "[]" for a photo without any."""
    return json.dumps([_as_json(d) for d in detections], separators=(",", ":"), ensure_ascii=False)


def _as_json(d: Detection) -> dict[str, Any]:
    out: dict[str, Any] = {"label": d.label, "confidence": round(d.confidence or 0.0, 4)}
    out.update(category=d.category, conf=round(d.conf, 4), bbox=[round(v, 4) for v in d.bbox])
    if d.frame_s is not None:
        out["frame_s"] = round(d.frame_s, 4)
    if d.reviewed:
        out["reviewed"] = True
    return out


def _escape(label: str) -> str:
    return label.replace("%", "%25").replace(";", "%3B")


# --------------------------------------------------------------------------- reading


def has_detections(columns: Iterable[str]) -> bool:
    """Whether a CSV with these columns was classified with ``--detections``."""
    names = set(columns)
    return DETECTIONS in names or NUMBER in names


def detections_of(row: dict[str, str]) -> list[Detection] | None:
    """The detections of a ``--rows files`` row (or of one folded by :func:`photo_rows`): None
    for a row no detector looked at (a CSV made without ``--detections``, a file the JSON does
    not list, an error row: its one label is all it has); ValueError for a cell that does not
    read (a hand edit), saying why."""
    cell = row.get(DETECTIONS)
    if not cell or row.get("status", "ok") != "ok":
        return None
    return decode(cell)


def checked_detections(row: dict[str, str]) -> list[Detection] | None:
    """:func:`detections_of`, with a cell that does not read an InputError naming the row."""
    try:
        return detections_of(row)
    except ValueError as exc:
        raise InputError(f"row {row['path']!r}: {exc}; correct it, or classify again") from None


def decode(cell: str) -> list[Detection]:
    try:
        items = json.loads(cell or "[]")
    except ValueError:
        raise ValueError(f"the detections cell {cell[:60]!r} is not JSON") from None
    if not isinstance(items, list):
        raise ValueError(f"the detections cell {cell[:60]!r} is not a list")
    return [_from_json(item, k) for k, item in enumerate(items, start=1)]


def _from_json(item: Any, k: int) -> Detection:
    what = f"detection {k} of the detections cell"
    try:
        box = tuple(float(v) for v in item["bbox"])
        frame = item.get("frame_s")
        d = Detection(
            str(item["category"]),
            float(item["conf"]),
            box,  # type: ignore[arg-type]
            float(frame) if frame is not None else None,
            str(item["label"]),
            float(item["confidence"]),
            bool(item.get("reviewed", False)),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{what} lacks a label, confidence, category, conf or bbox, or one does not read") from None
    if d.category not in CATEGORIES:
        raise ValueError(f"{what}: category {d.category!r} is not one of {', '.join(CATEGORIES)}")
    if len(box) != 4 or not all(0.0 <= v <= 1.0 for v in (*box, d.conf, d.confidence or 0.0)):
        raise ValueError(f"{what}: its bbox {list(box)}, conf or confidence is not a box in the frame or a number 0-1")
    return d


def photo_rows(rows: Iterable[dict[str, str]]) -> Iterator[dict[str, str]]:
    """``rows`` with each photo's ``--rows detections`` rows (consecutive, one path) folded into
    one ``--rows files`` row: the primary detection's row, with ``count``, ``labels`` and
    ``detections``. Other rows pass unchanged."""
    pending: list[dict[str, str]] = []
    for row in rows:
        if NUMBER not in row:
            yield row
            continue
        if pending and row["path"] != pending[0]["path"]:
            yield fold(pending)
            pending = []
        pending.append(row)
    if pending:
        yield fold(pending)


def fold(rows: list[dict[str, str]]) -> dict[str, str]:
    """One photo's ``--rows detections`` rows as its ``--rows files`` row (a row no detector
    looked at, ``detection`` empty, stays one with empty detection cells)."""
    if not rows[0].get(NUMBER):
        return {**{k: v for k, v in rows[0].items() if k not in DETECTION_COLUMNS}, **dict.fromkeys(FILES_COLUMNS, "")}
    found = [(row, _row_detection(row)) for row in rows if row.get(NUMBER) != EMPTY]
    detections = [d for _, d in found]
    top = primary(detections)
    if top is not None:
        base = next(row for row, d in found if d is top)
    else:  # an empty photo's row, or the surest of boxes that are all no_animal (without its box)
        base = max(rows, key=lambda r: float(r.get("confidence") or 0.0))
    out = {k: v for k, v in base.items() if k not in DETECTION_COLUMNS}
    if top is None and found:
        out.update(dict.fromkeys(BOX_COLUMNS, ""))
    ok = base.get("status", "ok") == "ok"
    out.update(zip(FILES_COLUMNS, text_row(FILES_COLUMNS, files_cells(detections)) if ok else ["", "", ""]))
    return out


def _row_detection(row: dict[str, str]) -> Detection:
    """A ``--rows detections`` row's detection (a cell that does not read: InputError naming the row)."""
    frame_s = row.get("frame_s") or ""
    try:
        return Detection(
            row[DETECTION_CATEGORY],
            float(row[DETECTION_CONFIDENCE]),
            tuple(float(row[c]) for c in BOX_COLUMNS),  # type: ignore[arg-type]
            float(frame_s) if frame_s else None,
            row["label"],
            float(row.get("confidence") or 0.0),
        )
    except (KeyError, ValueError):
        raise InputError(
            f"row {row.get('path')!r}, detection {row.get(NUMBER)!r}: its box, detection_confidence or frame_s "
            "does not read; correct it, or classify again"
        ) from None
