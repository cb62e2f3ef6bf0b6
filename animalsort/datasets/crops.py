"""A labelled folder of crops (``<class>/<photo path>.box<N>.jpg``) for ``finetune DATA
--detections FILE.json`` and ``finetune --from`` a CSV classified with ``--detections``.

Each animal box becomes one training example: its square as ``classify --detections`` looks
through it (``views.detection_square``, MegaDetector's square crop, black past the frame's
edges), cut from the photo decoded at full resolution (never a downscaled frame) and written
as a JPEG of quality 95 at its own size. ``N`` is the box's detection number in its photo
(most confident first, as ``formats/detection_rows`` numbers them). Person and vehicle boxes
are not animal examples.

From DATA: every box at or above the threshold is an example of the photo's class (a photo
holds one label). A photo with no animal box is left out, unless its class is ``no_animal``:
then it is linked in whole, as the no_animal example it is. From a CSV: a box a person
labelled in ``animalsort review`` (or every animal box of a photo labelled whole there or in
the audit sample), or with ``include_confident=P`` a box the model labelled with at least
that confidence, is an example of its label (``no_animal`` included: a false box).

The folder is built beside its final place and swapped in whole (``links.build``); its marker
records where the boxes came from. No torch.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.datasets.labelled import labelled_splits
from animalsort.datasets.links import build, class_folder, link_one
from animalsort.errors import InputError, RowPathError
from animalsort.formats import corrections
from animalsort.formats.detection_rows import NO_ANIMAL, checked_detections, has_detections
from animalsort.formats.detections import Detection, read_detections
from animalsort.formats.journal import Locator
from animalsort.formats.predictions import file_of, read_predictions, read_sidecar
from animalsort.hashes import sha256_file
from animalsort.paths import is_uri
from animalsort.sources.decode import describe_error, open_rgb
from animalsort.sources.listing import is_video_name
from animalsort.sources.storage import open_path, read_bytes
from animalsort.sources.views import detection_square

MARKER = ".animalsort-crops.json"
JPEG_QUALITY = 95
Box = tuple[float, float, float, float]


@dataclass
class Cropped:
    """What was cut, for the summary (the counts are of photos unless they say boxes)."""

    folder: Path
    source: dict[str, Any]  # summary.json's "crops": the JSON's or the CSV's path, sha256, threshold
    per_label: Counter[str] = field(default_factory=Counter)  # crops (and whole no_animal photos) per class
    photos: int = 0  # photos at least one crop was cut from
    boxes: int = 0  # crops written
    without_box: int = 0  # photos with no animal box to train on: left out
    empty_kept: int = 0  # photos with no animal box kept whole in no_animal
    not_listed: int = 0  # DATA's photos the JSON does not list / CSV rows no detector looked at: left out
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): unreadable, error rows, outside
    missing: list[str] = field(default_factory=list)  # CSV paths whose file is gone

    def record(self) -> dict[str, Any]:
        return {
            **self.source,
            "photos": self.photos,
            "boxes": self.boxes,
            "crops_per_class": dict(self.per_label),
            "photos_without_box": self.without_box,
            "empty_photos_kept_as_no_animal": self.empty_kept,
            "photos_not_in_detections": self.not_listed,
            "skipped": len(self.skipped),
        }


def crop_folder(data: Path, detections: Path, threshold: float, folder: Path) -> Cropped:
    """Build ``folder`` from DATA's class folders and the MegaDetector JSON ``detections``
    (paths relative to DATA); InputError when the JSON names none of DATA's photos."""
    data, detections = Path(data), Path(detections)
    found = read_detections(detections, data, threshold)
    splits = labelled_splits(data, val_split=0.0)
    samples = splits.train + splits.val + splits.test
    if not any(found.peek(s.path) for s in samples):
        example = next(iter(found.entries), None) or (found.refused[0].file if found.refused else None)
        raise InputError(
            f"{detections} names none of the {len(samples)} photos in {data}"
            + (f" (its first entry: {example!r})" if example else "")
            + "; give the JSON MegaDetector wrote when run on DATA (paths relative to DATA)"
        )
    result = Cropped(
        Path(folder),
        {"detections": str(detections.absolute()), "sha256": found.sha256, "threshold": threshold},
    )
    result.skipped += [(e.file, e.problem) for e in found.refused]

    def fill(building: Path) -> dict[str, object]:
        for s in samples:
            entry = found.take(s.path)
            label = splits.classes[s.label]
            if entry is None:
                result.not_listed += 1
            elif entry.problem:
                result.skipped.append((s.path, entry.problem))
            elif not _animals(entry.detections):
                _empty(data / s.path, building / s.path, label, result)
            else:
                cuts = [(n, d.bbox, s.path, label) for n, d in _animals(entry.detections)]
                _cut(str(data / s.path), cuts, building, result)
        if not result.boxes + result.empty_kept:
            raise InputError(f"no animal box at or above {threshold} in {detections} for {data}'s photos")
        return {**result.record(), "data": str(data.absolute())}

    build(result.folder, MARKER, fill, "finetune --detections")
    return result


