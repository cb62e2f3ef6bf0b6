"""MegaDetector batch output (format 1.5, https://lila.science/megadetector-output-format),
the file Timelapse, AddaxAI and MegaDetector's own postprocessing read.

A whole-image classifier has no detector: a photo whose answer is an animal is one detection
of category ``animal`` whose box is where the animal is (``--view frame|tiles``: the box
around the animal evidence that decided, ``inference/looking.py``) or the whole frame
``[0, 0, 1, 1]`` (``--view centre``), with ``conf`` the animal probability (1 − P(no_animal);
the sum of the top animal labels when no_animal is not among the CSV's top-k) and
``classifications`` the top animal labels. A confident no_animal photo has no detection; one
below no_animal's threshold keeps its (weak) animal detection, so a threshold in Timelapse decides.
An error row has ``failure`` and null detections. A clip carries ``frame_rate``,
``frames_processed`` (the frames classify sampled) and its best frame's number. A reviewed
row's label comes first, with confidence 1.0.

A CSV classified with ``--detections`` keeps the detector's own boxes, confidences and
categories (with the input file's ids, its ``detection_categories`` and its ``info``, from the
sidecar), and each animal box gets ``classifications``: its label (confidence 1.0 when a
person gave it). A box a person said shows no animal is left out; person and vehicle boxes
have no classification.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import IO, Any

from animalsort._version import __version__
from animalsort.exports.records import Record, Source
from animalsort.exports.taxa import Taxa
from animalsort.formats.detections import category_name
from animalsort.formats.thresholds import Thresholds
from animalsort.sources.metadata import clip_facts
from animalsort.sources.video import DEFAULT_EVERY, DEFAULT_MAX_FRAMES, Sampling

FORMAT_VERSION = "1.5"
DETECTION_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
DETECTION_IDS = {name: cid for cid, name in DETECTION_CATEGORIES.items()}
ANIMAL = "1"


def taxonomy_string(taxa: Taxa, label: str) -> str:
    """``class;order;family;genus;species;common name`` (lower case, empty levels kept), the
    taxonomy string MegaDetector-format classifiers write in ``classification_category_descriptions``."""
    taxon = taxa.table.get(label)
    if taxon is None:
        return ""
    species = taxon.scientific_name.split()[-1] if taxon.rank in ("species", "subspecies") else ""
    levels = [taxon.class_, taxon.order, taxon.family, taxon.genus, species]
    return ";".join(v.lower() for v in levels) + ";" + (taxon.vernacular or label)


class MegadetectorWriter:
    def __init__(self, f: IO[str], source: Source, taxa: Taxa, thresholds: Thresholds):
        self.f, self.source, self.taxa, self.thresholds = f, source, taxa, thresholds
        self.ids: dict[str, str] = {}
        for label in source.labels:
            if label != "no_animal":
                self.ids[label] = str(len(self.ids))
        self.images = 0
        self.detected: dict[str, Any] = source.meta.get("detections") or {}  # classify --detections: the input's record
        categories = self.detected.get("detection_categories") or DETECTION_CATEGORIES
        self.categories: dict[str, str] = {str(k): str(v) for k, v in categories.items()}
        self.category_ids = {category_name(name): cid for cid, name in reversed(self.categories.items())}
        opts = source.meta.get("options") or {}
        self.sampling = Sampling(
            float(opts.get("video_every") or DEFAULT_EVERY), int(opts.get("video_max_frames") or DEFAULT_MAX_FRAMES)
        )
        self.f.write('{"images": [\n')

    def _id(self, label: str) -> str:
        if label not in self.ids:  # a label a person gave in review, outside the model's labels
            self.ids[label] = str(len(self.ids))
        return self.ids[label]

    def add(self, rec: Record) -> None:
        image: dict[str, Any] = {"file": rec.path}
        rate = None
        if rec.is_clip:
            facts = clip_facts(rec.file)
            rate = facts.frame_rate
            image["frame_rate"] = rate if rate is not None else -1.0
            image["frames_processed"] = self._frames(rec, facts) if rec.ok else []
        if not rec.ok:
            image.update(failure=rec.error or "unreadable", detections=None)
        elif rec.detections is not None:
            if rec.is_clip:
                image["detections"] = self._boxes(rec, rate or 0.0)
                image["frames_processed"] = sorted({det["frame_number"] for det in image["detections"]})
            else:
                image["detections"] = self._boxes(rec, None)
        elif rec.frames:  # one detection per frame that shows an animal, as MegaDetector writes videos
            image["detections"] = [d for f in rec.frames for d in self._detections(f, rate or 0.0)]
        else:
            image["detections"] = self._detections(rec, rate if rec.is_clip else None)
        self.f.write((",\n" if self.images else "") + json.dumps(image))
        self.images += 1

    def _frames(self, rec: Record, facts: Any) -> list[int]:
        """The frame numbers classify looked at: its frame rows' times, else its sampling (the
        sidecar's --video-every and --video-max-frames) of the clip's duration."""
        if not facts.frame_rate:
            return []
        if rec.frames:
            times = [f.frame_s or 0.0 for f in rec.frames]
        else:
            times = self.sampling.times(facts.duration) or [rec.frame_s or 0.0]
        return sorted({int(round(t * facts.frame_rate)) for t in times})

    def _detections(self, rec: Record, frame_rate: float | None) -> list[dict[str, Any]]:
        probs = dict(rec.ranked)
        animal_labels = [(lab, c) for lab, c in rec.ranked if lab != "no_animal"]
        if "no_animal" in probs:
            animal = 1.0 - probs["no_animal"]
        else:
            animal = sum(c for _, c in animal_labels)
        animal = round(min(1.0, max(0.0, animal)), 4)
        if rec.reviewed:
            if rec.label == "no_animal":
                return []
            animal_labels = [(rec.label, 1.0)] + [(lab, c) for lab, c in animal_labels if lab != rec.label]
            animal = 1.0
        elif rec.label == "no_animal" and self.thresholds.sure(rec.label, rec.confidence or 0.0):
            return []  # confidently empty
        if not animal_labels:
            return []
        box = list(rec.box) if rec.box is not None else [0.0, 0.0, 1.0, 1.0]
        det: dict[str, Any] = {
            "category": ANIMAL,
            "conf": float(animal),
            "bbox": [round(float(v), 4) for v in box],
            "classifications": [[self._id(lab), round(float(c), 4)] for lab, c in animal_labels],
        }
        if frame_rate is not None:
            det["frame_number"] = int(round((rec.frame_s or 0.0) * frame_rate))
        return [det]

    def _boxes(self, rec: Record, frame_rate: float | None) -> list[dict[str, Any]]:
        """The detector's boxes of a photo classified with ``--detections``, labelled."""
        out = []
        for d in rec.detections or ():
            if d.reviewed and d.label == "no_animal":
                continue  # a person said this box shows no animal
            det: dict[str, Any] = {
                "category": self.category_ids.get(d.category, DETECTION_IDS[d.category]),
                "conf": round(d.conf, 4),
                "bbox": [round(v, 4) for v in d.bbox],
            }
            if d.category == "animal" and d.label and d.label != "no_animal":
                det["classifications"] = [[self._id(d.label), 1.0 if d.reviewed else round(d.confidence or 0.0, 4)]]
            if frame_rate is not None:
                t = d.frame_s if d.frame_s is not None else rec.frame_s or 0.0
                det["frame_number"] = int(round(t * frame_rate))
            out.append(det)
        return out

    def finish(self, completed: datetime) -> None:
        meta = self.source.meta
        when = completed.strftime("%Y-%m-%d %H:%M:%S")
        minimum = self.thresholds.minimum
        classifier = f"animalsort {meta.get('model', '')}".strip()
        info = {
            "format_version": FORMAT_VERSION,
            "detector": f"{classifier} (whole-frame classifier: a box is where its animal evidence is)",
            "detection_completion_time": when,
            "classifier": classifier,
            "classification_completion_time": when,
            "detector_metadata": {
                "typical_detection_threshold": minimum,
                "conservative_detection_threshold": round(minimum / 2, 4),
            },
            "classifier_metadata": {
                "typical_classification_threshold": minimum,
                "weights_sha256": meta.get("weights_sha256", ""),
                "animalsort_version": __version__,
                "predictions": self.source.predictions.name,
            },
        }
        if self.detected.get("info"):  # classify --detections: the detector is the input's, its info kept
            ours = {
                k: v for k, v in info.items() if k not in ("detector", "detection_completion_time", "detector_metadata")
            }
            info = {**self.detected["info"], **ours}
        if (used := self.thresholds.record()) is not None:  # only with --thresholds: the file is as before without
            info["classifier_metadata"]["animalsort_thresholds"] = used
        rest = {
            "info": info,
            "detection_categories": self.categories,
            "classification_categories": {i: lab for lab, i in self.ids.items()},
            "classification_category_descriptions": {i: taxonomy_string(self.taxa, lab) for lab, i in self.ids.items()},
        }
        self.f.write("\n]")
        for key, value in rest.items():
            self.f.write(f",\n{json.dumps(key)}: {json.dumps(value, indent=1)}")
        self.f.write("\n}\n")
