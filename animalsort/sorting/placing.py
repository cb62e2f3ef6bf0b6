"""Sorting's steps, each named for what it does: check the folders, read a predictions CSV
(with a person's corrections), then place the rows (plan → journal → apply).

Sorting never classifies: ``animalsort._api.sort_folder`` classifies first when there is no
CSV and hands the rows to :func:`place`, so this package stays below classification (and
free of torch).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from animalsort.atomic import make_folder
from animalsort.errors import InputError, UsageError
from animalsort.formats import corrections
from animalsort.formats.journal import journal_paths
from animalsort.formats.predictions import read_sidecar
from animalsort.locks import folders_locked
from animalsort.paths import is_uri
from animalsort.sorting.apply import ApplyResult, apply
from animalsort.sorting.options import SortOptions
from animalsort.sorting.plan import Earlier, Plan, check_folders, plan


def check_sort_folders(
    src: str | os.PathLike[str], dest: str | os.PathLike[str] | None, mode: str
) -> tuple[Path, Path]:
    """SRC and DEST as absolute local folders (DEST defaults to SRC), or the reason they cannot be."""
    if is_uri(os.fspath(src)) or (dest is not None and is_uri(os.fspath(dest))):
        raise UsageError(
            f"sort moves, copies and links local files only; {src if is_uri(os.fspath(src)) else dest} is object "
            "storage. Classify it with `animalsort classify URI -o preds.csv` (and copy what you need locally)"
        )
    src = Path(os.path.abspath(src))
    dest = Path(os.path.abspath(dest)) if dest is not None else src
    check_folders(src, dest, mode)
    return src, dest


@contextlib.contextmanager
def locked(src: Path, dest: Path, dry_run: bool) -> Iterator[None]:
    """SRC and DEST held by this sort alone (``lock.py``); DEST is made first, and goes again
    when the sort leaves it empty. A dry run changes nothing and holds nothing."""
    if dry_run:
        yield
        return
    made = []
    d = dest
    while not os.path.lexists(d) and d.parent != d:
        made.append(d)
        d = d.parent
    make_folder(dest, "it is where the sorted folders go: choose another --dest")
    try:
        with folders_locked([src, dest], "this sort"):
            yield
    finally:
        for d in made:  # deepest first, while empty
            try:
                d.rmdir()
            except OSError:
                break


def classified_since(predictions: Path) -> int | None:
    """When the classification that wrote ``predictions`` began (its sidecar's ``started_ns``,
    ns since the epoch; None when it does not say): a file modified since may not be the
    picture its row describes."""
    started = read_sidecar(predictions).get("started_ns")
    return started if type(started) is int else None


def rows_from_csv(predictions: Path) -> tuple[Iterable[dict[str, str]], dict[str, Path]]:
    """A predictions CSV's rows, one per photo, with a person's corrections applied (a reviewed
    row goes by its corrected label: ``corrections.reviewed_rows``, review's and the audit
    sample's answers, a photo's or a detection's), and the files they came from
    (``corrections.files_used``)."""
    if not predictions.is_file():
        raise InputError(f"--from {predictions}: no such file")
    used = corrections.files_used(predictions, corrections.read_all(predictions))
    return corrections.reviewed_rows(predictions), used


def place(
    src: Path,
    dest: Path,
    rows: Iterable[dict[str, str]],
    how: SortOptions,
    *,
    earlier: Earlier,
    predictions: Path | None,
    corrected_by: dict[str, Path] | None = None,
    classified_ns: int | None = None,
) -> tuple[Plan, ApplyResult | None]:
    """Plan where every row's file goes, then (unless ``how.dry_run``, or nothing is to be done)
    journal and apply the plan. ``predictions`` is the CSV the rows came from, recorded in the
    journal with the files of the corrections applied (``corrected_by``: :func:`rows_from_csv`);
    ``classified_ns``: when its classification began (:func:`classified_since`).
    The temporary files of earlier runs a kill cut off go first."""
    p = plan(
        src,
        dest,
        rows,
        mode=how.mode,
        thresholds=how.thresholds,
        flat=how.flat,
        verify=how.verify,
        earlier=earlier,
        by_sequence=how.by_sequence is not None,
        companions=how.companions,
        classified_ns=classified_ns,
        by_labels=how.by_labels,
    )
    if not how.dry_run:
        for leftover in earlier.leftovers:
            with contextlib.suppress(OSError):  # gone already, or not ours to remove after all
                os.unlink(leftover)
    if how.dry_run or not p.ops:
        return p, None
    assert predictions is not None
    extra = {
        "predictions": str(predictions.absolute()),
        "min_confidence": how.thresholds.minimum,
        "flat": how.flat,
        "by_sequence": how.by_sequence,
        "corrections": _absolute((corrected_by or {}).get(corrections.REVIEW)),
        "reviewed": p.reviewed,
        "companions": {"on": how.companions, "groups": p.groups, "files": p.companions},
    }
    if answered := (corrected_by or {}).get(corrections.AUDIT):  # only with answers: a journal without is as before
        extra["audit_answers"] = _absolute(answered)
    if (used := how.thresholds.record()) is not None:  # only with --thresholds: a journal without is as before
        extra["thresholds"] = used
    if how.by_labels:
        extra["by"] = "labels"
    return p, apply(p, journal_paths(dest)[0], verify=how.verify, extra=extra)


def _absolute(path: Path | None) -> str | None:
    return str(path.absolute()) if path is not None else None
