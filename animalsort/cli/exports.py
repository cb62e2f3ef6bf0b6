"""export: a predictions CSV as MegaDetector JSON, a Camtrap DP package or COCO Camera Traps."""

from __future__ import annotations

from pathlib import Path

import click

from animalsort.cli.common import (
    csv_src_option,
    min_confidence_option,
    output_options,
    print_thresholds,
    thresholds_option,
    translate_errors,
)


@click.command()
@click.argument("predictions", metavar="PREDS.csv", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["megadetector", "camtrap-dp", "coco"]),
    default=None,
    help="megadetector: batch-output JSON (Timelapse, AddaxAI); camtrap-dp: a Camtrap DP 1.0.2 folder (GBIF, "
    "Agouti, TRAPPER, Wildlife Insights); coco: COCO Camera Traps JSON (LILA's datasets).",
)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="The file (a folder for camtrap-dp).")
@min_confidence_option("Below this a label is 'unknown' (reviewed rows always count).")
@thresholds_option
@click.option(
    "--taxa",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV (label, scientificName, taxonRank) for labels the package's table lacks: a fine-tuned model's classes.",
)
@click.option(
    "--deployments",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="camtrap-dp: CSV with deploymentID, latitude, longitude, folder (under SRC); other Camtrap DP deployment "
    "columns pass through.",
)
@click.option(
    "--deployment-depth",
    type=click.IntRange(min=0),
    default=None,
    help="One deployment per folder N levels under SRC (site/camera/…), coordinates from the photos' GPS; "
    "default: all of SRC is one.",
)
@click.option(
    "--timezone",
    default=None,
    metavar="ZONE",
    help="The zone of cameras that write local time, and of files timed by their mtime: Europe/Amsterdam, UTC, +02:00.",
)
@click.option("--project-title", default="", help="camtrap-dp: the project's title.")
@click.option("--contributor", default="", help="camtrap-dp: who made the package (default: your user name).")
@click.option(
    "--capture-method",
    type=click.Choice(["activityDetection", "timeLapse"]),
    default="activityDetection",
    show_default=True,
    help="camtrap-dp: how the cameras were triggered.",
)
@csv_src_option()
@output_options
@click.pass_context
@translate_errors
def export(
    ctx: click.Context,
    predictions: Path | None,
    fmt: str | None,
    out: Path | None,
    min_confidence: float,
    thresholds: Path | None,
    taxa: Path | None,
    deployments: Path | None,
    deployment_depth: int | None,
    timezone: str | None,
    project_title: str,
    contributor: str,
    capture_method: str,
    src: Path | None,
) -> None:
    """Write PREDS.csv (with its review corrections: reviewed rows are human classifications)
    in a format the camera-trap tools read. Streaming: memory stays flat however many rows.

    \b
    Example:
        animalsort export preds.csv -f megadetector -o md.json
        animalsort export preds.csv -f camtrap-dp -o package --deployment-depth 2 --timezone Europe/Amsterdam
        animalsort export preds.csv -f coco -o coco.json
    (The model's ONNX export is `animalsort models export`.)
    """
    from animalsort.exports.predictions_export import ExportOptions, export_predictions

    if predictions is None or fmt is None or out is None:
        if out is not None and out.suffix == ".onnx" or predictions is None and out is not None:
            raise click.UsageError("exporting the model as ONNX moved to `animalsort models export --out FILE.onnx`")
        raise click.UsageError("give PREDS.csv, --format and --out (`animalsort export --help`)")
    options = ExportOptions.chosen(
        fmt,
        min_confidence=min_confidence,
        thresholds=thresholds,
        taxa=taxa,
        deployments=deployments,
        deployment_depth=deployment_depth,
        timezone=timezone,
        project_title=project_title,
        contributor=contributor,
        capture_method=capture_method,
        src=src,
    )
    res = export_predictions(predictions, out, options)
    if ctx.obj["quiet"]:
        return
    what = {"megadetector": "images", "camtrap-dp": "media", "coco": "images"}[fmt]
    click.echo(f"{fmt}: {res.written} {what} from {res.rows} rows → {res.out}", err=True)
    if res.frame_rows:
        click.echo(f"  {res.frame_rows} frame rows folded into their clips", err=True)
    if res.skipped:
        click.echo(f"  {res.skipped} error rows left out (no label)", err=True)
    if res.counts:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(res.counts.items()))
        click.echo(f"  {res.deployments} deployments; media-level observations: {counts}", err=True)
    if res.time_sources:
        click.echo(f"  times from: {', '.join(f'{k} {v}' for k, v in sorted(res.time_sources.items()))}", err=True)
    print_thresholds(options.thresholds)
