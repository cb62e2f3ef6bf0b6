"""``audit_sample`` and ``audit_report``: how right the labels are, from a person's check of a sample."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from animalsort.audit.operations import SampleResult
    from animalsort.audit.result import AuditResult

from animalsort._api.common import PathLike


def audit_sample(
    predictions: PathLike,
    out: PathLike | None = None,
    *,
    size: int = 200,
    seed: int = 0,
    min_confidence: float | None = None,
) -> SampleResult:
    """Draw a stratified random sample of a predictions CSV's classified rows for a person to
    check, like ``animalsort audit sample``; or extend the sample already at ``out``.

    Args:
        predictions: the CSV ``classify`` wrote.
        out: the sample (default: ``PREDS.sample.csv`` beside the CSV). When it exists, it is
            extended to ``size`` rows, its rows and answers kept (the same ``seed`` and
            ``min_confidence`` only).
        size: rows in the sample.
        seed: the same seed gives the same sample.
        min_confidence: rows below it form the ``_uncertain`` stratum (default 0.5, sort's).

    Returns:
        A ``SampleResult``: ``out``, ``rows``, ``added``, ``answered`` (rows already answered),
        ``strata`` (name → rows in the CSV, rows in the sample).
    """
    from animalsort.audit.operations import sample_predictions
    from animalsort.formats.thresholds import chosen

    threshold = chosen(min_confidence).minimum  # checked as sort's: a number from 0 to 1
    target = Path(out).expanduser() if out is not None else None
    return sample_predictions(Path(predictions).expanduser(), target, size, seed, threshold)


def audit_report(
    predictions: PathLike,
    sample: PathLike | None = None,
    *,
    out: PathLike | None = None,
    html: PathLike | None = None,
    target_precision: float = 0.95,
) -> AuditResult:
    """What a person's answers in a sample say about the whole CSV, like ``animalsort audit
    report``: overall accuracy, each label's precision, the animals among the rows labelled
    no_animal, recall, and per-label thresholds for ``target_precision``, each with a 95% interval.

    Args:
        predictions: the CSV the sample was drawn from.
        sample: the answered sample (default: ``PREDS.sample.csv``); its ``truth`` column holds
            a label, ``no_animal`` or ``can't tell`` (left out), or nothing yet.
        out: also write the result as JSON here (``audit.json``: what ``--thresholds`` reads).
        html: also write the page with tables and plots here.
        target_precision: the precision the per-label thresholds must reach.

    Returns:
        An ``AuditResult``: ``accuracy``, ``labels`` (precision per label), ``missed``,
        ``recall``, ``thresholds``, ``strata``, ``cant_tell``, … (``to_json()`` is audit.json).
    """
    from animalsort.audit.operations import report_sample, write_json
    from animalsort.formats.answers import sample_path

    preds = Path(predictions).expanduser()
    result = report_sample(preds, Path(sample).expanduser() if sample else sample_path(preds), target_precision)
    if out is not None:
        write_json(result, Path(out).expanduser())
    if html is not None:
        from animalsort.pages import audit_page

        audit_page.write(result, Path(html).expanduser())
    return result
