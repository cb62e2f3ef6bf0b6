"""A person's answers in an audit sample, as labels: ``PREDS.sample.csv`` (what ``animalsort
audit sample PREDS.csv`` writes beside the CSV) and its ``truth`` column, filled in review's
audit mode or in a spreadsheet.

An answer is a label as the model spells it (``Red fox`` and ``red-fox`` are ``red_fox``),
``no_animal`` (``not an animal``, review's N), ``can't tell`` (not a label: left out), or
empty (not answered yet); anything else is an error naming its rows. Its time is its
``answered_at`` (review writes it with the answer), else the file's last save: before a sample
is written again, its answers without a time get that one (:func:`date_answers`), so that
rewriting the file never makes an old answer newer. ``corrections.read`` weighs them against
review's corrections by that time. No torch.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from animalsort.errors import InputError
from animalsort.formats.predictions import open_csv, read_predictions, read_sidecar, sidecar_path

SUFFIX = ".sample.csv"
COLUMNS = ("path", "label", "confidence", "stratum", "rows_in_stratum", "truth")  # a sample's, at least
ANSWERED_AT = "answered_at"  # an optional column: when review took the answer (ISO 8601, UTC)
NO_ANIMAL = "no_animal"
CANT_TELL = "can't tell"
CANT_TELL_SPELLINGS = frozenset({CANT_TELL, "cant tell", "?"})
NO_ANIMAL_SPELLINGS = frozenset({"not an animal", "no animal"})
SHOWN_PROBLEMS = 5


def sample_path(predictions: Path) -> Path:
    """``preds.csv`` → ``preds.sample.csv`` (beside it)."""
    predictions = Path(predictions)
    return predictions.with_name(predictions.stem + SUFFIX)


@dataclass(frozen=True)
class Answer:
    label: str  # a label or no_animal (never can't tell)
    answered_at: str  # ISO 8601, UTC


class Truths:
    """Reads a truth as a person wrote it: the model's spelling of a label, no_animal, or can't tell."""

    def __init__(self, labels: Iterable[str]):
        self.labels = sorted(set(labels) | {NO_ANIMAL}, key=str.casefold)
        self._canonical = {_key(lab): lab for lab in self.labels}

    def __call__(self, text: str) -> str | None:
        """The answer (a label, NO_ANIMAL, CANT_TELL, or "" for none yet), or None when it is none of these."""
        text = " ".join(text.split())
        said = text.casefold().replace("’", "'")
        if not text:
            return ""
        if said in CANT_TELL_SPELLINGS:
            return CANT_TELL
        if said in NO_ANIMAL_SPELLINGS:
            return NO_ANIMAL
        return self._canonical.get(_key(text))

    def refuse(self, sample: Path, problems: list[str]) -> InputError:
        """The error for the rows whose truth is none of the answers (``problems``: one per row)."""
        more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        shown = ", ".join(self.labels[:40])
        if len(self.labels) > 40:
            shown += f", … ({len(self.labels)} labels: the CSV's sidecar lists them)"
        return InputError(
            f"{sample}: a truth must be one of the model's labels, no_animal or can't tell; not "
            + "; ".join(problems[:SHOWN_PROBLEMS])
            + more
            + f". Its labels: {shown} (other_animal, where it has one, for an animal it has no label for)"
        )


def _key(label: str) -> str:
    return "_".join(label.casefold().replace("-", " ").split())


def is_sample(path: Path) -> bool:
    """Whether ``path`` is an audit sample (its header has a sample's columns)."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
            header = next(csv.reader(f), [])
    except OSError:
        return False
    return set(COLUMNS) <= set(header)


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A sample's columns and rows (a spreadsheet's byte-order mark and its own columns kept)."""
    with open_csv(path) as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or ())
        if not set(COLUMNS) <= set(columns):
            raise InputError(
                f"{path} is not an audit sample (its columns are {columns}, a sample has {', '.join(COLUMNS)}); "
                "make one with `animalsort audit sample PREDS.csv`"
            )
        return columns, [{c: (r.get(c) or "") for c in columns} for r in reader]


def date_answers(path: Path, columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    """Before ``path`` is written again: its answered rows without a time get the time of the
    file's last save (now for a new file). Returns the columns, ``answered_at`` added once a
    row is answered."""
    try:
        saved = _iso(os.stat(path).st_mtime)
    except OSError:
        saved = now()
    untimed = [r for r in rows if r.get("truth", "").strip() and not parse_time(r.get(ANSWERED_AT, ""))]
    for r in untimed:
        r[ANSWERED_AT] = saved
    timed = any(r.get(ANSWERED_AT) is not None for r in rows)
    return [*columns, ANSWERED_AT] if timed and ANSWERED_AT not in columns else columns


def now() -> str:
    return _iso(datetime.now(UTC).timestamp())


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time (one without a zone is UTC), or None when ``text`` is not one."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read(predictions: Path) -> dict[str, Answer]:
    """The answers (labels and no_animal) in the sample beside ``predictions``, by path; {} when
    there is none. InputError for a sample drawn from another CSV, or a truth that is no answer."""
    sample = sample_path(predictions)
    if not is_sample(sample):
        return {}
    _check_drawn_from(sample, predictions)
    _, rows = read_rows(sample)
    saved = _iso(os.stat(sample).st_mtime)
    truths = Truths(_label_names(predictions))
    found, problems = {}, []
    for line, r in enumerate(rows, start=2):
        truth = truths(r["truth"])
        if truth is None:
            problems.append(f"row {line} ({r['path']}): {' '.join(r['truth'].split())!r}")
        elif truth not in ("", CANT_TELL):
            when = parse_time(r.get(ANSWERED_AT, ""))
            found[r["path"]] = Answer(truth, when.isoformat(timespec="milliseconds") if when else saved)
    if problems:
        raise truths.refuse(sample, problems)
    return found


def _check_drawn_from(sample: Path, predictions: Path) -> None:
    drawn_from = read_sidecar(sample).get("predictions")
    if not isinstance(drawn_from, str):
        return  # no design beside it: the name ties it to the CSV
    source = sample.parent / drawn_from
    try:
        same = os.path.samefile(source, predictions)
    except OSError:
        same = False
    if not same:
        raise InputError(
            f"{sample} is beside {predictions} but was drawn from {source} ({sidecar_path(sample).name}): its "
            f"answers are about that CSV's rows. Move it beside its CSV, or rename it, to use {predictions} alone"
        )


def _label_names(predictions: Path) -> set[str]:
    """What a truth may be, as the audit reads it: the labels in the CSV's label columns and its sidecar's."""
    names = read_sidecar(predictions).get("label_names")
    found = {str(x) for x in names} if isinstance(names, list) else set()
    for row in read_predictions(predictions):
        if row.get("status") == "ok":
            found.update(v for k, v in row.items() if k and (k == "label" or k.startswith("label_")) and v)
    return found
