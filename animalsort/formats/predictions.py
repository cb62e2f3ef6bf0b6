"""The predictions contract: the record every engine makes of a row (``Prediction``), its one
formatting into the CSV's columns (``prediction_row``, ``text_row``) and into the DataFrame the
API returns (``frame``), the streaming writer with ``--resume``, the reader, and the sidecar JSON.
Torch-free: sort and report read predictions without a model.

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from animalsort._version import __version__
from animalsort.atomic import atomic_write, write_text
from animalsort.errors import InputError, OutputError

if TYPE_CHECKING:
    import pandas as pd


#: Columns a finished run may add after the streamed ones (``--sequences``: bursts.py).
#: A resumed CSV drops them; they are computed again over the whole file at the end.
SEQUENCE_COLUMNS = ["sequence", "sequence_label", "sequence_confidence"]


#: With ``--view frame`` or ``tiles``: where the animal is, as fractions of the frame's width
#: and height (x, y from the top left), empty when the frame shows none (or for an error row);
#: then ``animal_score``, the evidence the decision used — the log-odds that the frame's most
#: animal-like spot shows an animal (``inference/looking.py``), empty for labels without
#: ``no_animal``.
BOX_COLUMNS = ["box_x", "box_y", "box_w", "box_h"]
LOOK_COLUMNS = [*BOX_COLUMNS, "animal_score"]


def header(top_k: int, boxes: bool = False) -> list[str]:
    """The streamed columns. ``frame_s``: a clip's best frame (or a frame row's own time) in
    seconds from its start, empty for photos; ``boxes``: the LOOK_COLUMNS after it."""
    cols = ["path", "label", "confidence"]
    for k in range(2, top_k + 1):
        cols += [f"label_{k}", f"confidence_{k}"]
    return cols + ["status", "error", "frame_s"] + (LOOK_COLUMNS if boxes else [])


@dataclass(frozen=True)
class Prediction:
    """One row of the predictions, before it is text: what every engine (local, Ray, the
    in-memory ``Classifier``) makes of a photo, a clip or a clip's frame, and what
    :func:`prediction_row` formats. Picklable and torch-free: Ray ships it between processes."""

    path: str  # the row's path: a file's (relative to SRC), a frame row's ``clip.mp4#t=3.00``
    ok: bool = True  # False: the file could not be read or classified (``error`` says why)
    error: str = ""
    labels: tuple[int, ...] = ()  # the top-k label indices, best first (empty for an error)
    confidences: tuple[float, ...] = ()  # their probabilities
    frame_s: float | None = None  # a clip's best frame, or a frame row's own time; None for a photo
    box: tuple[float, float, float, float] | None = None  # where the animal is (--view frame, tiles)
    animal_score: float | None = None  # the evidence the decision used (inference/looking.py)
    # --detections: each animal box's (label indices, confidences) in the order of the file's
    # detections, for a row taken from the JSON; None for any other row
    crops: tuple[tuple[tuple[int, ...], tuple[float, ...]], ...] | None = None

    @property
    def file(self) -> str:
        """The file the row is about: a frame row's clip."""
        return split_frame_path(self.path, format_time(self.frame_s)) if self.frame_s is not None else self.path


#: A row as :func:`prediction_row` (and ``formats/detection_rows``) make it: text, numbers (as the
#: model gave them: :func:`text_row` writes them to the column's decimals) and None for an empty cell.
Cell = str | int | float | None
Row = list[Cell]


def prediction_row(answer: Prediction, names: Sequence[str], top_k: int, boxes: bool = False) -> Row:
    """The one formatting of an :class:`Prediction` as a row of :func:`header`'s columns (label
    indices named by ``names``)."""
    if not answer.ok:
        return error_row(answer.path, answer.error, top_k, boxes)
    labels = [names[j] for j in answer.labels]
    return ok_row(
        answer.path, labels, answer.confidences, top_k, answer.frame_s, answer.box, boxes, answer.animal_score
    )


