"""Bursts: photos of one folder taken seconds apart, labelled together (``--sequences``).

Camera traps and phones shoot a few frames per trigger; the animal may be sharp in one and
half out of the picture, or gone, in the next. Grouping them and voting gives every frame
the burst's answer, as camera-trap tools do.

- Capture time: EXIF DateTimeOriginal (with SubSecTimeOriginal and OffsetTimeOriginal when
  present; a time without an offset is taken as this machine's local time), else the file's
  modification time. Which one each photo used is counted in the sidecar.
- Grouping: within one folder, photos sorted by capture time; a photo more than ``gap``
  seconds after the previous one starts a new sequence. Clips and unreadable files are in no
  sequence. Where two photos without EXIF share one modification time, the folder's files
  were copied without their times (a plain ``cp``, an unzip): those mtimes say nothing about
  when the photos were taken, so such photos are not chained (each is a sequence of one;
  the sidecar counts them as ``copied_times``).
- The vote: each photo votes for its label with its confidence. ``no_animal`` votes count only
  when no photo of the burst shows an animal (the frame where the animal left keeps the
  burst's label). ``sequence_label`` is the label with the most votes; ``sequence_confidence``
  its votes divided by the photos that voted (agreement × confidence).

Torch-free: classify runs it over its finished CSV, sort over a CSV given with ``--from``.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image

from animalsort.errors import RowPathError
from animalsort.formats import detection_rows
from animalsort.formats.predictions import cell_text, checked
from animalsort.paths import RowPaths
from animalsort.sources.decode import apply_pixel_limit

DEFAULT_GAP = 10.0  # seconds between two photos of one burst, at most
NO_ANIMAL = "no_animal"

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL, _SUBSEC_ORIGINAL, _OFFSET_ORIGINAL = 0x9003, 0x9291, 0x9011
_DATETIME = 0x0132  # IFD0 DateTime: what some cameras write instead


def capture_time(path: str | os.PathLike[str]) -> tuple[float, str]:
    """(seconds since the epoch, "exif" or "mtime") for one photo."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            stamp = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
            if stamp:
                return _parse(str(stamp), sub.get(_SUBSEC_ORIGINAL), sub.get(_OFFSET_ORIGINAL)), "exif"
    except Exception:  # no EXIF, a corrupt block, not an image Pillow reads: the file's time
        pass
    return os.stat(path).st_mtime, "mtime"


