"""Camtrap DP 1.0.2 (https://camtrap-dp.tdwg.org): a folder with ``datapackage.json``,
``deployments.csv``, ``media.csv`` and ``observations.csv``, valid against the official
profile (the tests run ``../shared/camtrap-dp/validate.py`` on what this writes).

Media-level observations, one a file: ``animal`` (with the label's scientific name),
``blank`` (a confident no_animal), ``unknown`` (below its label's threshold) or ``unclassified``
(an error row); ``classificationMethod`` is ``human`` for rows reviewed in ``review``. Bursts
(the CSV's sequence columns) also get one event-level observation each, by the burst's vote.

A CSV classified with ``--detections`` has one observation per box instead (``count`` 1, its
``bboxX/bboxY/bboxWidth/bboxHeight``; ``human`` and ``vehicle`` for the detector's person and
vehicle boxes, classified by the detector), a photo without boxes one ``blank``; a burst has
one event-level observation per label in it, whose ``count`` is the most of that label seen in
one of its photos (MaxN).
``filePath`` is the path relative to SRC, the classified folder: keep the package there (or
beside a copy of the media) for readers to find the files.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import mimetypes
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from animalsort._version import __version__
from animalsort.exports.clock import Clock, camtrap_time
from animalsort.exports.deployments import COLUMNS as DEPLOYMENT_COLUMNS
from animalsort.exports.deployments import Deployment, Deployments
from animalsort.exports.records import Record, Source
from animalsort.exports.taxa import Taxa
from animalsort.formats.detections import Detection
from animalsort.formats.thresholds import Thresholds
from animalsort.sources.metadata import file_facts
from animalsort.taxonomy import Taxon

SPEC = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0.2/"
PROFILE = SPEC + "camtrap-dp-profile.json"

DETECTOR_KINDS = {"person": "human", "vehicle": "vehicle"}  # the detector's categories as Camtrap DP observation types

MEDIA_COLUMNS = [
    "mediaID",
    "deploymentID",
    "captureMethod",
    "timestamp",
    "filePath",
    "filePublic",
    "fileName",
    "fileMediatype",
    "exifData",
    "favorite",
    "mediaComments",
]
OBSERVATION_COLUMNS = [
    "observationID",
    "deploymentID",
    "mediaID",
    "eventID",
    "eventStart",
    "eventEnd",
    "observationLevel",
    "observationType",
    "cameraSetupType",
    "scientificName",
    "count",
    "lifeStage",
    "sex",
    "behavior",
    "individualID",
    "individualPositionRadius",
    "individualPositionAngle",
    "individualSpeed",
    "bboxX",
    "bboxY",
    "bboxWidth",
    "bboxHeight",
    "classificationMethod",
    "classifiedBy",
    "classificationTimestamp",
    "classificationProbability",
    "observationTags",
    "observationComments",
]


@dataclass(frozen=True)
class PackageInfo:
    """``--project-title``, ``--contributor`` and the capture method (the package's metadata)."""

    title: str = ""
    contributor: str = ""
    capture_method: str = "activityDetection"  # or timeLapse
    sampling_design: str = "opportunistic"


def media_id(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass
class _Burst:
    deployment: str
    start: datetime
    end: datetime
    label: str
    confidence: float | None
    most: Counter[str] = field(default_factory=Counter)  # --detections: label → the most in one photo (MaxN)
    best: dict[str, float] = field(default_factory=dict)  # label → its most confident box


class CamtrapWriter:
    def __init__(
        self,
        folder: Path,
        source: Source,
        taxa: Taxa,
        deployments: Deployments,
        clock: Clock,
        thresholds: Thresholds,
        info: PackageInfo,
    ):
        self.folder, self.source, self.taxa, self.deployments = folder, source, taxa, deployments
        self.clock, self.thresholds, self.info = clock, thresholds, info
        self._media_f = open(folder / "media.csv", "w", newline="", encoding="utf-8")
        self._obs_f = open(folder / "observations.csv", "w", newline="", encoding="utf-8")
        self.media = csv.DictWriter(self._media_f, MEDIA_COLUMNS)
        self.obs = csv.DictWriter(self._obs_f, OBSERVATION_COLUMNS)
        self.media.writeheader()
        self.obs.writeheader()
        self.seen_taxa: dict[str, Taxon] = {}
        self.bursts: dict[str, _Burst] = {}
        self.counts: dict[str, int] = {}
        model = source.meta.get("model", "")
        sha = str(source.meta.get("weights_sha256", ""))[:12]
        self.machine = f"animalsort {__version__} {model}" + (f" (weights sha256 {sha}…)" if sha else "")
        self.detector = str((source.meta.get("detections") or {}).get("detector") or "a detector")
        classified = datetime.fromtimestamp(int(os.stat(source.predictions).st_mtime), UTC)
        self.machine_time = camtrap_time(classified)

    def add(self, rec: Record) -> None:
        deployment = self.deployments.of(rec.path)
        facts = file_facts(rec.file)
        when = self.clock.when(rec.file, facts, rec.path)
        if deployment is not None:
            deployment.saw(when, facts.latitude, facts.longitude)
        if deployment is None or when is None:
            return  # refused at the end (deployments.check, clock.unzoned), with every such file named
        mid = media_id(rec.path)
        stamp = camtrap_time(when)
        self.media.writerow(
            {
                "mediaID": mid,
                "deploymentID": deployment.id,
                "captureMethod": self.info.capture_method,
                "timestamp": stamp,
                "filePath": self._file_path(rec),
                "filePublic": "false",
                "fileName": os.path.basename(rec.file),
                "fileMediatype": mimetypes.guess_type(rec.file)[0] or ("video/mp4" if rec.is_clip else "image/jpeg"),
            }
        )
        media = {
            "deploymentID": deployment.id,
            "mediaID": mid,
            "eventID": rec.sequence,
            "eventStart": stamp,
            "eventEnd": stamp,
            "observationLevel": "media",
        }
        boxes = _boxes(rec)
        for n, d in boxes:
            self._observe({**media, **self._box(rec, n, d)})
        if not boxes:
            self._observe({**media, **self._media(rec)})
        if rec.sequence:
            self._burst(rec, deployment, when, boxes)

    def _observe(self, row: dict[str, Any]) -> None:
        self.obs.writerow(row)
        kind = row["observationType"]
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def _media(self, rec: Record) -> dict[str, Any]:
        """The one observation of a file: its label (and box), blank, unknown or unclassified."""
        kind, taxon = self._kind(rec.label, rec.confidence, rec.reviewed, rec.ok)
        row: dict[str, Any] = {"observationID": f"{media_id(rec.path)}-m", "observationType": kind}
        if kind in ("animal", "blank", "unknown"):
            row.update(self._classification(taxon, rec.confidence, rec.reviewed, rec.reviewed_at))
        if kind == "animal" and rec.box is not None and rec.box[2] > 0 and rec.box[3] > 0:
            row.update(_bbox(rec.box))
        if not rec.ok:
            row["observationComments"] = f"could not be read: {rec.error}"[:500]
        return row

    def _box(self, rec: Record, n: int, d: Detection) -> dict[str, Any]:
        """The observation of box ``n`` of a photo classified with ``--detections``."""
        if d.category in DETECTOR_KINDS:  # no classifier ran: the detector says what it is
            kind, taxon = DETECTOR_KINDS[d.category], None
            said = {"classificationMethod": "machine", "classifiedBy": self.detector}
            said.update(classificationTimestamp=self.machine_time, classificationProbability=f"{d.conf:.4f}")
        else:
            kind, taxon = self._kind(d.label, d.confidence, d.reviewed, True)
            said = self._classification(taxon, d.confidence, d.reviewed, rec.reviewed_boxes.get(n, ""))
        row = {"observationID": f"{media_id(rec.path)}-{n}", "observationType": kind, "count": "1", **said}
        return {**row, **_bbox(d.bbox)}

    def _file_path(self, rec: Record) -> str:
        try:
            rel = Path(rec.file).resolve().relative_to(self.source.src.resolve())
            return rel.as_posix()
        except ValueError:
            return rec.path.replace("\\", "/")  # moved out of SRC by a sort to another --dest

    def _kind(self, label: str, confidence: float | None, reviewed: bool, ok: bool) -> tuple[str, Taxon | None]:
        if not ok:
            return "unclassified", None
        if not self.thresholds.sure(label, confidence, reviewed):
            return "unknown", None
        if label == "no_animal":
            return "blank", None
        taxon = self.taxa.of(label)
        if taxon is not None:
            self.seen_taxa[taxon.scientific_name] = taxon
        return "animal", taxon

    def _classification(
        self, taxon: Taxon | None, confidence: float | None, reviewed: bool, reviewed_at: str
    ) -> dict[str, Any]:
        """Who classified an observation: a person in review (when), or the model (how sure)."""
        out: dict[str, Any] = {"scientificName": taxon.scientific_name if taxon else ""}
        if reviewed:
            when = datetime.fromisoformat(reviewed_at.replace("Z", "+00:00")) if reviewed_at else None
            out.update(classificationMethod="human", classifiedBy="a person, in animalsort review")
            if when is not None:
                out["classificationTimestamp"] = camtrap_time(when.astimezone(UTC))
        else:
            out.update(classificationMethod="machine", classifiedBy=self.machine)
            out["classificationTimestamp"] = self.machine_time
            if confidence is not None:
                out["classificationProbability"] = f"{confidence:.4f}"
        return out

    def _burst(self, rec: Record, deployment: Deployment, when: datetime, boxes: list[tuple[int, Detection]]) -> None:
        b = self.bursts.get(rec.sequence)
        if b is None:
            b = self.bursts[rec.sequence] = _Burst(
                deployment.id, when, when, rec.sequence_label or rec.label, rec.sequence_confidence
            )
        else:
            b.start, b.end = min(b.start, when), max(b.end, when)
        for label, n in Counter(d.label for _, d in boxes).items():
            b.most[label] = max(b.most[label], n)
        for _, d in boxes:
            b.best[d.label] = max(b.best.get(d.label, 0.0), 1.0 if d.reviewed else d.confidence or d.conf)

    def _events(self, seq: str, b: _Burst) -> list[dict[str, Any]]:
        """A burst's event-level observations: by its vote, or with ``--detections`` one per
        label in it with its MaxN as ``count``."""
        labels = (
            [(b.label, b.confidence, "")] if not b.most else [(lab, b.best[lab], str(n)) for lab, n in b.most.items()]
        )
        rows = []
        for k, (label, confidence, count) in enumerate(labels):
            category = {"person": "person", "vehicle": "vehicle"}.get(label, "animal") if b.most else "animal"
            kind, taxon = (
                (DETECTOR_KINDS[category], None)
                if category in DETECTOR_KINDS
                else self._kind(label, confidence, False, True)
            )
            row: dict[str, Any] = {
                "observationID": f"{media_id(seq)}-e" + (str(k + 1) if b.most else ""),
                "deploymentID": b.deployment,
                "eventID": seq,
                "eventStart": camtrap_time(b.start),
                "eventEnd": camtrap_time(b.end),
                "observationLevel": "event",
                "observationType": kind,
                "scientificName": taxon.scientific_name if taxon else "",
                "count": count,
                "classificationMethod": "machine",
                "classifiedBy": self.machine,
                "classificationTimestamp": self.machine_time,
            }
            if confidence is not None:
                row["classificationProbability"] = f"{confidence:.4f}"
            rows.append(row)
        return rows

    def finish(self, info_extra: dict[str, Any]) -> None:
        for seq, b in self.bursts.items():
            for row in self._events(seq, b):
                self.obs.writerow(row)
        self._media_f.close()
        self._obs_f.close()
        self._write_deployments()
        (self.folder / "datapackage.json").write_text(json.dumps(self._package(info_extra), indent=2) + "\n")

    def close(self) -> None:
        self._media_f.close()
        self._obs_f.close()

    def _write_deployments(self) -> None:
        with open(self.folder / "deployments.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, DEPLOYMENT_COLUMNS)
            w.writeheader()
            for d in self.deployments.by_id.values():
                coords = d.coordinates()
                if not d.media or coords is None or d.start is None or d.end is None:
                    continue
                w.writerow(
                    {
                        **d.extra,
                        "deploymentID": d.id,
                        "latitude": f"{coords[0]:.6f}",
                        "longitude": f"{coords[1]:.6f}",
                        "deploymentStart": d.extra.get("deploymentStart") or camtrap_time(d.start),
                        "deploymentEnd": d.extra.get("deploymentEnd") or camtrap_time(d.end),
                    }
                )

    def _package(self, info_extra: dict[str, Any]) -> dict[str, Any]:
        used = [d for d in self.deployments.by_id.values() if d.media and d.coordinates() and d.start]
        coords = [d.coordinates() for d in used]
        lats = [c[0] for c in coords if c]
        lons = [c[1] for c in coords if c]
        starts = [d.start for d in used if d.start]
        ends = [d.end for d in used if d.end]
        title = self.info.title or f"Camera-trap media in {self.source.src.name}, classified by animalsort"
        spatial: dict[str, Any]
        if len(set(zip(lats, lons))) <= 1:
            spatial = {"type": "Point", "coordinates": [lons[0], lats[0]]} if lats else {}
        else:
            w, e, s, n = min(lons), max(lons), min(lats), max(lats)
            if w == e or s == n:  # a line: pad so the polygon is not degenerate
                w, e, s, n = w - 1e-6, e + 1e-6, s - 1e-6, n + 1e-6
            spatial = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
        levels = ["media", "event"] if self.bursts else ["media"]
        taxonomic = []
        for t in sorted(self.seen_taxa.values(), key=lambda t: t.scientific_name):
            entry: dict[str, Any] = {"scientificName": t.scientific_name, "taxonRank": t.rank, **t.higher()}
            if t.vernacular:
                entry["vernacularNames"] = {"eng": t.vernacular}
            taxonomic.append(entry)
        resources = [
            {
                "name": name,
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": f"{SPEC}{name}-table-schema.json",
            }
            for name in ("deployments", "media", "observations")
        ]
        return {
            "profile": PROFILE,
            "name": "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:100] or "animalsort",
            "id": str(uuid.uuid4()),
            "created": camtrap_time(datetime.now(UTC)),
            "title": title,
            "contributors": [{"title": self.info.contributor or _user(), "role": "contact"}],
            "sources": [{"title": "animalsort", "version": __version__}],
            "project": {
                "title": title,
                "samplingDesign": self.info.sampling_design,
                "captureMethod": [self.info.capture_method],
                "individualAnimals": False,
                "observationLevel": levels,
            },
            "spatial": spatial,
            "temporal": {
                "start": min(starts).date().isoformat() if starts else "",
                "end": max(ends).date().isoformat() if ends else "",
            },
            "taxonomic": taxonomic,
            "animalsort": info_extra,
            "resources": resources,
        }


def _boxes(rec: Record) -> list[tuple[int, Detection]]:
    """(number, box) of each box of a photo classified with ``--detections`` that shows
    something (a box whose crop was called no_animal is no observation)."""
    if not rec.ok or not rec.detections:
        return []
    return [(n, d) for n, d in enumerate(rec.detections, start=1) if d.label and d.label != "no_animal"]


def _bbox(box: tuple[float, float, float, float]) -> dict[str, str]:
    return dict(zip(("bboxX", "bboxY", "bboxWidth", "bboxHeight"), (f"{v:.4f}" for v in box)))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "animalsort user"
