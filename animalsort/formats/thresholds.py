"""When a row's label counts: its confidence against its label's threshold — per label from an
audit (``--thresholds audit.json``: the ``thresholds`` that ``animalsort audit report`` wrote),
``--min-confidence`` for a label the file has none for (or without a file). The one rule behind
sort's ``_uncertain/``, report's Uncertain tab, review's uncertain photos, tag's species keyword
and export's ``unknown``; a row a person reviewed always counts. No torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.errors import InputError, UsageError
from animalsort.hashes import sha256_bytes

DEFAULT_MIN_CONFIDENCE = 0.5  # below it a label does not count (sort, report, review, tag, export, audit)
WROTE_IT = "give the JSON `animalsort audit report` wrote (PREDS.audit.json, or its -o)"


@dataclass(frozen=True)
class Thresholds:
    """The confidence each label needs, and the file it came from (recorded by every output)."""

    minimum: float = DEFAULT_MIN_CONFIDENCE  # --min-confidence: labels without a threshold of their own
    per_label: dict[str, float] = field(default_factory=dict)
    file: Path | None = None  # the audit.json, as an absolute path
    sha256: str = ""  # of the file's bytes as read

    def of(self, label: str) -> float:
        return self.per_label.get(label, self.minimum)

    def sure(self, label: str, confidence: float | None, reviewed: bool = False) -> bool:
        """Whether a row's ``label`` counts: a person reviewed it, or ``confidence`` reaches the label's threshold."""
        return reviewed or (confidence is not None and confidence >= self.of(label))

    def record(self) -> dict[str, Any] | None:
        """What a sidecar, journal or export records about the thresholds used (None without a file)."""
        if self.file is None:
            return None
        return {
            "file": str(self.file),
            "sha256": self.sha256,
            "min_confidence": self.minimum,
            "thresholds": self.per_label,
        }


def chosen(min_confidence: object = None, path: str | Path | None = None) -> Thresholds:
    """The thresholds a command was given, checked once for the CLI and the Python API alike:
    ``min_confidence`` (None: the default) over the per-label thresholds of ``path`` (an
    audit.json), when one is named. UsageError for a minimum that is no confidence."""
    if min_confidence is None:
        minimum = DEFAULT_MIN_CONFIDENCE
    elif isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)):
        raise UsageError(f"min_confidence={min_confidence!r}: give a number from 0 to 1")
    elif not 0 <= min_confidence <= 1:  # NaN too
        raise UsageError(f"min_confidence={min_confidence!r} is outside 0–1: a confidence is a number from 0 to 1")
    else:
        minimum = float(min_confidence)
    return load(path, minimum)


def load(path: str | Path | None, minimum: float = DEFAULT_MIN_CONFIDENCE) -> Thresholds:
    """The thresholds of ``path`` (an audit.json) over ``minimum``; ``minimum`` alone without a file.

    Raises InputError naming the file and what is wrong with it."""
    if path is None:
        return Thresholds(minimum)
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--thresholds {path}: cannot read it ({exc.strerror or exc}); {WROTE_IT}") from None
    return Thresholds(minimum, parse(path, data), path.absolute(), sha256_bytes(data))


def parse(path: Path, data: bytes) -> dict[str, float]:
    """``audit.json``'s per-label thresholds (labels the sample could not certify, ``null``, are left out)."""
    try:
        found = json.loads(data.decode("utf-8-sig"))
    except ValueError as exc:
        raise InputError(f"{path} is not JSON ({exc}); {WROTE_IT}") from None
    thresholds = found.get("thresholds") if isinstance(found, dict) else None
    if not isinstance(thresholds, dict):
        raise InputError(f"{path} has no `thresholds`; {WROTE_IT}")
    out = {}
    for label, value in thresholds.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise InputError(f"{path}: the threshold of {label!r} is {value!r}; a threshold is a number from 0 to 1")
        out[str(label)] = float(value)
    return out
