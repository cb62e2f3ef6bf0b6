"""The audit on disk: the predictions CSV as a population, ``SAMPLE.csv`` (the rows to check
and a person's answers) with its sidecar ``SAMPLE.csv.json`` (the design: seed,
--min-confidence, strata), and the checks that a sample still belongs to its CSV.

SAMPLE.csv has the columns ``path, label, confidence, stratum, rows_in_stratum, truth``, and
``answered_at`` once it holds answers (``formats.answers``: when each was given); a spreadsheet
may add its own: they are kept. It is rewritten whole and atomically (an extension, an answer
given in ``review``), so it is never half written.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from animalsort.atomic import atomic_write
from animalsort.audit.population import NO_ANIMAL, Population
from animalsort.audit.sample import draw_order
from animalsort.errors import InputError, OutputError
from animalsort.formats import answers
from animalsort.formats.detection_rows import photo_rows
from animalsort.formats.predictions import read_predictions, read_sidecar, write_sidecar

KIND = "animalsort audit sample"
SHOWN_PROBLEMS = 5
NEW_SAMPLE = "draw a new one with `animalsort audit sample PREDS.csv -o NEW.csv`"


@dataclass(frozen=True)
class Predictions:
    """A predictions CSV's classified rows (error rows have no label to check: counted only)."""

    path: Path
    paths: list[str]
    labels: list[str]
    confidence: np.ndarray
    error_rows: int
    label_names: list[str]  # what a truth may be: the model's labels, and no_animal
    index: dict[str, int]  # path → row

    def population(self, min_confidence: float) -> Population:
        return Population.of(self.labels, self.confidence, min_confidence)


def read_predictions_csv(path: Path) -> Predictions:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such predictions CSV; make one with `animalsort classify SRC -o FILE`")
    paths, labels, confidence, names, errors = [], [], [], set(), 0
    # a --rows detections CSV is audited by photo, as its --rows files twin: the photo's label
    for line, row in enumerate(photo_rows(read_predictions(path)), start=2):
        if row.get("status") != "ok":
            errors += 1
            continue
        try:
            confidence.append(float(row["confidence"]))
        except (TypeError, ValueError):
            raise InputError(f"{path}, row {line}: confidence {row['confidence']!r} is not a number") from None
        paths.append(row["path"])
        labels.append(row["label"])
        names.update(v for k, v in row.items() if k and (k == "label" or k.startswith("label_")) and v)
    index = {p: i for i, p in enumerate(paths)}
    if len(index) < len(paths):
        twice = next(p for i, p in enumerate(paths) if index[p] != i)
        raise InputError(f"{path} has more than one row for {twice!r}; audit needs one row per photo")
    meta = read_sidecar(path)
    if isinstance(meta.get("label_names"), list):
        names.update(str(x) for x in meta["label_names"])
    names = sorted(names | {NO_ANIMAL}, key=str.casefold)
    return Predictions(path, paths, labels, np.asarray(confidence, float), errors, names, index)


@dataclass(frozen=True)
class Design:
    """How a sample was drawn (its sidecar)."""

    seed: int
    min_confidence: float
    predictions: Path  # as recorded: relative to the sample's folder
    sampled: dict[str, int]  # rows drawn per stratum


@dataclass
class SampleFile:
    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    design: Design


def read_sample(path: Path) -> SampleFile:
    path = Path(path)
    columns, rows = answers.read_rows(path)
    meta = read_sidecar(path)
    try:
        sampled = {str(k): int(v["sampled"]) for k, v in meta["strata"].items()}
        design = Design(int(meta["seed"]), float(meta["min_confidence"]), Path(str(meta["predictions"])), sampled)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(
            f"{path.name}.json, the sample's design (seed, --min-confidence), is missing or damaged beside {path}; "
            f"keep it with the sample, or {NEW_SAMPLE}"
        ) from None
    return SampleFile(path, columns, rows, design)