def crop_predictions(
    predictions: Path, folder: Path, include_confident: float | None = None, src: Path | None = None
) -> Cropped:
    """Build ``folder`` from a CSV classified with ``--detections`` (see the module's text)."""
    predictions = Path(predictions)
    meta = read_sidecar(predictions)
    src = src if src is not None else Path(meta["src"]) if meta.get("src") else predictions.parent
    record = meta.get("detections") or {}
    result = Cropped(
        Path(folder),
        {
            "predictions": str(predictions.absolute()),
            "sha256": sha256_file(predictions),
            "detections": record.get("file"),
            "threshold": record.get("threshold"),
            "include_confident": include_confident,
        },
    )
    locate = Locator(predictions, src)

    def fill(building: Path) -> dict[str, object]:
        folders: dict[str, str] = {}
        for rel, cuts in _chosen_boxes(predictions, include_confident, result):
            try:
                source = locate(rel)
            except RowPathError as exc:
                result.skipped.append((rel, str(exc)))
                continue
            if not is_uri(source) and not os.path.isfile(source):
                result.missing.append(rel)
                continue
            # under its label, a photo keeps its path under SRC (an absolute row's too) or its URI's bucket/key
            top = locate.src
            inside = rel.split("://", 1)[1] if is_uri(source) else os.path.relpath(os.path.join(top, rel), top)
            named = [(n, box, f"{class_folder(lab, folders)}/{inside}", lab) for n, box, lab in cuts]
            _cut(source, named, building, result)
        if not result.boxes:
            why = _why_none(result, predictions, include_confident)
            raise InputError(f"nothing to train on from {predictions}: {why}")
        return {**result.record(), "folders": folders}

    build(result.folder, MARKER, fill, "finetune --from")
    return result


def made_with_detections(predictions: Path) -> bool:
    """Whether ``predictions`` is a CSV classified with ``--detections`` (its boxes are what ``--from`` trains on)."""
    if not Path(predictions).is_file():
        return False  # links.link says so
    first = next(read_predictions(predictions), None)
    return first is not None and has_detections(first)


def _chosen_boxes(
    predictions: Path, include_confident: float | None, result: Cropped
) -> Iterator[tuple[str, list[tuple[int, Box, str]]]]:
    """(path, [(detection number, box, label)]) of each photo with a box to train on: a box a
    person labelled, every animal box of a photo labelled whole, or a confident enough one."""
    whole = corrections.read(predictions)
    for row in corrections.reviewed_rows(predictions):
        rel = row["path"]
        if row.get("status") != "ok" or file_of(row) != rel or is_video_name(rel):
            continue
        found = checked_detections(row)
        if found is None:
            result.not_listed += 1
            continue
        fix = whole.get(rel)
        cuts = []
        for n, d in _animals(found):
            if fix is not None:
                cuts.append((n, d.bbox, fix.label))
            elif d.reviewed or (include_confident is not None and (d.confidence or 0.0) >= include_confident):
                cuts.append((n, d.bbox, d.label))
        if cuts:
            yield rel, cuts
        elif not _animals(found):
            result.without_box += 1


def _why_none(result: Cropped, predictions: Path, include_confident: float | None) -> str:
    if result.skipped:
        path, why = result.skipped[0]
        return f"{len(result.skipped)} photos skipped, e.g. {path!r}: {why}"
    if result.missing:
        return f"{len(result.missing)} photos are not where the CSV says (pass --src)"
    above = f" or labelled with confidence ≥ {include_confident}" if include_confident is not None else ""
    return (
        f"no animal box reviewed{above}: correct the boxes' labels with `animalsort review {predictions}`, "
        "or train on confident ones with --include-confident P"
    )


def _animals(detections: tuple[Detection, ...] | list[Detection]) -> list[tuple[int, Detection]]:
    """(detection number, detection) of the animal boxes (person and vehicle boxes are not examples)."""
    return [(n, d) for n, d in enumerate(detections, start=1) if d.category == "animal"]


def _empty(photo: Path, target: Path, label: str, result: Cropped) -> None:
    """A photo with no animal box: kept whole in a no_animal class, else left out."""
    if label != NO_ANIMAL:
        result.without_box += 1
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    link_one(str(photo), target)
    result.empty_kept += 1
    result.per_label[label] += 1


def _cut(source: str, cuts: list[tuple[int, Box, str, str]], building: Path, result: Cropped) -> None:
    """Write each (number, box, path, label) of one photo as ``building/<path>.box<number>.jpg``."""
    try:
        im = open_rgb(io.BytesIO(read_bytes(open_path("", source))) if is_uri(source) else source)
    except Exception as exc:  # a photo that does not decode is skipped and named, as classify's error rows
        result.skipped.append((source, describe_error(exc)))
        return
    for n, box, rel, label in cuts:
        x, y, w, h = detection_square(box, im.width, im.height)
        left, top = round(x * im.width), round(y * im.height)
        side = max(1, round(w * im.width))
        target = building / f"{rel}.box{n}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        # Image.crop fills the part past the frame with black, as MegaDetector pads its square crops
        im.crop((left, top, left + side, top + side)).save(target, "JPEG", quality=JPEG_QUALITY)
        result.boxes += 1
        result.per_label[label] += 1
    result.photos += 1
