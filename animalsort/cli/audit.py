"""audit: a random sample of a classify CSV for a person to check, and what their answers say."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from animalsort.cli.common import (
    count,
    min_confidence_option,
    out_file_option,
    output_options,
    predictions_argument,
    translate_errors,
)

if TYPE_CHECKING:
    from animalsort.audit.intervals import Interval
    from animalsort.audit.result import AuditResult


@click.group()
def audit() -> None:
    """How right are the labels on my photos? Check a random sample, get estimates with error bars.

    `audit sample` draws a stratified random sample of a classify CSV (one stratum per label,
    one below --min-confidence); a person fills its truth column in `animalsort review SAMPLE`
    (one keypress a photo) or a spreadsheet; `audit report` gives the overall accuracy, each
    label's precision, the animals hiding among the no_animal rows and per-label thresholds
    for a target precision, each with a 95% interval.

    \b
    Example:
        animalsort audit sample preds.csv --size 200        # → preds.sample.csv
        animalsort review preds.sample.csv
        animalsort audit report preds.csv preds.sample.csv --html audit.html
    """


@audit.command("sample")
@predictions_argument
@click.option("--size", "-n", type=click.IntRange(min=1), default=200, show_default=True, help="Rows in the sample.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="The same seed, the same sample."
)
@min_confidence_option("Rows below it are a stratum of their own (what sort sends to _uncertain).")
@out_file_option(
    "The sample CSV. Default: PREDICTIONS with .sample.csv. If it exists it is extended to --size rows, "
    "its rows and answers kept."
)
@output_options
@click.pass_context
@translate_errors
def sample(
    ctx: click.Context, predictions: Path, size: int, seed: int, min_confidence: float, out: Path | None
) -> None:
    """Draw a stratified random sample of a classify CSV's rows for a person to check.

    One stratum per label (its rows at or above --min-confidence) and one for the rows below
    it; each gets at least 5 rows, no_animal at least a fifth, the rest goes where it narrows
    the overall accuracy's interval most (Neyman allocation). Error rows are not sampled.
    Writes path, label, confidence, stratum, rows_in_stratum and an empty truth column.

    \b
    Example:
        animalsort audit sample preds.csv --size 200        # → preds.sample.csv
        animalsort audit sample preds.csv --size 400        # later: 200 more, answers kept
    """
    from animalsort._api import audit_sample

    res = audit_sample(predictions, out, size=size, seed=seed, min_confidence=min_confidence)
    width = max(len(name) for name in res.strata)
    click.echo(f"{'stratum':<{width}} {'rows':>8} {'sampled':>8}")
    for name, (rows, sampled) in res.strata.items():
        click.echo(f"{name:<{width}} {rows:>8,} {sampled:>8,}")
    if ctx.obj["quiet"]:
        return
    if res.added == res.rows:
        what = f"sampled {res.rows:,} rows in {len(res.strata)} strata"
    else:
        what = f"kept {count(res.rows - res.added, 'row')} ({res.answered:,} answered), added {res.added:,}"
    errors = f" ({count(res.error_rows, 'error row')} not sampled: no label to check)" if res.error_rows else ""
    click.echo(f"{what}{errors} → {res.out}", err=True)
    click.echo(
        f"next: answer it in `animalsort review {res.out}` (or fill its truth column: a label, no_animal or "
        f"can't tell), then `animalsort audit report {predictions} {res.out}`",
        err=True,
    )


@audit.command("report")
@predictions_argument
@click.argument("sample_csv", metavar="SAMPLE", type=click.Path(dir_okay=False, path_type=Path))
@out_file_option("The estimates as JSON (what --thresholds reads). Default: PREDICTIONS with .audit.json.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also a page.")
@click.option(
    "--target-precision",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="The precision each label's threshold must reach (the lower end of its 95% interval).",
)
@output_options
@click.pass_context
@translate_errors
def report(
    ctx: click.Context,
    predictions: Path,
    sample_csv: Path,
    out: Path | None,
    html_out: Path | None,
    target_precision: float,
) -> None:
    """What the answers in a sample say about the whole CSV, with 95% intervals.

    Overall accuracy (stratified), each label's precision, the animals among the rows
    labelled no_animal, recall where the sample allows it, and per-label confidence
    thresholds that reach --target-precision. "can't tell" answers are counted and left out.

    \b
    Example:
        animalsort audit report preds.csv preds.sample.csv --html audit.html
    """
    from animalsort._api import audit_report

    out = out if out is not None else predictions.with_name(predictions.stem + ".audit.json")
    res = audit_report(predictions, sample_csv, out=out, html=html_out, target_precision=target_precision)
    for line in _summary_lines(res):
        click.echo(line)
    if not ctx.obj["quiet"]:
        pages = f" and {html_out}" if html_out else ""
        click.echo(f"→ {out}{pages}", err=True)


def _iv(iv: Interval | None, digits: int = 3) -> str:
    return "no answers yet" if iv is None else f"{iv.estimate:.{digits}f} ({iv.low:.{digits}f}–{iv.high:.{digits}f})"


def _summary_lines(r: AuditResult) -> list[str]:
    lines = [f"overall accuracy   {_iv(r.accuracy)}" + (f"  waiting for {', '.join(r.waiting)}" if r.waiting else "")]
    if r.missed is not None and r.missed.count is not None:
        m = r.missed
        which = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(m.animals.items(), key=lambda kv: -kv[1])[:6])
        lines.append(
            f"missed animals     {m.count.estimate:,.0f} ({m.count.low:,.0f}–{m.count.high:,.0f}) of {m.rows:,} "
            f"rows labelled no_animal" + (f": {which}" if which else "")
        )
    lines.append(
        f"answers            {r.answered:,} of {r.sampled:,} sampled rows; {r.cant_tell:,} can't tell (left out), "
        f"{r.unanswered:,} not answered yet"
    )
    width = max([len(k) for k in r.labels] + [10])
    lines.append(
        f"{'label':<{width}} {'rows':>7} {'answers':>7}  {'precision (95% interval)':<24} "
        f"{'threshold for ' + format(r.target_precision, 'g'):>18} {'to _uncertain':>13}"
    )
    for label, res in r.labels.items():
        t = r.thresholds[label]
        thr = "—" if t.threshold is None else f"{t.threshold:.4f}"
        moved = f"{t.uncertain_now:,}" + ("" if t.point is None else f" → {t.point.to_uncertain:,}")
        lines.append(
            f"{label:<{width}} {res.rows:>7,} {res.answered:>7,}  {_iv(res.precision):<24} {thr:>18} {moved:>13}"
        )
    if r.uncertain is not None:
        lines.append(f"{'_uncertain':<{width}} accuracy {_iv(r.uncertain)}")
    return lines
