"""The dataset check a run starts with: what finetune cannot train on is an error, the rest of
``animalsort inspect``'s findings are warnings, and unreadable files are listed and skipped.

One check for both commands: class counts, imbalance and unreadable files come from
``inspection``, so inspect and finetune never disagree about a dataset.
"""

from __future__ import annotations

from pathlib import Path

from animalsort.datasets import inspection
from animalsort.datasets.labelled import LabelledSplits
from animalsort.errors import InputError
from animalsort.pages.inspection_page import write_html
from animalsort.training.options import DatasetCheck

PARTS = ("train", "val", "test")


def check_dataset(splits: LabelledSplits, root: Path) -> DatasetCheck:
    """Counts per class and split; an error for fewer than 2 classes or a class with nothing
    to train on; a warning (with the fix) for a class with nothing to validate on (one photo:
    head mode's refit still learns it, but no metric covers it) and for imbalance."""
    counts: dict[str, dict[str, int]] = {c: dict.fromkeys(PARTS, 0) for c in splits.classes}
    for part in PARTS:
        for s in getattr(splits, part):
            counts[splits.classes[s.label]][part] += 1
    check = DatasetCheck(splits.classes, counts)
    if len(splits.classes) < 2:
        raise InputError(
            f"{root} has {len(splits.classes)} class folder(s); finetune needs at least 2: "
            "put each class's images in its own sub-folder (DATA/<class>/…)"
        )
    empty = [c for c, n in counts.items() if n["train"] < 1]
    if empty:
        raise InputError(
            f"nothing to train on for: {', '.join(empty)}; each class needs at least one training image: "
            "add images or remove those folders"
        )
    check.warnings = _class_warnings(counts, bool(splits.val))
    return check


def _class_warnings(counts: dict[str, dict[str, int]], validating: bool) -> list[str]:
    warnings = []
    single = [c for c, n in counts.items() if n["train"] + n["val"] < 2]
    if single:
        warnings.append(
            f"a single image of: {', '.join(single)}; trained on, but too few to learn it well or to validate it "
            "(10 or more images per class work much better)"
        )
    unvalidated = [c for c, n in counts.items() if n["val"] < 1 and c not in single]
    if unvalidated and validating:
        warnings.append(
            f"no validation image for: {', '.join(unvalidated)}; trained on, but validation accuracy and the "
            "suggested --min-confidence do not cover it (put some of its images in val/)"
        )
    totals = {c: n["train"] + n["val"] for c, n in counts.items()}
    for finding in inspection.class_findings(totals):
        if finding.kind == "imbalance":
            warnings.append(f"{finding.detail}; consider --balance, or more images of the small classes")
    return warnings


def scan_files(
    root: Path,
    splits: LabelledSplits,
    check: DatasetCheck,
    *,
    workers: int,
    progress: bool,
    page: Path | None,
    warn: bool,
) -> None:
    """Decode and measure every file of the split once (``inspection.scan``): unreadable
    files go to ``check.corrupt`` (training skips them); with ``warn`` the other findings
    become warnings (duplicates across train and val are leaks), and ``page`` gets the
    inspect page."""
    samples = [(s.path, splits.classes[s.label], part) for part in PARTS for s in getattr(splits, part)]
    result = inspection.scan(root, samples, workers=workers, progress=progress)
    check.corrupt = [(f.paths[0], f.detail) for f in result.findings if f.kind in inspection.UNREADABLE]
    if page is not None:
        write_html(result, page)
    if not warn:
        return
    for kind, found in result.by_kind().items():
        if kind in inspection.UNREADABLE or kind in ("few_images", "imbalance"):
            continue  # unreadable files are listed on their own; class counts are checked above
        first = found[0]
        shown = f"{first.detail}: {', '.join(first.paths[:3])}{' …' if len(first.paths) > 3 else ''}"
        more = f"; see {page}" if page is not None and (len(found) > 1 or len(first.paths) > 3) else ""
        title = inspection.KIND_TITLES[kind]
        one = len(found) == 1
        check.warnings.append((f"{title}: {shown}" if one else f"{len(found)} × {title} (e.g. {shown})") + more)


def drop_unreadable(splits: LabelledSplits, root: Path, check: DatasetCheck) -> DatasetCheck:
    """Remove the files that could not be read from every part of ``splits``; the counts, the
    errors and the per-class warnings are then those of the photos that will be trained on (a
    class of one photo and one corrupt file has a single image)."""
    if not check.corrupt:
        return check
    scanned = [w for w in check.warnings if w not in _class_warnings(check.counts, bool(splits.val))]
    bad = {path for path, _ in check.corrupt}
    for part in PARTS:
        setattr(splits, part, [s for s in getattr(splits, part) if s.path not in bad])
    try:
        readable = check_dataset(splits, root)
    except InputError as exc:
        path, why = check.corrupt[0]
        raise InputError(f"{exc} ({len(bad)} files could not be read, e.g. {path}: {why})") from None
    readable.corrupt, readable.warnings = check.corrupt, readable.warnings + scanned
    return readable
