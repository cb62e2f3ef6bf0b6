"""`animalsort sort` and `animalsort undo`: photos into per-label folders, journalled, and back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from animalsort.cli.common import (
    CLASSIFY_ONLY,
    from_csv_option,
    label_list_options,
    min_confidence_option,
    model_options,
    output_options,
    print_summary,
    print_thresholds,
    refuse_given,
    sequences_option,
    thresholds_option,
    translate_errors,
    video_options,
)

if TYPE_CHECKING:
    from animalsort._api import SortResult
    from animalsort.formats.journal_index import JournalInfo
    from animalsort.sorting.undo import UndoResult
    from animalsort.tagging.undo import TagUndoResult


@click.command("sort")
@click.argument("src")
@click.option(
    "--dest",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the label folders go (default: SRC itself).",
)
@click.option("--copy", "mode", flag_value="copy", default=True, help="Copy files (default).")
@click.option("--move", "mode", flag_value="move", help="Move files (undoable with `animalsort undo`).")
@click.option("--link", "mode", flag_value="link", help="Hard-link files (symlink across file systems).")
@from_csv_option(
    "Use a classify CSV instead of classifying (no model is loaded). Labels fixed with "
    "`animalsort review` (CSV.corrections.csv beside it) and the answers of its audit sample (CSV.sample.csv) "
    "apply: a reviewed file goes by its label."
)
@min_confidence_option("Below this, files go to _uncertain/.")
@thresholds_option
@click.option("--flat", is_flag=True, help="No sub-folders under each label.")
@click.option("--dry-run", "-n", is_flag=True, help="Print the plan; move no photo.")
@click.option("--verify", is_flag=True, help="Check each copy's sha256 (slower).")
@click.option(
    "--no-companions",
    is_flag=True,
    help="Sort file by file: a photo's RAW twin, edit sidecars (.xmp, .aae, .thm, .pp3, .dop, .on1) and Live "
    "Photo clip do not follow it (by default they do, under the same new name).",
)
@sequences_option(
    "--by-sequence",
    "Place each burst of photos (capture times within SECONDS) together, by the burst's vote",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["label", "labels"]),
    default="label",
    show_default=True,
    help="label: each photo into its label's folder. labels: a photo with several labels (a CSV classified "
    "with --detections: a deer and a fox, a person) into each label's folder: copied into the others, "
    "with --move moved into its own label's.",
)
@video_options
@label_list_options
@model_options
@output_options
@click.pass_context
@translate_errors
def sort_cmd(
    ctx: click.Context,
    src: Path,
    dest: Path | None,
    mode: str,
    from_csv: Path | None,
    min_confidence: float,
    thresholds: Path | None,
    flat: bool,
    dry_run: bool,
    verify: bool,
    sequences: float | None,
    no_companions: bool,
    by: str,
    **model_opts: Any,
) -> None:
    """Sort the photos under SRC into DEST/<label>/<sub-folder>/, never overwriting.

    Files below --min-confidence (or their label's --thresholds) go to _uncertain/, no_animal
    to _no_animal/, unreadable files stay where they are. A name already taken gets " (2)";
    an identical file (same sha256) is reported, not duplicated. A video clip moves as one
    file, by its label from its frames. A journal in DEST/_animalsort/ makes every change
    undoable.

    \b
    Example:
        animalsort sort ~/photos --move
        animalsort sort ~/photos --dest ~/sorted --from preds.csv --dry-run
        animalsort sort ~/trap --by-sequence --move --only fox,wolf,pig,antelope,bird
        animalsort sort ~/trap --from preds.csv --by labels
        animalsort sort ~/photos --from preds.csv --thresholds audit.json --move
    """
    from animalsort import _api
    from animalsort.inference.options import ClassifyOptions
    from animalsort.sorting.options import SortOptions

    options = ClassifyOptions(**model_opts)  # with --from: only its --only/--exclude, checked against the CSV's
    if from_csv is not None:
        refuse_given(ctx, CLASSIFY_ONLY, f"with --from {from_csv.name}: its labels are used, nothing is classified")
    quiet = ctx.obj["quiet"]
    how = SortOptions.chosen(
        move=mode == "move",
        link=mode == "link",
        min_confidence=min_confidence,
        thresholds=thresholds,
        flat=flat,
        verify=verify,
        by_sequence=sequences,
        companions=not no_companions,
        by_labels=by == "labels",
        dry_run=dry_run,
    )
    res = _api.sort_folder(src, dest, how, predictions=from_csv, classify_options=options, progress=not quiet)
    if res.classified is not None and not quiet:
        print_summary(res.classified, ctx.obj["verbose"])
    _print_plan(res, dry_run=dry_run, quiet=quiet, verbose=ctx.obj["verbose"])
    if res.applied is not None:
        _print_applied(res, quiet=quiet)


def _print_applied(res: SortResult, *, quiet: bool) -> None:
    """The files that could not be placed (then exit 1) and the journal that undoes the sort."""
    applied = res.applied
    assert applied is not None
    for failed in applied.failed:
        where = " (left where it was)" if failed.at_source else ""
        click.echo(f"  failed: {failed.source}: {failed.why}{where}", err=True)
    if not quiet:
        click.echo(f"journal: {applied.journal}\nundo with: animalsort undo '{applied.journal}'", err=True)
    at_source = sum(f.at_source for f in applied.failed)
    if applied.stopped:
        left = len(res.plan.ops) - applied.done - len(applied.failed) + at_source
        raise click.ClickException(
            f"stopped: {applied.stopped} after placing {applied.done} of {len(res.plan.ops)} files; the {left} "
            "others are still at their source: free some space, then run the same sort again (it places only "
            "what is left)"
        )
    if applied.failed:
        where = [f"{at_source} still at their source"] if at_source else []
        if gone := len(applied.failed) - at_source:
            where.append(f"{gone} no longer there: moved or deleted by something else since the plan")
        raise click.ClickException(
            f"{len(applied.failed)} of {len(res.plan.ops)} files could not be placed ({'; '.join(where)})"
        )


def _print_plan(res: SortResult, *, dry_run: bool, quiet: bool, verbose: bool) -> None:
    """What was placed (what the run did; for a dry run, the plan with its first lines), then
    what was renamed, what was a duplicate, what stays where it is and what an earlier sort
    placed."""
    from animalsort.sorting.apply import preview

    p, applied = res.plan, res.applied
    if dry_run or not quiet:
        head = "plan" if dry_run else {"copy": "copied", "move": "moved", "link": "linked"}[p.mode]
        per_folder, companions, groups = (
            (applied.per_folder, applied.companions, len(applied.groups))
            if applied
            else (p.per_folder, p.companions, p.groups)
        )
        counts = ", ".join(f"{folder} {n}" for folder, n in sorted(per_folder.items()))
        click.echo(f"{head}: {sum(per_folder.values())} files ({counts or 'none'}) into {p.dest}", err=not dry_run)
        if companions:
            click.echo(
                f"  with {companions} companion files of {groups} of them (RAW twins, sidecars, Live Photo "
                "clips): same folder, same new name",
                err=not dry_run,
            )
    if dry_run:
        for line in preview(p):
            click.echo(f"  {line}")
        if len(p.ops) > 10:
            click.echo(f"  … {len(p.ops) - 10} more")
    if quiet:
        return
    limit = None if verbose else 5
    if res.corrections is not None or res.audit_answers is not None:
        files = [res.corrections.name] if res.corrections is not None else []
        files += [f"audit answers in {res.audit_answers.name}"] if res.audit_answers is not None else []
        click.echo(f"  {p.reviewed} placed by their reviewed label ({', '.join(files)})", err=True)
    print_thresholds(res.thresholds)
    if p.already_sorted:
        click.echo(f"  {p.already_sorted} files placed by an earlier sort into {p.dest}: left as they are", err=True)
    if p.renamed:
        click.echo(f"  {p.renamed} renamed with a (n) suffix: the name was taken", err=True)
    _echo_some([f"duplicate (not placed twice): {rel} = {other}" for rel, other in p.duplicates], limit, "duplicates")
    _echo_some([f"left in place: {rel}: {why}" for rel, why in p.left], limit, "left in place")
    if dry_run and res.classified is not None:
        click.echo(f"predictions kept: reuse them with --from {res.predictions}", err=True)


def _echo_some(lines: list[str], limit: int | None, what: str) -> None:
    for line in lines[:limit]:
        click.echo(f"  {line}", err=True)
    if limit is not None and len(lines) > limit:
        click.echo(f"  … {len(lines) - limit} more {what}", err=True)


@click.command()
@click.argument("target", metavar="JOURNAL|FOLDER", required=False, type=click.Path(path_type=Path))
@click.option(
    "--list",
    "list_runs",
    is_flag=True,
    help="List the runs recorded for FOLDER (default: the current folder): when, sort or tag, how many files, "
    "undone or not, and each journal.",
)
@output_options
@click.pass_context
@translate_errors
def undo(ctx: click.Context, target: Path | None, list_runs: bool) -> None:
    """Undo a sort or a tag run from its JOURNAL, or the last run on FOLDER that is not undone
    yet: every file a sort placed goes back where it was; every sidecar and photo a tag run
    wrote gets back what it held (the sidecars it created are removed).

    Works after an interrupted run too. Anything that changed since is left alone and
    reported (exit 1); fix it and run undo again: it does the rest.

    \b
    Example:
        animalsort undo ~/photos
        animalsort undo --list ~/photos
        animalsort undo ~/photos/_animalsort/sort-20261122-101500.jsonl
    """
    from animalsort import _api

    if list_runs:
        _print_runs(_api.runs(target if target is not None else Path(".")))
        return
    if target is None:
        raise click.UsageError("give the JOURNAL of a run, or a FOLDER (its last run), or --list")
    journal = target
    if target.is_dir():
        run = _api.last_run(target)
        click.echo(f"undoing the {run.kind} of {run.when} ({run.how}, {run.done} files): {run.path}", err=True)
        journal = run.path
    _print_undone(_api.undo(journal), quiet=ctx.obj["quiet"], verbose=ctx.obj["verbose"])


def _print_runs(runs: list[JournalInfo]) -> None:
    for run in runs:
        click.echo(f"{run.when}  {run.kind:<4}  {run.how:<7}  {run.done:>6} files  {run.state:<24}  {run.path}")


def _print_undone(res: UndoResult | TagUndoResult, *, quiet: bool, verbose: bool) -> None:
    from animalsort.tagging.undo import TagUndoResult

    kind = "tag run" if isinstance(res, TagUndoResult) else "sort"
    for note in res.notes if isinstance(res, TagUndoResult) else []:
        click.echo(f"note: {note}", err=True)
    if res.was_undone:
        click.echo(f"nothing to do: this {kind} was already undone", err=True)
        return
    if not quiet:
        if isinstance(res, TagUndoResult):
            earlier = f"; {res.earlier} given back by an earlier undo" if res.earlier else ""
            click.echo(
                f"restored {res.restored} files, removed {res.removed} sidecars the run had created "
                f"({res.already} were as before{earlier})",
                err=True,
            )
        else:
            click.echo(
                f"restored {res.restored} files ({res.already} had not been placed, or were back already), "
                f"removed {res.dirs_removed} folders",
                err=True,
            )
    _echo_some([f"refused: {path}: {why}" for path, why in res.refused], None if verbose else 20, "refused (-v: all)")
    if not isinstance(res, TagUndoResult) and res.incomplete:
        raise click.ClickException(res.incomplete)
    if res.refused:
        raise click.ClickException(
            f"{len(res.refused)} files were left alone; see above. Once they are sorted out, run the same undo "
            "again: it does the rest"
        )
