"""`animalsort merge`: the CSVs of shards (or of runs over parts of a folder) into one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from animalsort.cli.common import (
    count,
    manifest_options,
    out_file_option,
    output_options,
    sequences_option,
    translate_errors,
)

if TYPE_CHECKING:
    pass


@click.command()
@click.argument("inputs", metavar="CSV...", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@out_file_option("The merged CSV.", required=True)
@manifest_options(
    "The manifest the shards were made from: rows in its order, and its paths no CSV has (gaps) "
    "or the CSVs' paths it does not list are reported.",
    "With --files-from: as given to classify.",
)
@sequences_option(
    "--sequences",
    "Add the burst columns to the merged CSV (bursts can span shards, so they are grouped here)",
)
@click.option("--strict", is_flag=True, help="Exit 1 on any conflict, gap or path outside the manifest.")
@output_options
@click.pass_context
@translate_errors
def merge(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    out: Path,
    files_from: str | None,
    root: Path | None,
    sequences: float | None,
    strict: bool,
) -> None:
    """Join the CSVs of sharded classify runs (--shard I/N) into one, as a single run writes it.

    Checks that their sidecars agree (model, weights sha256, labels, folder, options other than
    placement), keeps one header, orders rows by path (or by --files-from), writes each path
    once, and reports duplicates, conflicting rows and gaps.

    \b
    Example:
        for i in 1 2 3 4; do animalsort classify ~/photos --shard $i/4 -o preds-$i.csv; done
        animalsort merge preds-*.csv -o preds.csv
    """
    from animalsort.inference.merge import merge_csvs

    res = merge_csvs(list(inputs), out, files_from=files_from, root=root, sequences=sequences)
    quiet = ctx.obj["quiet"]
    if not quiet:
        click.echo(f"{count(res.rows, 'row')} from {count(len(res.inputs), 'CSV')} → {res.out}", err=True)
        if res.duplicates:
            click.echo(f"  {res.duplicates} rows were in two CSVs (identical): written once", err=True)
        for p in res.unordered:
            click.echo(f"  note: {p} was not in path order; sorted in memory", err=True)
        if res.sequences is not None:
            click.echo(f"  {res.sequences['count']} sequences (gap {res.sequences['gap_s']:g} s)", err=True)
    problems = [
        (res.conflict_count, "conflicting rows (the classified one, or the first CSV's, kept)", res.conflicts),
        (res.missing_count, "paths of the manifest in no CSV (a shard missing or cut short?)", res.missing),
        (res.extra_count, "paths in the CSVs that the manifest does not list", res.extra),
    ]
    for n, what, examples in problems:
        if n:
            click.echo(f"warning: {n} {what}: {', '.join(examples[:5])}{', …' if n > 5 else ''}", err=True)
    if strict and any(n for n, _, _ in problems):
        raise click.ClickException(f"the merge is not clean (--strict): {res.out} is written, but see the warnings")
