"""``sort`` (classify or read a CSV, then place) and ``undo``, with the runs a folder's journals hold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    from animalsort.formats.journal_index import JournalInfo
    from animalsort.formats.thresholds import Thresholds
    from animalsort.inference.options import ClassifyOptions, Summary
    from animalsort.sorting.apply import ApplyResult
    from animalsort.sorting.options import SortOptions
    from animalsort.sorting.plan import Earlier, Plan
    from animalsort.sorting.undo import UndoResult
    from animalsort.tagging.undo import TagUndoResult

from animalsort._api.common import PathLike, _expand, _options, _user


@dataclass
class SortResult:
    """What :func:`sort` did: its plan, what was applied, and where the rows came from."""

    plan: Plan
    predictions: Path | None  # None when there was nothing new to classify
    applied: ApplyResult | None = None  # None for a dry run
    classified: Summary | None = None  # when this run classified
    corrections: Path | None = None  # the review's corrections file applied (with --from)
    audit_answers: Path | None = None  # the audit sample whose answers applied (with --from)
    thresholds: Thresholds | None = None  # the per-label thresholds placed by (with thresholds=)


def sort_folder(
    src: PathLike,
    dest: PathLike | None,
    options: SortOptions,
    *,
    predictions: PathLike | None = None,
    classify_options: ClassifyOptions | None = None,
    progress: bool = True,
) -> SortResult:
    """``animalsort sort``: classify (or read ``predictions``), plan, journal, apply.

    With ``predictions``, the corrections made in ``review`` beside it (``PREDS.corrections.csv``)
    apply: a reviewed row is placed by its corrected label. Without ``predictions`` the folder
    is classified first and the CSV is kept beside the journal. DEST defaults to SRC (label
    folders inside it; they are not re-scanned later). ``options.by_sequence`` (a gap in
    seconds): bursts are placed by their vote; a CSV without sequence columns gets them computed
    here (the CSV is not changed). ``options.by_labels``: a photo with several labels (a CSV
    classified with ``--detections``) goes into each label's folder.
    """
    from animalsort.sorting.placing import check_sort_folders, locked

    if classify_options is not None:  # before SRC or DEST gets a folder of ours
        from animalsort.inference.options import check_label_lists

        check_label_lists(classify_options, Path(predictions) if predictions is not None else None)
    src_path, dest_path = check_sort_folders(src, dest, options.mode)
    with locked(src_path, dest_path, options.dry_run):  # one sort at a time in SRC and DEST
        return _sort_locked(src_path, dest_path, options, predictions, classify_options, progress)


def _sort_locked(
    src_path: Path,
    dest_path: Path,
    how: SortOptions,
    predictions: PathLike | None,
    classify_options: ClassifyOptions | None,
    progress: bool,
) -> SortResult:
    from animalsort.formats import corrections
    from animalsort.sorting.placing import classified_since, place, rows_from_csv
    from animalsort.sorting.plan import earlier_sorts

    earlier, by_sequence = earlier_sorts(dest_path), how.by_sequence
    rows: Iterable[dict[str, str]] = ()
    classified, corrected_by = None, {}
    if predictions is not None:
        preds: Path | None = Path(predictions)
        rows, corrected_by = rows_from_csv(Path(predictions))
    else:
        opts = classify_options or _options()
        if by_sequence is not None:
            opts = replace(opts, sequences=by_sequence)
        preds, classified = _classify_for_sort(src_path, dest_path, earlier, opts, progress)
        rows = corrections.reviewed_rows(preds) if preds is not None else ()
    if by_sequence is not None:
        from animalsort.inference.bursts import with_sequences

        rows = with_sequences(list(rows), src_path, by_sequence, preds)
    plan, applied = place(
        src_path,
        dest_path,
        rows,
        how,
        earlier=earlier,
        predictions=preds,
        corrected_by=corrected_by,
        classified_ns=classified_since(preds) if preds is not None else None,
    )
    if predictions is None:  # the files an earlier sort placed were not even scanned
        plan.already_sorted += earlier.count_under(src_path)
    used = how.thresholds if how.thresholds.file is not None else None
    review, audit = corrected_by.get(corrections.REVIEW), corrected_by.get(corrections.AUDIT)
    return SortResult(plan, preds, applied, classified, review, audit, used)


def _classify_for_sort(
    src: Path, dest: Path, earlier: Earlier, opts: ClassifyOptions, progress: bool
) -> tuple[Path | None, Summary | None]:
    """Classify SRC into the sort's own predictions CSV (beside its journal), leaving out what
    earlier sorts into DEST placed. (None, None) when nothing new is left to classify."""
    from animalsort.atomic import make_folder
    from animalsort.errors import NoImagesError
    from animalsort.formats.journal import journal_paths
    from animalsort.inference.pipeline import classify_folder  # torch is imported only here
    from animalsort.sorting.plan import excluded_from_scan

    excluded = excluded_from_scan(src, dest, earlier)
    preds = journal_paths(dest)[1]
    make_folder(preds.parent, "it holds the sort's journal and predictions: choose another --dest")
    try:
        return preds, classify_folder(src, preds, opts, progress=progress, exclude=excluded)
    except NoImagesError:
        if not excluded:
            raise
        return None, None  # everything is where an earlier sort put it: nothing new to sort


def sort(
    src: PathLike,
    dest: PathLike | None = None,
    *,
    move: bool = False,
    link: bool = False,
    dry_run: bool = False,
    predictions: PathLike | None = None,
    min_confidence: float | None = None,
    thresholds: PathLike | None = None,
    flat: bool = False,
    verify: bool = False,
    by_sequence: float | None = None,
    companions: bool = True,
    by_labels: bool = False,
    only: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> SortResult:
    """Sort the photos under ``src`` into per-label folders, like ``animalsort sort``.

    Args:
        src: the folder to sort.
        dest: where the label folders go (default: inside ``src``).
        move: move the files (default: copy them).
        link: link them instead (hard links; symlinks across file systems).
        dry_run: plan only; nothing on disk changes.
        predictions: a predictions CSV to sort by instead of classifying (its review corrections apply).
        min_confidence: below it a photo goes to ``_uncertain/`` (default 0.5).
        thresholds: an ``audit.json`` (``audit_report(out=…)``): its per-label thresholds
            instead of ``min_confidence`` (which stays for the labels it has none for).
        flat: no sub-folders under each label.
        verify: check each copied file's sha256.
        by_sequence: place each burst (capture times within this many seconds) by its vote.
        companions: a photo's RAW twin, edit sidecars (.xmp, .aae …) and Live Photo clip go
            with it (False: file by file).
        by_labels: a photo of several labels (``--detections``: a deer and a fox) goes into each one's folder.
        only: the labels to answer with, as for :func:`classify`; with ``predictions`` it must
            be the list the CSV was classified with (a CSV cannot be renormalised).
        exclude: the labels never to answer with, as for :func:`classify` (the same holds).
        progress: show progress bars on stderr.
        **options: classify options, as for :func:`classify` (``model``, ``weights``, …).

    Returns:
        A ``SortResult``: ``plan`` (``ops``, ``per_folder``, ``duplicates``, ``left``, …),
        ``applied`` (None for a dry run; else ``done``, ``failed``, ``journal`` — give it to
        :func:`undo`), ``predictions`` (the CSV sorted by) and ``classified`` (when this call
        classified).
    """
    from animalsort.sorting.options import SortOptions

    how = SortOptions.chosen(
        move=move,
        link=link,
        min_confidence=min_confidence,
        thresholds=_user(thresholds),
        flat=flat,
        verify=verify,
        by_sequence=by_sequence,
        companions=companions,
        by_labels=by_labels,
        dry_run=dry_run,
    )
    if predictions is not None and options:
        raise UsageError(
            f"classify options ({', '.join(sorted(options))}) do nothing with predictions=: the CSV's labels are used"
        )
    return sort_folder(
        _expand(src),
        _expand(dest) if dest is not None else None,
        how,
        predictions=Path(predictions).expanduser() if predictions is not None else None,
        classify_options=_options(only=only, exclude=exclude, **options),
        progress=progress,
    )


def undo(journal: PathLike) -> UndoResult | TagUndoResult:
    """Undo a sort or a tag run from its journal, like ``animalsort undo``: every file goes
    back where it was (a sort), every sidecar and tagged photo back to what it held (a tag run),
    unless it changed since (then it is left alone and named). Run it again after fixing what
    was refused: it does the rest.

    Args:
        journal: the journal (``SortResult.applied.journal``, ``TagResult.journal``,
            ``…/_animalsort/sort-….jsonl`` or ``tag-….jsonl``), or a folder: its last run
            that is not undone yet (:func:`last_run`).

    Returns:
        For a sort, an ``UndoResult``: ``restored``, ``already`` (never done, or put back
        before), ``refused`` (files left alone, with why), ``dirs_removed`` and ``incomplete``
        (why a journal cut short could not be undone in full). For a tag run, a
        ``TagUndoResult``: ``restored``, ``removed`` (sidecars it created), ``already``, ``refused``.
    """
    from animalsort.formats.journal import journal_kind

    path = Path(journal).expanduser()
    if path.is_dir():
        path = last_run(path).path
    if journal_kind(path) == "tag":
        from animalsort.tagging.undo import undo_tag

        return undo_tag(path)
    from animalsort.sorting.undo import undo_sort

    return undo_sort(path)


def runs(folder: PathLike) -> list[JournalInfo]:
    """The sorts and tag runs recorded for ``folder``, oldest first, like ``animalsort undo
    --list``: each one's journal ``path``, ``kind`` (sort or tag), ``when``, ``how`` (move,
    copy, link; sidecar, embed), files ``done``, and ``state`` (undone, partly undone, not undone)."""
    from animalsort.formats.journal_index import journals_of

    return journals_of(Path(folder).expanduser())


def last_run(folder: PathLike) -> JournalInfo:
    """The latest run on ``folder`` that is not undone (what ``animalsort undo FOLDER`` undoes)."""
    from animalsort.formats.journal_index import last_journal

    return last_journal(Path(folder).expanduser())