def ok_row(
    path: str,
    labels: Iterable[str],
    confidences: Iterable[float],
    top_k: int,
    frame_s: float | None = None,
    box: Sequence[float] | None = None,
    boxes: bool = False,
    score: float | None = None,
) -> Row:
    row: Row = [path]
    for lab, conf in zip(labels, confidences):
        row += [lab, conf]
    row += [None] * (1 + 2 * top_k - len(row))
    look = [*(box if box is not None else [None] * len(BOX_COLUMNS)), score]
    return row + ["ok", None, frame_s] + (look if boxes else [])


def error_row(path: str, error: str, top_k: int, boxes: bool = False) -> Row:
    return [path] + [None] * (2 * top_k) + ["error", error, None] + ([None] * len(LOOK_COLUMNS) if boxes else [])


#: The decimals a number is written with, by column (the others that hold numbers: 4).
DECIMALS = {"frame_s": 2, "animal_score": 2}
_FOUR = 4  # confidences and box coordinates


def decimals(column: str) -> int:
    return DECIMALS.get(column, _FOUR)


def text_row(columns: Sequence[str], row: Row) -> list[str]:
    """A row's cells as the CSV has them: numbers to their column's decimals (:data:`DECIMALS`;
    fixed, so a resumed CSV is byte-identical to an uninterrupted one), whole numbers as they
    are, an empty cell as ""."""
    return [cell_text(c, v) for c, v in zip(columns, row, strict=True)]


def cell_text(column: str, value: Cell) -> str:
    """One cell of ``column`` as the CSV has it (see :func:`text_row`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return str(value)
    return f"{float(value):.{decimals(column)}f}"


def frame(columns: Sequence[str], rows: Sequence[Row]) -> pd.DataFrame:
    """The rows as a DataFrame with the values and dtypes ``pandas.read_csv`` gives for the CSV
    they make (``path`` always text): numbers rounded to the CSV's decimals, empty cells NaN, a
    column of whole numbers int64 when none is empty, a column with no value at all float64."""
    import pandas as pd

    data: dict[str, pd.Series] = {}
    for k, column in enumerate(columns):
        cells = [None if r[k] == "" else r[k] for r in rows]
        if column == "path":
            data[column] = pd.Series(cells, dtype=str)
        elif any(isinstance(v, str) for v in cells):
            data[column] = pd.Series([float("nan") if v is None else str(v) for v in cells])
        elif cells and all(isinstance(v, Integral) for v in cells):
            data[column] = pd.Series(cells, dtype="int64")
        else:
            places = decimals(column)
            data[column] = pd.Series([None if v is None else round(float(v), places) for v in cells], dtype="float64")
    return pd.DataFrame(data, columns=list(columns)) if rows else _empty(columns)


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series([], dtype=str if c == "path" else object) for c in columns})


def box_cells(box: Sequence[float] | None) -> list[str]:
    """The box columns' text for ``box`` (empty cells for None)."""
    return text_row(BOX_COLUMNS, list(box) if box is not None else [None] * len(BOX_COLUMNS))


def box_of(row: dict[str, str]) -> tuple[float, float, float, float] | None:
    """A row's box (x, y, w, h as fractions of the frame), or None (also for one that does not read)."""
    try:
        x, y, w, h = (float(row[c]) for c in BOX_COLUMNS)
    except (KeyError, TypeError, ValueError):
        return None
    if not all(0.0 <= v <= 1.0 for v in (x, y, w, h)):  # NaN, or a hand edit out of the frame
        return None
    return x, y, w, h


def file_of(row: dict[str, str]) -> str:
    """The file a row is about: a frame row's clip (``clip.mp4#t=3.00`` → ``clip.mp4``)."""
    return split_frame_path(row["path"], row.get("frame_s") or "")


