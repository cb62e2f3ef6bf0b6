"""A labelled folder (``<label>/<path>``) for ``finetune --from PREDS.csv``, made of links.

The photos a person reviewed (``PREDS.corrections.csv``, or answered in the audit sample
``PREDS.sample.csv``: ``formats.corrections``) go in under their corrected label;
with ``include_confident=P`` so do unreviewed ones the model gave a confidence of at least P.
Each entry is a symbolic link to the photo (a hard link, then a copy, where links cannot be
made), so nothing is duplicated; a photo a sort from this CSV moved is found where it is now.
A photo in object storage (an ``s3://…`` row) is downloaded instead, under its URI's bucket/key.
The folder is built beside its final place and swapped in whole, and only a folder this
module made (it holds :data:`MARKER`) is ever replaced. No torch.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from animalsort.atomic import write_text
from animalsort.errors import InputError, OutputError, RowPathError
from animalsort.formats import answers, corrections
from animalsort.formats.journal import Locator
from animalsort.formats.predictions import file_of, read_predictions, read_sidecar
from animalsort.paths import is_uri
from animalsort.sorting.names import safe_folder_name
from animalsort.sources.listing import is_video_name
from animalsort.sources.storage import open_path, read_bytes

MARKER = ".animalsort-labelled.json"


@dataclass
class Linked:
    folder: Path
    per_label: Counter[str] = field(default_factory=Counter)
    reviewed: int = 0  # photos under the label a person gave them
    confident: int = 0  # unreviewed photos over --include-confident
    missing: list[str] = field(default_factory=list)  # CSV paths whose file is gone
    refused: list[tuple[str, str]] = field(default_factory=list)  # rows leading outside SRC (path, why)
    videos: int = 0  # clips and frame rows left out (finetune trains on photos)
    how: Counter[str] = field(default_factory=Counter)  # "symlink" / "hard link" / "copy" → count

    @property
    def photos(self) -> int:
        return self.reviewed + self.confident


def link(predictions: Path, folder: Path, include_confident: float | None = None, src: Path | None = None) -> Linked:
    """Build ``folder`` from ``predictions`` and its corrections (see the module's text)."""
    predictions = Path(predictions)
    if not predictions.is_file():
        raise InputError(f"--from {predictions}: no such predictions CSV")
    if src is None:
        meta = read_sidecar(predictions)
        src = Path(meta["src"]) if meta.get("src") else predictions.parent
    fixed = corrections.read(predictions)
    if not fixed and include_confident is None:
        raise InputError(
            f"no reviewed photos in {corrections.corrections_path(predictions).name} and no audit answers in "
            f"{answers.sample_path(predictions).name}: correct some with `animalsort review {predictions}`, or "
            "train on confident predictions with --include-confident P"
        )
    result = Linked(folder=Path(folder))

    def fill(building: Path) -> dict[str, object]:
        folders = _fill(
            building, _chosen(predictions, fixed, include_confident, result), Locator(predictions, src), result
        )
        if not result.photos:
            raise InputError(f"nothing to train on from {predictions}: {_why_none(result, include_confident)}")
        used = corrections.files_used(predictions, fixed)
        return {
            "predictions": str(predictions.absolute()),
            "corrections": str(corrections.corrections_path(predictions).absolute()),
            **({"audit_answers": str(used[corrections.AUDIT].absolute())} if corrections.AUDIT in used else {}),
            "include_confident": include_confident,
            "labels": dict(result.per_label),
            "folders": folders,
        }

    build(Path(folder), MARKER, fill, "finetune --from")
    return result


def _why_none(result: Linked, include_confident: float | None) -> str:
    above = f" above confidence {include_confident}" if include_confident is not None else ""
    if result.refused:
        path, why = result.refused[0]
        return f"{len(result.refused)} rows refused, e.g. {path!r}: {why}"
    if result.missing:
        return f"{len(result.missing)} reviewed photos are not where the CSV says{above}"
    return f"no photos{above}"


def _chosen(
    predictions: Path, fixed: dict[str, corrections.Correction], include_confident: float | None, result: Linked
) -> Iterator[tuple[str, str, bool]]:
    """(path, label, reviewed) of each photo to train on: a reviewed one under the label a
    person gave it (``corrections.apply``), else an unreviewed one the model was sure enough
    of. Clips and frame rows are counted and left out."""
    for row in corrections.apply(read_predictions(predictions), fixed):
        if row.get("status") != "ok":
            continue
        rel = row["path"]
        if file_of(row) != rel or is_video_name(rel):
            result.videos += 1
            continue
        reviewed = corrections.REVIEWED in row
        if reviewed or (include_confident is not None and float(row.get("confidence") or 0) >= include_confident):
            yield rel, row["label"], reviewed


def _fill(building: Path, chosen: Iterable[tuple[str, str, bool]], locate: Locator, result: Linked) -> dict[str, str]:
    """Link (or download) each chosen photo under its label's folder in ``building``; returns
    each class folder's label."""
    folders: dict[str, str] = {}  # folder name → the label it holds
    for rel, label, reviewed in chosen:
        try:
            source = locate(rel)
        except RowPathError as exc:
            result.refused.append((rel, str(exc)))
            continue
        remote = is_uri(source)
        if not remote and not os.path.isfile(source):
            result.missing.append(rel)
            continue
        # Under its label, a photo keeps its path under SRC (an absolute row's too) or its URI's bucket/key.
        inside = rel.split("://", 1)[1] if remote else os.path.relpath(os.path.join(locate.src, rel), locate.src)
        target = building / class_folder(label, folders) / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            result.how[_download(source, target) if remote else link_one(source, target)] += 1
        except FileNotFoundError:
            result.missing.append(rel)
            continue
        result.per_label[label] += 1
        if reviewed:
            result.reviewed += 1
        else:
            result.confident += 1
    return folders


def build(folder: Path, marker: str, fill: Callable[[Path], dict[str, object]], by: str) -> None:
    """Make ``folder`` whole or not at all: ``fill`` fills a folder beside it and returns the
    record written to ``marker`` in it, then it is swapped in. Only a folder holding ``marker``
    (one ``by`` made) is ever replaced; a half-built folder never stays (a bad row of the
    CSV, a full disk)."""
    if folder.is_symlink() or (folder.exists() and not (folder / marker).is_file()):
        raise OutputError(f"{folder} exists and was not made by {by}; choose another --out")
    building = folder.with_name(folder.name + f".building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        building.mkdir(parents=True)
        record = fill(building)
        write_text(building / marker, json.dumps(record, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)  # a folder this module made (checked above)
        os.replace(building, folder)
    except BaseException as exc:
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot build {folder}: {exc.strerror or exc}") from None
        raise


def class_folder(label: str, folders: dict[str, str]) -> str:
    """The class folder for ``label``; two labels that make the same safe name get two folders."""
    name = safe_folder_name(label)
    base, n = name, 2
    while folders.get(name, label) != label:
        name, n = f"{base} ({n})", n + 1
    folders[name] = label
    return name


def _download(uri: str, target: Path) -> str:
    """A photo in object storage cannot be linked: its bytes are copied down (once per build)."""
    target.write_bytes(read_bytes(open_path("", uri)))
    return "download"


def link_one(source: str, target: Path) -> str:
    try:
        os.symlink(os.path.abspath(source), target)
        return "symlink"
    except OSError:
        pass
    try:
        os.link(source, target)
        return "hard link"
    except OSError:
        shutil.copy2(source, target)
        return "copy"