def write_sample(sample: SampleFile) -> None:
    """Replace SAMPLE.csv with ``sample.rows`` in one step (a reader never sees half of it); its
    answers keep their times (``formats.answers.date_answers``)."""
    sample.columns = answers.date_answers(sample.path, sample.columns, sample.rows)
    try:
        with atomic_write(sample.path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            w = csv.DictWriter(f, fieldnames=sample.columns)
            w.writeheader()
            w.writerows(sample.rows)
    except OSError as exc:
        raise OutputError(f"cannot write {sample.path}: {exc.strerror or exc}") from None


def write_design(sample: Path, design: Design, pop: Population, record: dict[str, Any]) -> None:
    strata = {
        name: {"rows": int(pop.rows[h]), "sampled": design.sampled.get(name, 0)} for h, name in enumerate(pop.strata)
    }
    write_sidecar(
        sample,
        {
            "kind": KIND,
            "predictions": str(design.predictions),
            "seed": design.seed,
            "min_confidence": design.min_confidence,
            **record,
            "strata": strata,
        },
    )


def predictions_of(sample: SampleFile) -> Path:
    """The predictions CSV a sample was drawn from (recorded relative to the sample)."""
    found = sample.path.parent / sample.design.predictions
    if not found.is_file():
        raise InputError(
            f"{sample.path} was drawn from {found}, which is not there; keep the sample where it can find its "
            "predictions CSV (its path is recorded in the sample's .json relative to the sample)"
        )
    return found


def relative_to_sample(predictions: Path, sample: Path) -> Path:
    return Path(os.path.relpath(Path(predictions).absolute(), Path(sample).absolute().parent))


def match(sample: SampleFile, preds: Predictions, pop: Population) -> np.ndarray:
    """The population row of each sample row; InputError (with the first problems and what to
    do) when the sample no longer fits the CSV: another run, edited or added paths, rows the
    seed did not draw, or rows it drew that are gone."""
    problems, rows = [], []
    for line, r in enumerate(sample.rows, start=2):
        i = preds.index.get(r["path"])
        rows.append(-1 if i is None else i)
        problem = _row_problem(r, i, preds, pop)
        if problem:
            problems.append(f"row {line} ({r['path']}): {problem}")
    found = np.asarray(rows, int)
    if not problems:
        problems = _draw_problems(sample, pop, found)
    if problems:
        more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        raise InputError(
            f"{sample.path} does not match {preds.path}: "
            + "; ".join(problems[:SHOWN_PROBLEMS])
            + more
            + f". A sample belongs to the CSV it was drawn from; {NEW_SAMPLE}"
        )
    return found


def _row_problem(r: dict[str, str], i: int | None, preds: Predictions, pop: Population) -> str:
    if i is None:
        return f"no classified row of {preds.path.name} has this path (edited, or another CSV's sample?)"
    label, conf = preds.labels[i], float(preds.confidence[i])
    try:
        same = r["label"] == label and abs(float(r["confidence"]) - conf) < 5e-5
    except ValueError:
        same = False
    if not same:
        return f"the sample says {r['label']} {r['confidence']}, the CSV says {label} {conf:.4f} (another run?)"
    h = pop.stratum[i]
    if r["stratum"] != pop.strata[h] or _count(r["rows_in_stratum"]) != pop.rows[h]:
        return (
            f"the sample says stratum {r['stratum']} of {r['rows_in_stratum']} rows, the CSV now gives "
            f"{pop.strata[h]} of {pop.rows[h]} (rows added or removed since the sample was drawn)"
        )
    return ""


def _count(text: str) -> int | None:
    """A count as a spreadsheet may have written it back (``1,200``, ``1200.0``)."""
    try:
        return int(float(text.replace(",", "").strip()))
    except ValueError:
        return None


def _draw_problems(sample: SampleFile, pop: Population, rows: np.ndarray) -> list[str]:
    """Each stratum's rows must be the first ones of its seeded order, as many as the design
    says were drawn: nothing added by hand, nothing drawn taken away (either would make the
    sample no longer random)."""
    if len(set(rows.tolist())) < len(rows):
        return ["a path is listed twice"]
    problems = []
    for h, name in enumerate(pop.strata):
        have = set(rows[pop.stratum[rows] == h].tolist())
        order = pop.members[h][draw_order(int(pop.rows[h]), sample.design.seed, name)]
        drawn = set(order[: sample.design.sampled.get(name, 0)].tolist())
        for i in sorted(have - drawn, key=lambda i: _path_of(sample, rows, i))[:2]:
            problems.append(f"{_path_of(sample, rows, i)!r} ({name}) was not drawn with seed {sample.design.seed}")
        if drawn - have:
            problems.append(f"{len(drawn - have)} row(s) of {name} that the seed drew are not in the sample (deleted?)")
    return problems


def _path_of(sample: SampleFile, rows: np.ndarray, i: int) -> str:
    return sample.rows[int(np.flatnonzero(rows == i)[0])]["path"]


def truths(sample: SampleFile, allowed: list[str]) -> np.ndarray:
    """Each row's answer: a label (as the model spells it), no_animal, CANT_TELL, or "" (not
    answered yet), read as ``formats.answers`` reads them. InputError naming the lines of
    answers that are none of these."""
    read = answers.Truths(allowed)
    out, problems = [], []
    for line, r in enumerate(sample.rows, start=2):
        truth = read(r["truth"])
        if truth is None:
            problems.append(f"row {line} ({r['path']}): {' '.join(r['truth'].split())!r}")
        out.append(truth or "")
    if problems:
        raise read.refuse(sample.path, problems)
    return np.asarray(out, dtype=object)