def _parse(stamp: str, subsec: object, offset: object) -> float:
    when = datetime.strptime(stamp.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    if subsec:
        digits = "".join(ch for ch in str(subsec) if ch.isdigit())
        if digits:
            when += timedelta(seconds=int(digits) / 10 ** len(digits))
    if offset:
        text = str(offset).strip("\x00 ")
        try:
            sign = -1 if text.startswith("-") else 1
            hours, minutes = text.lstrip("+-").split(":")
            tz = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
            return when.replace(tzinfo=tz).timestamp()
        except ValueError:
            pass
    return time.mktime(when.timetuple()) + when.microsecond / 1e6


@dataclass
class Sequences:
    """The three columns for every row (in the CSV's order) and what they were made from."""

    columns: list[list[str]]  # per row: sequence, sequence_label, sequence_confidence ("" when none)
    count: int = 0  # sequences (a photo alone is a sequence of one)
    time_source: Counter[str] = field(default_factory=Counter)  # "exif" / "mtime" → photos
    gap: float = DEFAULT_GAP
    copied_times: int = 0  # photos timed by an mtime their folder shares: each a sequence of its own


def group(rows: list[dict[str, str]], root: Path, gap: float = DEFAULT_GAP, workers: int = 8) -> Sequences:
    """Sequences over classify ``rows`` whose files are under ``root`` (a row leading outside
    it, ``paths.RowPaths``, is in no sequence: its file is not opened)."""
    result = Sequences([["", "", ""] for _ in rows], gap=gap)
    by_folder: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
    for i, (when, source) in _times(rows, root, workers).items():
        result.time_source[source] += 1
        by_folder[os.path.dirname(rows[i]["path"])].append((when, source, i))
    bursts: list[list[int]] = []
    for folder in sorted(by_folder):
        bursts += _chained(sorted(by_folder[folder]), gap, result)
    bursts.sort(key=min)  # numbered in the CSV's order
    for n, members in enumerate(bursts, start=1):
        label, confidence = vote_of([(rows[i]["label"], float(rows[i]["confidence"] or 0)) for i in members])
        for i in members:
            result.columns[i] = [str(n), label, cell_text("sequence_confidence", confidence)]
    result.count = len(bursts)
    return result


def _times(rows: list[dict[str, str]], root: Path, workers: int) -> dict[int, tuple[float, str]]:
    """Row index → (capture time, its source) of every classified photo whose file is there."""
    from concurrent.futures import ThreadPoolExecutor

    apply_pixel_limit()  # a 102 MP photo's EXIF is read like any other's
    paths = RowPaths(root)
    files: dict[int, str] = {}
    for i, r in enumerate(rows):
        if r.get("status") == "ok" and not r.get("frame_s"):
            try:
                files[i] = paths.resolve(r["path"])
            except RowPathError:
                continue
    with ThreadPoolExecutor(max(1, workers)) as pool:  # header reads: I/O bound
        times = dict(zip(files, pool.map(_time_or_none, files.values())))
    return {i: t for i, t in times.items() if t is not None}


def _chained(photos: list[tuple[float, str, int]], gap: float, result: Sequences) -> list[list[int]]:
    """One folder's bursts from its (time, source, row) in time order: a photo more than ``gap``
    after the previous one starts a new burst. Photos copied without their times (``cp``, an
    unzip) share one modification time: where two mtime-timed photos have the same, no
    mtime in the folder is a capture time, and those photos are not chained at all."""
    mtimes = [when for when, source, _ in photos if source == "mtime"]
    copied = len(set(mtimes)) < len(mtimes)
    bursts: list[list[int]] = []
    members: list[int] = []
    previous = None
    for when, source, i in photos:
        if copied and source == "mtime":
            bursts.append([i])
            result.copied_times += 1
            continue
        if previous is not None and when - previous > gap:
            bursts.append(members)
            members = []
        members.append(i)
        previous = when
    return bursts + ([members] if members else [])


def vote_of(votes: list[tuple[str, float]]) -> tuple[str, float]:
    """(label, confidence) of a burst from its photos' (label, confidence)."""
    animal = [(lab, c) for lab, c in votes if lab != NO_ANIMAL]
    counted = animal or votes
    tally: Counter[str] = Counter()
    for lab, c in counted:
        tally[lab] += c
    label = max(sorted(tally), key=lambda lab: tally[lab])
    return label, tally[label] / len(counted)


def _time_or_none(path: str) -> tuple[float, str] | None:
    try:
        return capture_time(path)
    except OSError:  # gone since it was classified
        return None


def annotate(csv_path: Path, root: Path, gap: float = DEFAULT_GAP) -> Sequences:
    """Add (or redo) the sequence columns of a finished classify CSV, replacing it in one step.
    A CSV classified with ``--detections`` is grouped photo by photo (its ``--rows detections``
    rows folded) and gets ``sequence_count`` too: the most animals of the burst's label seen in
    one of its photos (MaxN)."""
    import csv

    from animalsort.atomic import atomic_write
    from animalsort.formats.predictions import SEQUENCE_COLUMNS, SEQUENCE_COUNT

    with open(csv_path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f)
        records = [(r, reader.line_num) for r in reader]
    found, body = records[0][0], records[1:]
    keep = [k for k, c in enumerate(found) if c not in (*SEQUENCE_COLUMNS, SEQUENCE_COUNT)]
    columns = [found[k] for k in keep]
    rows = [[r[k] for k in keep] for r, _ in body]
    dicts = [checked(dict(zip(columns, r)), csv_path, line) for r, (_, line) in zip(rows, body)]
    if not detection_rows.has_detections(columns):
        result = group(dicts, Path(root), gap)
        added = SEQUENCE_COLUMNS
    else:
        result = _group_photos(dicts, Path(root), gap)
        added = [*SEQUENCE_COLUMNS, SEQUENCE_COUNT]
    with atomic_write(csv_path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(columns + added)
        w.writerows(r + extra for r, extra in zip(rows, result.columns))
    return result


def _group_photos(rows: list[dict[str, str]], root: Path, gap: float) -> Sequences:
    """:func:`group` over the photos of a CSV classified with ``--detections`` (a photo's
    ``--rows detections`` rows folded into one), each row's columns then ending with its
    burst's MaxN."""
    spans: list[list[int]] = []  # the rows of each photo
    for i, row in enumerate(rows):
        if spans and detection_rows.NUMBER in row and row["path"] == rows[spans[-1][0]]["path"]:
            spans[-1].append(i)
        else:
            spans.append([i])
    photos = [
        detection_rows.fold([rows[i] for i in span]) if detection_rows.NUMBER in rows[span[0]] else rows[span[0]]
        for span in spans
    ]
    result = group(photos, root, gap)
    most: Counter[tuple[str, str]] = Counter()  # (burst, its label) → the most of that label in one photo
    for photo, (burst, label, _) in zip(photos, result.columns):
        if burst:
            found = detection_rows.checked_detections(photo) or []
            most[burst, label] = max(most[burst, label], sum(1 for d in found if d.label == label))
    columns: list[list[str]] = []
    for span, (burst, label, confidence) in zip(spans, result.columns):
        columns += [[burst, label, confidence, str(most[burst, label]) if burst else ""] for _ in span]
    result.columns = columns
    return result


def record(result: Sequences) -> dict[str, object]:
    """The sidecar's ``sequences``."""
    return {
        "gap_s": result.gap,
        "count": result.count,
        "capture_time": {"exif": result.time_source["exif"], "mtime": result.time_source["mtime"]},
        "capture_time_rule": "EXIF DateTimeOriginal (local time unless OffsetTimeOriginal), else the file's mtime; "
        "in a folder where two photos without EXIF share one mtime (copied without their times), those photos "
        "are not chained",
        "copied_times": result.copied_times,
        "label_rule": "confidence-weighted vote of the burst's photos; no_animal votes count only when no photo "
        "shows an animal; confidence = the label's votes / photos that voted",
    }


def with_sequences(rows: list[dict[str, str]], src: Path, gap: float, csv_path: Path | None) -> list[dict[str, str]]:
    """``rows`` with the sequence columns: the CSV's own when its sidecar says they were made
    with this gap, else computed now (the CSV is not changed). ``sort --by-sequence`` uses it."""
    from animalsort.formats.predictions import SEQUENCE_COLUMNS, read_sidecar

    made = read_sidecar(csv_path).get("sequences") if csv_path is not None else None
    if rows and all(c in rows[0] for c in SEQUENCE_COLUMNS) and made and made.get("gap_s") == gap:
        return rows
    result = group(rows, src, gap)
    return [{**row, **dict(zip(SEQUENCE_COLUMNS, extra))} for row, extra in zip(rows, result.columns)]
