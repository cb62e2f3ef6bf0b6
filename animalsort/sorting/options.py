"""``animalsort sort``'s options: one frozen object, checked once when it is made, built the
same way by the command line and the Python API (:meth:`SortOptions.chosen`), and read whole
by the plan, the journal and apply. No torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from animalsort.errors import UsageError
from animalsort.formats import thresholds as thresholds_file
from animalsort.formats.thresholds import Thresholds
from animalsort.sorting.names import MODES

_FLAGS = ("flat", "verify", "companions", "by_labels", "dry_run")


@dataclass(frozen=True)
class SortOptions:
    """How rows are placed: every choice of ``animalsort sort`` but the folders and the CSV."""

    mode: str = "copy"  # copy, move or link
    thresholds: Thresholds = field(default_factory=Thresholds)  # --min-confidence, per label with --thresholds
    flat: bool = False  # no sub-folders under each label
    verify: bool = False  # each copy's sha256 checked
    by_sequence: float | None = None  # place bursts (times within this many seconds) by their vote
    companions: bool = True  # a photo's RAW twin, sidecars and Live Photo clip go with it
    by_labels: bool = False  # a photo of several labels (--detections) goes into each label's folder
    dry_run: bool = False  # plan only

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"sort mode {self.mode!r}: one of {', '.join(MODES)}")
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name}={getattr(self, name)!r}: give True or False")
        gap = self.by_sequence
        if gap is not None and (isinstance(gap, bool) or not isinstance(gap, (int, float)) or not gap >= 0):
            raise UsageError(f"by_sequence={gap!r}: give the largest gap in seconds within a burst (a number ≥ 0)")
        if gap is not None and math.isinf(gap):
            raise UsageError(f"by_sequence={gap!r}: give a finite number of seconds")
        if self.by_labels and gap is not None:
            raise UsageError(
                "sort by labels places each photo by the labels in it, by sequence by its burst's one vote: choose one"
            )

    @classmethod
    def chosen(
        cls,
        *,
        move: bool = False,
        link: bool = False,
        min_confidence: object = None,
        thresholds: str | Path | None = None,
        flat: bool = False,
        verify: bool = False,
        by_sequence: float | None = None,
        companions: bool = True,
        by_labels: bool = False,
        dry_run: bool = False,
    ) -> SortOptions:
        """The options from the choices a person makes (``--move``/``--link``, ``--min-confidence``,
        ``--thresholds FILE`` …), as ``animalsort sort`` and :func:`animalsort.sort` take them."""
        if move and link:
            raise UsageError("move=True and link=True exclude each other: pass one of them (neither copies)")
        mode = "move" if move else "link" if link else "copy"
        limits = thresholds_file.chosen(min_confidence, thresholds)
        return cls(mode, limits, flat, verify, by_sequence, companions, by_labels, dry_run)
