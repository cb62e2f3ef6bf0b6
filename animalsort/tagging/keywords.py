"""What a predictions row says as keywords: the label (``cat``), its path in the label taxonomy
(``Animals|Mammals|Carnivores|cat``), and our record of the answer and where it came from.

Rows below their label's threshold (``formats.thresholds``: ``--min-confidence``, or the label's
own from ``--thresholds audit.json``; a row a person reviewed always counts) and ``no_animal``
rows get no species keyword; ``uncertain=True`` gives the former an ``uncertain`` keyword instead.
A photo classified with ``--detections`` gets a keyword for every label in it that is sure
enough by its most confident detection (``person`` and ``vehicle`` outside the animal
hierarchy), and our record its ``labels`` (``deer:2;person:1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from animalsort._version import __version__
from animalsort.formats.corrections import REVIEWED
from animalsort.formats.detection_rows import LABELS, checked_detections, label_confidences
from animalsort.formats.thresholds import Thresholds
from animalsort.tagging.xmp import Tags
from animalsort.taxonomy import keyword_path

UNCERTAIN_KEYWORD = "uncertain"
DEFAULT_ROOT = "Animals"


@dataclass(frozen=True)
class Wording:
    """How rows become keywords (``animalsort tag``'s options)."""

    thresholds: Thresholds = field(default_factory=Thresholds)  # when a label counts
    root: str = DEFAULT_ROOT
    uncertain: bool = False


def tags_for(row: dict[str, str], wording: Wording, provenance: dict[str, Any], now: datetime | None = None) -> Tags:
    """The keywords (maybe none) and the record for a classified row."""
    label = row["label"]
    reviewed = bool(row.get(REVIEWED))
    confidence = row.get("confidence") or ""
    try:
        sure = wording.thresholds.sure(label, float(confidence), reviewed)
    except ValueError:  # no confidence to compare: only a person's review makes it count
        sure = reviewed
    keywords: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    labels = _sure_labels(row, wording.thresholds)
    if labels:
        keywords, paths = tuple(labels), tuple(_path(lab, wording.root) for lab in labels)
    elif labels is None and label != "no_animal" and sure:
        keywords, paths = (label,), (keyword_path(label, wording.root),)
    if label != "no_animal" and not keywords and wording.uncertain:
        keywords = (UNCERTAIN_KEYWORD,)
        paths = (f"{wording.root}|{UNCERTAIN_KEYWORD}" if wording.root else UNCERTAIN_KEYWORD,)
    record = {
        "label": label,
        "confidence": confidence,
        "reviewed": "True" if reviewed else "False",
        "model": str(provenance.get("model") or ""),
        "weightsSha256": str(provenance.get("weights_sha256") or ""),
        "version": __version__,
        "taggedAt": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    if row.get(LABELS):
        record["labels"] = row[LABELS]
    return Tags(keywords, paths, record)


def _sure_labels(row: dict[str, str], thresholds: Thresholds) -> list[str] | None:
    """The labels of a photo's detections that are sure enough (a reviewed one always), in the
    detections' order; None for a row without detections, or one a person corrected as
    a whole (its label is what it shows)."""
    found = checked_detections(row)
    if found is None or (REVIEWED in row and not any(d.reviewed for d in found)):
        return None
    reviewed = {d.label for d in found if d.reviewed}
    return [lab for lab, c in label_confidences(found).items() if thresholds.sure(lab, c, lab in reviewed)]


def _path(label: str, root: str) -> str:
    """A label's hierarchical keyword; a person or a vehicle is no animal: no animal root."""
    return label if label in ("person", "vehicle") else keyword_path(label, root)
