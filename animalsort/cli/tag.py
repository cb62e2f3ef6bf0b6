"""tag: labels as XMP keywords (sidecars, or embedded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from animalsort.cli.common import (
    CLASSIFY_ONLY,
    csv_src_option,
    min_confidence_option,
    model_options,
    output_options,
    print_summary,
    print_thresholds,
    refuse_given,
    thresholds_option,
    translate_errors,
    video_options,
)


@click.command()
@click.argument("source", metavar="PREDS.csv|SRC", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--embed",
    is_flag=True,
    help="Write the keywords into JPEG, TIFF, PNG, WebP (and HEIC/AVIF, with ExifTool) files — only their "
    "metadata changes, atomically, mode and mtime kept. RAW files and clips always get a sidecar.",
)
@click.option(
    "--embed-or-sidecar",
    is_flag=True,
    help="With --embed: a format that cannot hold XMP gets a sidecar (default: an error for that file).",
)
@click.option(
    "--sidecar-name",
    type=click.Choice(["full", "stem"]),
    default="full",
    show_default=True,
    help="full: IMG_0001.CR2.xmp (digiKam, darktable); stem: IMG_0001.xmp (Lightroom). An existing sidecar of "
    "either naming is updated.",
)
@click.option(
    "--keyword-root",
    default="Animals",
    show_default=True,
    help="The top of the hierarchical keywords (Animals|Mammals|Carnivores|cat); '' for none.",
)
@min_confidence_option("Below this a photo gets no species keyword (a reviewed one always does).")
@thresholds_option
@click.option(
    "--tag-uncertain", is_flag=True, help="An 'uncertain' keyword for photos below --min-confidence (or --thresholds)."
)
@click.option("--touch", is_flag=True, help="With --embed: update the photos' mtime (default: kept).")
@click.option("--dry-run", "-n", is_flag=True, help="List the files that would be written; write nothing.")
@click.option("--strict", is_flag=True, help="Exit 1 if any file could not be tagged.")
@csv_src_option()
@video_options
@model_options
@output_options
@click.pass_context
@translate_errors
def tag(
    ctx: click.Context,
    source: Path,
    embed: bool,
    embed_or_sidecar: bool,
    sidecar_name: str,
    keyword_root: str,
    min_confidence: float,
    thresholds: Path | None,
    tag_uncertain: bool,
    touch: bool,
    dry_run: bool,
    strict: bool,
    src: Path | None,
    **model_opts: Any,
) -> None:
    """Write each photo's label as XMP keywords that digiKam, darktable, Lightroom, Immich and
    PhotoPrism read: dc:subject (cat), lr:hierarchicalSubject (Animals|Mammals|Carnivores|cat)
    and digiKam:TagsList, plus a record of the answer in animalsort's own namespace.

    PREDS.csv is a classify CSV (labels fixed in `animalsort review` apply); a folder SRC is
    classified first. Sidecars by default: the photos' own bytes are never touched. A person's
    keywords and every other field (rating, colour label, edit history, GPS) are kept; tagging
    again replaces only what animalsort wrote before. no_animal photos and photos below
    --min-confidence (or their label's --thresholds) get no species keyword. A journal makes it
    undoable (`animalsort undo`).

    \b
    Example:
        animalsort tag ~/photos/preds.csv
        animalsort tag ~/photos --embed --embed-or-sidecar
        animalsort tag preds.csv --sidecar-name stem --keyword-root Wildlife
        animalsort tag preds.csv --thresholds preds.audit.json --tag-uncertain
    """
    from animalsort import _api
    from animalsort.tagging.tag_rows import TagOptions

    options = _classify_options(ctx, source, embed, model_opts)
    how = TagOptions.chosen(
        embed=embed,
        embed_or_sidecar=embed_or_sidecar,
        sidecar_name=sidecar_name,
        keyword_root=keyword_root,
        min_confidence=min_confidence,
        thresholds=thresholds,
        tag_uncertain=tag_uncertain,
        touch=touch,
        dry_run=dry_run,
    )
    quiet, verbose = ctx.obj["quiet"], ctx.obj["verbose"]
    res, predictions, classified = _api.tag_folder(source, how, classify_options=options, src=src, progress=not quiet)
    if classified is not None and not quiet:
        print_summary(classified, verbose)
        click.echo(f"predictions kept: tag again from them with `animalsort tag '{predictions}'`", err=True)
    if dry_run:
        for job in res.planned:
            what = ", ".join(job.tags.keywords) or "(remove earlier keywords)"
            click.echo(f"{'embed' if job.embed else 'sidecar'}: {job.target}: {what}")
        click.echo(f"plan: {len(res.planned)} files from {res.rows} rows of {predictions}", err=True)
    elif not quiet:
        _print_result(res)
        print_thresholds(how.wording.thresholds)
    limit = None if verbose else 10
    for path, why in res.failed[:limit]:
        click.echo(f"  failed: {path}: {why}", err=True)
    if limit is not None and len(res.failed) > limit:
        click.echo(f"  … {len(res.failed) - limit} more (-v lists them all)", err=True)
    if res.journal is not None and not quiet:
        click.echo(f"journal: {res.journal}\nundo with: animalsort undo '{res.journal}'", err=True)
    if strict and res.failed:
        raise click.ClickException(f"{len(res.failed)} files could not be tagged; see above")


def _classify_options(ctx: click.Context, source: Path, embed: bool, model_opts: dict[str, Any]) -> Any:
    """How a folder SRC is classified first (None for a CSV); options that would do nothing
    here are refused, naming them."""
    if not embed:
        refuse_given(ctx, ("embed_or_sidecar", "touch"), "without --embed: sidecars are written, no photo is changed")
    if not source.is_dir():
        refuse_given(ctx, CLASSIFY_ONLY, f"with {source.name}: its labels are used, nothing is classified")
        return None
    from animalsort.inference.options import ClassifyOptions

    return ClassifyOptions(**model_opts)


def _print_result(res: Any) -> None:
    sidecars = res.tagged - res.embedded
    click.echo(
        f"tagged {res.tagged} files ({sidecars} sidecars, {res.created} of them new; {res.embedded} embedded) "
        f"from {res.rows} rows",
        err=True,
    )
    notes = [
        (res.unchanged, "already carried these keywords"),
        (res.no_keyword, "no keyword to write (no_animal, or below --min-confidence or its label's threshold)"),
        (res.error_rows, "error rows left alone"),
        (res.fallbacks, "got a sidecar: their format cannot hold embedded XMP"),
        (len(res.failed), "could not be tagged"),
    ]
    for n, what in notes:
        if n:
            click.echo(f"  {n} {what}", err=True)
    for row, other, what in res.shared[:5]:
        click.echo(f"  {row} shares its {what} with {other}: tagged once, by {other}", err=True)
    for path in res.hard_linked[:5]:
        click.echo(f"  note: {path} has other hard links; they keep the untagged bytes", err=True)
