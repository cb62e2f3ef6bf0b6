"""``classify --detections``: the rows each file gets (``formats/detection_rows`` is their
contract), and what the summary and the sidecar say about the detections file.

A file the JSON lists is taken from it once, in the order classify meets it: its animal boxes are
labelled by their crops' answers (``scoring.Scorer``), its person and vehicle boxes keep
the detector's category and confidence as their label, and a file without any box at or above the
threshold is ``no_animal`` without having been decoded. A file the JSON does not list keeps the
row the view gave it, with the detection columns empty, and is counted; an entry the JSON says is
wrong is an error row with its reason. After the last file, the entries no file took: a file
that is not under SRC is an error row, in the JSON's order; one that is there but was not
classified (not a photo, another shard's) is counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from animalsort.formats.detection_rows import Ranked, detection_rows, files_row, unseen_cells
from animalsort.formats.detections import Detection, Detections, Entry
from animalsort.formats.predictions import Prediction, Row, error_row

EXAMPLES = 5  # the summary names this many files of each kind (the sidecar counts them all)


@dataclass
class Counts:
    """What the detections did, for the summary and the sidecar's ``detections.counts``."""

    listed: int = 0  # files the JSON lists that were classified (or are error rows)
    empty: int = 0  # of them, without an animal, person or vehicle box: no decode, no model
    animals: int = 0  # animal boxes classified from their crops
    people: int = 0
    vehicles: int = 0
    failed: int = 0  # listed files that are error rows (the JSON's reason, or a crop that did not decode)
    not_listed: int = 0  # files under SRC the JSON does not list: classified whole, as without it
    missing: int = 0  # files the JSON lists that are not under SRC: error rows at the end
    not_classified: int = 0  # files the JSON lists that are under SRC but were not classified
    outside: int = 0  # entries naming a file outside SRC: neither opened nor written
    examples: dict[str, list[str]] = field(default_factory=dict)  # kind → the first few files

    def note(self, kind: str, what: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES:
            shown.append(what)

    def record(self) -> dict[str, Any]:
        return asdict(self)


class DetectionRows:
    """The rows of ``--detections`` (``rows``: "files" or "detections") for the scored batches,
    then for what the JSON lists that classify did not meet (:meth:`left_rows`)."""

    def __init__(self, found: Detections, rows: str, names: Sequence[str], top_k: int):
        self.found, self.mode, self.names, self.top_k = found, rows, names, top_k
        self.counts = Counts()
        self._unlisted = ""  # the last file not listed (a clip's frame rows count it once)

    def skip(self, done: Iterable[str]) -> None:
        """The files a resumed CSV already has: their entries are taken, not left over."""
        for rel in done:
            self.found.take(rel)

    def rows(self, answer: Prediction, plain: Row) -> list[Row]:
        """``answer``'s rows; ``plain``: its row as classify writes it without detections."""
        file = answer.file
        entry = self.found.take(file)
        if entry is None:
            if file != self._unlisted:
                self.counts.note("not_listed", file)
                self._unlisted = file
            return [plain + unseen_cells(self.mode)]
        self.counts.listed += 1
        if answer.crops is None:  # the JSON's reason (MegaDetector's failure, a bad box), or a decode's
            self.counts.note("failed", f"{entry.rel}: {answer.error}")
            return [error_row(entry.rel, answer.error, self.top_k, boxes=True) + unseen_cells(self.mode)]
        return self.labelled_rows(entry, answer.crops)

    def labelled_rows(self, entry: Entry, crops: Sequence[tuple[Sequence[int], Sequence[float]]]) -> list[Row]:
        """A listed file's rows: its boxes labelled (animals by their crops, in order)."""
        found: list[Detection] = []
        ranked: list[Ranked] = []
        answers = iter(crops)
        for d in entry.detections:
            if d.category == "animal":
                idx, conf = next(answers)
                top = [(self.names[j], c) for j, c in zip(idx, conf)]
                self.counts.animals += 1
            else:  # no classifier runs on a person or a vehicle: the detector says what it is
                top = [(d.category, d.conf)]
                setattr(self.counts, _KINDS[d.category], getattr(self.counts, _KINDS[d.category]) + 1)
            found.append(replace(d, label=top[0][0], confidence=top[0][1]))
            ranked.append(top)
        self.counts.empty += not found
        if self.mode == "files":
            return [files_row(entry.rel, found, self.top_k, ranked, below=entry.below)]
        return detection_rows(entry.rel, found, self.top_k, ranked, below=entry.below)

    def left_rows(self) -> list[Row]:
        """The entries no file took (nor a resumed CSV had: :meth:`skip`), in the JSON's order:
        an error row for each file that is not under SRC; the others counted."""
        out: list[Row] = []
        for entry in self.found.left():
            where = self.found.where(entry) if entry.rel else None
            if where is None:
                self.counts.note("outside", f"{entry.file}: {entry.problem}")
            elif os.path.lexists(where):
                self.counts.note("not_classified", entry.rel)
            else:
                self.counts.note("missing", entry.rel)
                why = f"listed in {self.found.path.name} but not found under {self.found.src}"
                out.append(error_row(entry.rel, why, self.top_k, boxes=True) + unseen_cells(self.mode))
        return out

    def record(self) -> dict[str, Any]:
        """The sidecar's ``detections``: the file (``Detections.record``), the rows, the counts."""
        return {**self.found.record(), "rows": self.mode, "counts": self.counts.record()}


_KINDS = {"person": "people", "vehicle": "vehicles"}
