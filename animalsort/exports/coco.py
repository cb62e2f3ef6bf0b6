"""COCO Camera Traps (https://lila.science/coco-camera-traps), the JSON of LILA's datasets:
``images`` (file_name, width, height, datetime, location, and seq_id / seq_num_frames /
frame_num for bursts), one image-level ``annotation`` per image (no box), ``categories``
(``empty`` for a confident no_animal, ``unknown`` below its label's threshold). Error rows are left
out (they have no label). Streamed: annotations go to a temporary file while images are
written, and are appended after them.

A CSV classified with ``--detections`` has one annotation per box instead, with its ``bbox``
in pixels (COCO's ``[x, y, width, height]``), its label's category (``person``, ``vehicle``
for the detector's), and ``score``, the detector's confidence (as MegaDetector's own
``md_to_coco`` writes it); a photo without boxes one ``empty`` annotation.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from typing import IO, Any

from animalsort._version import __version__
from animalsort.exports.deployments import Deployments
from animalsort.exports.records import Record, Source
from animalsort.formats.thresholds import Thresholds
from animalsort.sources.metadata import file_facts

EMPTY, UNKNOWN = "empty", "unknown"


class CocoWriter:
    def __init__(self, f: IO[str], source: Source, deployments: Deployments, thresholds: Thresholds, sizes: dict):
        self.f, self.source, self.deployments, self.thresholds = f, source, deployments, thresholds
        self.sizes = sizes  # seq_id → frames (the bursts' lengths, counted in a first pass)
        self.categories: dict[str, int] = {EMPTY: 0}
        for label in source.labels:
            if label != "no_animal":
                self.categories.setdefault(label, len(self.categories))
        self.categories.setdefault(UNKNOWN, len(self.categories))
        self._annotations = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.images = 0
        self.annotations = 0
        self.skipped = 0
        self.frame_in_seq: dict[str, int] = {}
        self.f.write('{"images": [\n')

    def add(self, rec: Record) -> None:
        if not rec.ok:
            self.skipped += 1
            return
        facts = file_facts(rec.file)
        deployment = self.deployments.of(rec.path)
        image: dict[str, Any] = {
            "id": rec.path,
            "file_name": rec.path,
            "width": facts.width,
            "height": facts.height,
            "location": deployment.id if deployment else "",
        }
        if facts.taken is not None:
            image["datetime"] = facts.taken.strftime("%Y-%m-%d %H:%M:%S")
        if rec.sequence:
            n = self.frame_in_seq.get(rec.sequence, 0)
            self.frame_in_seq[rec.sequence] = n + 1
            image.update(seq_id=rec.sequence, seq_num_frames=self.sizes.get(rec.sequence, 1), frame_num=n)
        self.f.write((",\n" if self.images else "") + json.dumps(image))
        boxes = [(n, d) for n, d in enumerate(rec.detections or [], start=1) if d.label and d.label != "no_animal"]
        if boxes and facts.width and facts.height:
            for n, d in boxes:
                sure = self.thresholds.sure(d.label, d.confidence or 0.0, d.reviewed)
                bbox = [round(v * side, 2) for v, side in zip(d.bbox, (facts.width, facts.height) * 2)]
                self._annotate(rec, f"#{n}", d.label if sure else UNKNOWN, bbox=bbox, score=round(d.conf, 4))
        else:
            self._annotate(rec, "#a", self._category(rec))
        self.images += 1

    def _annotate(self, rec: Record, suffix: str, name: str, **extra: Any) -> None:
        if name not in self.categories:  # a label a person gave in review (or the detector's person, vehicle)
            self.categories[name] = len(self.categories)
        annotation = {
            "id": f"{rec.path}{suffix}",
            "image_id": rec.path,
            "category_id": self.categories[name],
            "sequence_level_annotation": False,
            **extra,
        }
        self._annotations.write((",\n" if self.annotations else "") + json.dumps(annotation))
        self.annotations += 1

    def _category(self, rec: Record) -> str:
        if not self.thresholds.sure(rec.label, rec.confidence, rec.reviewed):
            return UNKNOWN
        return EMPTY if rec.label == "no_animal" else rec.label

    def finish(self) -> None:
        self.f.write('\n],\n"annotations": [\n')
        self._annotations.seek(0)
        shutil.copyfileobj(self._annotations, self.f)
        self._annotations.close()
        categories = [{"id": i, "name": name} for name, i in self.categories.items()]
        info = {
            "version": __version__,
            "description": f"{self.source.predictions.name}: animalsort {self.source.meta.get('model', '')}",
            "date_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "contributor": "animalsort",
        }
        if (used := self.thresholds.record()) is not None:  # only with --thresholds: the file is as before without
            info["thresholds"] = used
        self.f.write(f'\n],\n"categories": {json.dumps(categories)},\n"info": {json.dumps(info)}\n}}\n')

    def close(self) -> None:
        self._annotations.close()
