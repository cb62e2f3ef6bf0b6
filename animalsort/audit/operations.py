"""The two operations of ``animalsort audit``: draw (or extend) a sample of a predictions CSV,
and report on a sample a person answered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animalsort.atomic import make_folder, write_text
from animalsort.audit import files
from animalsort.audit.population import Answers, Population
from animalsort.audit.result import AuditResult, analyse
from animalsort.audit.sample import ALLOCATION, draw, review_order
from animalsort.errors import InputError, OutputError, UsageError
from animalsort.formats import answers


@dataclass(frozen=True)
class SampleResult:
    out: Path
    rows: int  # in the sample now
    added: int
    answered: int  # rows with a truth already (kept from before)
    strata: dict[str, tuple[int, int]]  # name → (rows in the CSV, rows in the sample)
    seed: int
    min_confidence: float
    error_rows: int  # not sampled


def sample_predictions(
    predictions: Path, out: Path | None, size: int, seed: int, min_confidence: float
) -> SampleResult:
    """Write a stratified random sample of ``size`` classified rows of ``predictions`` to ``out``
    (default: PREDS.sample.csv), or extend the sample already there to ``size`` rows, keeping
    its rows and answers (the same seed and --min-confidence only)."""
    predictions = Path(predictions)
    out = Path(out) if out is not None else answers.sample_path(predictions)
    if size < 1:
        raise UsageError(f"--size {size}: a sample needs at least one row")
    preds = files.read_predictions_csv(predictions)
    pop = preds.population(min_confidence)
    if not len(pop.labels):
        raise InputError(f"{predictions} has no classified rows to sample ({preds.error_rows} error rows)")
    sample, kept = _existing(out, predictions, preds, pop, seed, min_confidence)
    picked = draw(pop, max(size, int(kept.sum())), seed, kept)
    sizes = {name: int(k + np.count_nonzero(picked.stratum == h)) for h, (name, k) in enumerate(zip(pop.strata, kept))}
    order = review_order([pop.strata[h] for h in picked.stratum], picked.rank.tolist(), sizes)
    for j in order:
        i, h = int(picked.rows[j]), int(picked.stratum[j])
        row = dict.fromkeys(sample.columns, "")
        row.update(path=preds.paths[i], label=preds.labels[i], confidence=f"{preds.confidence[i]:.4f}")
        row.update(stratum=pop.strata[h], rows_in_stratum=str(pop.rows[h]))
        sample.rows.append(row)
    sample.design.sampled.update(sizes)
    if len(order) or not out.exists():
        make_folder(out.parent, "choose another -o")
        files.write_sample(sample)
        files.write_design(
            out,
            sample.design,
            pop,
            {"size": len(sample.rows), "allocation": ALLOCATION, "error_rows_not_sampled": preds.error_rows},
        )
    answered = sum(bool(r["truth"].strip()) for r in sample.rows)
    strata = {name: (int(pop.rows[h]), sizes[name]) for h, name in enumerate(pop.strata)}
    return SampleResult(out, len(sample.rows), len(order), answered, strata, seed, min_confidence, preds.error_rows)


def _existing(
    out: Path, predictions: Path, preds: files.Predictions, pop: Population, seed: int, min_confidence: float
) -> tuple[files.SampleFile, np.ndarray]:
    """The sample already at ``out`` (checked against the CSV) and its rows per stratum, or a
    new empty one."""
    if out.exists() and out.resolve() == predictions.resolve():
        raise UsageError(f"-o {out} is the predictions CSV itself; give the sample another name")
    if not out.exists():
        design = files.Design(seed, min_confidence, files.relative_to_sample(predictions, out), {})
        return files.SampleFile(out, list(answers.COLUMNS), [], design), np.zeros(len(pop.strata), int)
    if not answers.is_sample(out):
        raise OutputError(f"{out} exists and is not an audit sample; choose another -o (nothing was written)")
    sample = files.read_sample(out)
    if (sample.design.seed, sample.design.min_confidence) != (seed, min_confidence):
        raise UsageError(
            f"{out} was drawn with --seed {sample.design.seed} --min-confidence {sample.design.min_confidence:g}; "
            f"pass the same to extend it, or -o NEW.csv for a new sample"
        )
    rows = files.match(sample, preds, pop)
    return sample, np.bincount(pop.stratum[rows], minlength=len(pop.strata))


def report_sample(predictions: Path, sample_path: Path, target_precision: float = 0.95) -> AuditResult:
    """The estimates from the answered rows of ``sample_path`` for the whole of ``predictions``."""
    if not 0 < target_precision < 1:
        raise UsageError(f"--target-precision {target_precision}: give a precision between 0 and 1")
    sample = files.read_sample(Path(sample_path))
    answers, preds = load_answers(Path(predictions), sample)
    return analyse(
        answers,
        target_precision,
        predictions=preds.path,
        sample=sample.path,
        seed=sample.design.seed,
        error_rows=preds.error_rows,
    )


def load_answers(predictions: Path, sample: files.SampleFile) -> tuple[Answers, files.Predictions]:
    """The sample's rows in the CSV, checked, with their truths checked too."""
    preds = files.read_predictions_csv(predictions)
    pop = preds.population(sample.design.min_confidence)
    rows = files.match(sample, preds, pop)
    return Answers(pop, rows, files.truths(sample, preds.label_names)), preds


def write_json(result: AuditResult, out: Path) -> None:
    make_folder(out.parent, "choose another -o")
    try:
        write_text(out, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose another -o") from None