def prepare_output(out: Path) -> None:
    """Make the folder ``out`` goes in, or fail now with a line that says why (before a model
    is loaded for nothing)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot write {out}: {exc.strerror or exc}; choose another --out or fix the folder's permissions"
        ) from None


#: ``--sequences`` with ``--detections``: the most animals of the burst's label seen in one of
#: its photos (MaxN), after the sequence columns; made at the end like them.
SEQUENCE_COUNT = "sequence_count"

#: ``--detections --rows detections`` (``formats/detection_rows``): a box's number in its file,
#: whose rows then span several lines.
BOX_NUMBER = "detection"


class CsvWriter:
    """Streams rows to a CSV file (or a text stream), flushing after every batch.

    With ``resume`` an existing file is read back: complete rows are kept (a row cut off by a
    crash is dropped), and their paths are returned by :meth:`done` so they are not redone.
    ``extra``: columns after the streamed ones (``--detections``: ``detection_rows.columns``).
    """

    def __init__(
        self,
        out: Path | None,
        top_k: int,
        resume: bool = False,
        stream: IO[str] | None = None,
        boxes: bool = False,
        extra: Sequence[str] = (),
    ):
        self.out = out
        self.columns = header(top_k, boxes) + list(extra)
        self._done: list[str] = []
        kept: list[list[str]] | None = None
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
                    # The header and the complete rows, rewritten whole: a cut-off last row
                    # goes, and a file killed before its first row gets exactly one header.
                    self._rewrite(out, kept)
                    self._f = open(out, "a", newline="", encoding="utf-8", errors="surrogateescape")
                    self._done = list(dict.fromkeys(file_of(dict(zip(self.columns, r))) for r in kept))
            except OSError as exc:
                raise OutputError(
                    f"cannot write {out}: {exc.strerror or exc}; choose another --out or fix the folder's permissions"
                ) from None
        self._w = csv.writer(self._f)
        if kept is None:
            self._write([self.columns])

    def _read_back(self, out: Path) -> list[list[str]]:
        try:
            text = out.read_text(encoding="utf-8-sig", errors="surrogateescape")
        except OSError as exc:
            raise OutputError(f"cannot read {out} to resume: {exc.strerror or exc}") from None
        if "\n" not in text:
            return []  # empty, or killed while the header was being written
        records = list(csv.reader(io.StringIO(text, newline="")))
        found = records[0] if records else []
        # Columns are matched by name: a CSV from before frame_s, or one that a finished
        # --sequences run extended, resumes (the extra columns are made again at the end).
        base = [c for c in found if c not in (*SEQUENCE_COLUMNS, SEQUENCE_COUNT)]
        if base not in (self.columns, [c for c in self.columns if c != "frame_s"]):
            raise OutputError(
                f"cannot resume {out}: its columns {found} differ from "
                f"this run's {self.columns}; use the same --top-k and --view, or a new --out without --resume"
            )
        rows = records[1:]
        # The last record is complete only if the file ends with a line break after it.
        if rows and not text.endswith("\n"):
            rows.pop()
        where = [found.index(c) if c in found else None for c in self.columns]
        kept = [[r[i] if i is not None else "" for i in where] for r in rows if len(r) == len(found)]
        return _without_last_file_boxes(_without_last_clip_frames(kept, self.columns), self.columns)

    def _rewrite(self, out: Path, rows: list[list[str]]) -> None:
        """The header and ``rows``, replacing ``out`` in one step."""
        with atomic_write(out, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            w.writerows(rows)

    def done(self) -> list[str]:
        return self._done

    def _write(self, rows: list[list[str]]) -> None:
        try:
            self._w.writerows(rows)
            self._f.flush()
        except BrokenPipeError:
            raise  # the reader of stdout went away (`| head`): not a disk problem
        except OSError as exc:
            raise OutputError(
                f"cannot write to {self.out or 'stdout'}: {exc.strerror or exc}. The rows written "
                "so far are kept; free some space and rerun with --resume"
            ) from None

    def write(self, rows: Iterable[Row]) -> None:
        """Rows as :func:`prediction_row` makes them, written as text (:func:`text_row`) and flushed."""
        self._write([text_row(self.columns, r) for r in rows])

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


def _without_last_clip_frames(rows: list[list[str]], columns: list[str]) -> list[list[str]]:
    """Frame rows of the last clip may be only some of its frames (a batch cut off by a
    crash): they go, and the clip is classified again."""
    if not rows:
        return rows
    clip = file_of(dict(zip(columns, rows[-1])))
    if clip == rows[-1][0]:
        return rows  # a photo, or a whole clip's row
    while rows and file_of(dict(zip(columns, rows[-1]))) == clip:
        rows.pop()
    return rows


def _without_last_file_boxes(rows: list[list[str]], columns: list[str]) -> list[list[str]]:
    """``--rows detections`` (a row per box): the last file's rows may be only some of its
    boxes (a batch cut off by a crash): they go, and the file is classified again."""
    if not rows or BOX_NUMBER not in columns:
        return rows
    last = rows[-1][0]
    while rows and rows[-1][0] == last:
        rows.pop()
    return rows


def open_csv(path: Path) -> IO[str]:
    """A CSV file for ``csv`` to read: a spreadsheet's byte-order mark dropped, bytes that are not
    UTF-8 kept (surrogateescape); an InputError that names the file when it cannot be opened."""
    try:
        return open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_predictions(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a classify CSV as dicts (used by sort and report; no torch needed). A CSV saved
    again by a spreadsheet (Excel's "CSV UTF-8" starts with a byte-order mark, lines end in
    CR LF) reads the same. A classified row whose confidence does not read (:func:`checked`)
    stops the reading with an error naming its line, before any caller acts on it."""
    with open_csv(path) as f:
        reader = csv.DictReader(f)
        missing = {"path", "label", "confidence", "status"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(
                f"{path} is not an animalsort predictions CSV (no {', '.join(sorted(missing))} "
                "column); make one with `animalsort classify SRC --out FILE`"
            )
        for row in reader:
            yield checked(row, path, reader.line_num)


def parse_confidence(text: str | None) -> float:
    """The one rule for a confidence cell: a number from 0 to 1 (``0.8731``); ValueError for
    anything else — text, an empty cell, NaN, infinities, a number out of range."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ValueError(f"{text!r} is not a number from 0 to 1")
    return value


def checked(row: dict[str, str], path: Path, line: int) -> dict[str, str]:
    """``row`` as it is when every confidence it carries reads (each labelled one of a
    classified row, and the burst's); else an InputError naming the file, the line and the
    row — a hand-edited CSV is corrected, never half-used, never NaN in an export."""
    if row.get("status", "ok") != "ok":
        return row
    pairs = [("label", "confidence")] + [(f"label_{k}", f"confidence_{k}") for k in range(2, len(row))]
    pairs.append(("sequence_label", "sequence_confidence"))
    for label, column in pairs:
        if not row.get(label):
            continue
        try:
            parse_confidence(row.get(column))
        except ValueError as exc:
            raise InputError(
                f"{path}, line {line} ({row.get('path')!r}): {column} {exc}; correct it (a confidence is a "
                "number from 0 to 1, as classify writes it), or classify again"
            ) from None
    return row


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def write_sidecar(out: Path, record: dict[str, Any]) -> None:
    """``OUT.json``: what produced ``out`` (model, weights, options, counts, times)."""
    record = {"animalsort_version": __version__, **record}
    try:
        write_text(sidecar_path(out), json.dumps(record, indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {sidecar_path(out)}: {exc.strerror or exc}") from None


def read_sidecar(out: Path) -> dict[str, Any]:
    """The sidecar of ``out`` ({} when there is none or it cannot be read)."""
    try:
        return dict(json.loads(sidecar_path(out).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


FRAME_MARK = "#t="  # ``clip.mp4#t=12.00``: a frame row's path (a W3C media-fragment URI)


def frame_path(path: str, t: float) -> str:
    """The row path of the frame of ``path`` at ``t`` seconds."""
    return f"{path}{FRAME_MARK}{format_time(t)}"


def format_time(t: float) -> str:
    return f"{t:.2f}"


def split_frame_path(path: str, frame_s: str) -> str:
    """A frame row's path → its clip's path (photos and clip rows come back unchanged)."""
    suffix = f"{FRAME_MARK}{frame_s}" if frame_s else ""
    return path[: -len(suffix)] if suffix and path.endswith(suffix) else path
