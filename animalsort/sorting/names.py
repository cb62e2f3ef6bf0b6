"""Names in a sorted tree: the folder a row goes to (its label, ``_uncertain``, ``_no_animal``,
or its burst's vote), labels made safe as folder names on every OS, ``name (n).ext`` for clashes.
"""

from __future__ import annotations

import re
from pathlib import Path

from animalsort.formats.corrections import REVIEWED
from animalsort.formats.detection_rows import checked_detections, label_confidences
from animalsort.formats.thresholds import Thresholds

MODES = ("copy", "move", "link")
UNCERTAIN = "_uncertain"
NO_ANIMAL = "_no_animal"

# --------------------------------------------------------------------------- names

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_folder_name(label: str, max_len: int = 100) -> str:
    """A label as a folder name that is valid and inert on Linux, macOS and Windows:
    no separators, no ``..``, no control or reserved characters, no reserved device names."""
    name = _UNSAFE.sub("_", label).strip().strip(".")
    name = name[:max_len].rstrip(" .")
    if not name:
        return "_unnamed"
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name


def _numbered(path: Path, n: int) -> Path:
    """``name (n).ext`` beside ``path``."""
    stem, suffix = (path.stem, path.suffix) if path.suffix else (path.name, "")
    return path.with_name(f"{stem} ({n}){suffix}")


def folder_for(row: dict[str, str], thresholds: Thresholds, by_sequence: bool = False) -> str:
    """The folder a row's file goes to: its label's, or with ``by_sequence`` its burst's;
    ``_uncertain`` when that label's confidence is below its threshold. A row a person
    reviewed (``corrections.apply``) goes by its corrected label, however sure the model was
    and whatever its burst says."""
    label, conf = row["label"], float(row.get("confidence") or 0.0)
    reviewed = REVIEWED in row
    if by_sequence and row.get("sequence") and not reviewed:
        label, conf = row["sequence_label"], float(row.get("sequence_confidence") or 0.0)
    if not thresholds.sure(label, conf, reviewed):
        return UNCERTAIN
    if label == "no_animal":
        return NO_ANIMAL
    return safe_folder_name(label)


def folders_for(
    row: dict[str, str], thresholds: Thresholds, by_sequence: bool = False, by_labels: bool = False
) -> list[str]:
    """The folders a row's file goes to: :func:`folder_for`'s one, or with ``by_labels`` one per
    label in the photo (a CSV classified with ``--detections``: deer and fox → ``deer/`` and
    ``fox/``; person and vehicle boxes → ``person/``, ``vehicle/``), each sure enough by its most
    confident detection against its threshold (or reviewed), else ``_uncertain/`` once; the row's own folder comes last.
    A photo a person corrected as a whole, or one without labelled detections, has its one folder."""
    one = [folder_for(row, thresholds, by_sequence)]
    if not by_labels or row.get("status", "ok") != "ok":
        return one
    found = checked_detections(row)
    if not found or (REVIEWED in row and not any(d.reviewed for d in found)):
        return one
    labels = label_confidences(found).items()  # a label a person gave is at 1.0: sure under any threshold
    folders = dict.fromkeys(folder_for({"label": lab, "confidence": str(c)}, thresholds) for lab, c in labels)
    folders.pop(one[0], None)
    return [*folders, *one]  # the row's own folder last: where --move puts the photo itself
