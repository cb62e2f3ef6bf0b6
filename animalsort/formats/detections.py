"""MegaDetector batch output read in (``classify SRC --detections FILE.json``): the JSON that
MegaDetector's batch runner, AddaxAI, Pytorch-Wildlife and ``animalsort export -f megadetector``
write, format 1.0 to 1.6 (https://lila.science/megadetector-output-format).

What is kept, per image: the detections at or above the threshold whose category is an
animal, a person or a vehicle (other categories are "no detection", as the format says, and
counted), most confident first; the best confidence below the threshold (how close the photo
came to a detection); a video's frame rate. What makes an image an error row, naming the file:
MegaDetector's own ``failure``, a box outside the frame or of no size, a confidence outside
0–1, a category the file does not define, an image listed twice, a path that leads outside
SRC. What makes the whole file refused: not JSON, not MegaDetector output, a format version
this module does not know.

Memory: the JSON is read as a stream (``json_stream``), one image at a time; an image costs
its path and its detections above the threshold: a million images, 70% empty, peak at 416 MB
(``benchmarks/detections.py --scale``; README). Paths are matched to SRC's files as classify lists them:
relative to SRC, ``/``-separated; backslashes (Windows) and absolute paths under SRC are
accepted. Every path is resolved inside SRC (``paths.RowPaths``): nothing outside is opened.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.errors import InputError, RowPathError
from animalsort.formats.json_stream import JsonStream, JsonStreamError
from animalsort.paths import RowPaths

#: MegaDetector's recommended threshold for MDv5, the detector most batch files come from:
#: ``typical_detection_threshold`` 0.2 in ``known_models`` of ``megadetector/detection/run_detector.py``
#: (also its ``DEFAULT_RENDERING_CONFIDENCE_THRESHOLD``); its batch files repeat it in
#: ``info.detector_metadata.typical_detection_threshold``.
DEFAULT_THRESHOLD = 0.2
CATEGORIES = ("animal", "person", "vehicle")
_SYNONYMS = {"human": "person"}  # what some tools (animl) call MegaDetector's category 2
_VERSIONS = (1.0, 2.0)  # 1.0 ≤ format_version < 2.0
_EDGE = 0.005  # a box may overshoot the frame this much (rounding); it is clipped
_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass(frozen=True, slots=True)
class Detection:
    """One box a detector found, and the label given to it once classified (an animal's from
    the classifier; a person or a vehicle keeps its category as its label)."""

    category: str  # "animal", "person" or "vehicle"
    conf: float  # the detector's confidence
    bbox: tuple[float, float, float, float]  # x, y, width, height as fractions of the frame (MegaDetector's)
    frame_s: float | None = None  # a video's frame, in seconds from its start (frame_number / frame_rate)
    label: str = ""
    confidence: float | None = None  # the label's
    reviewed: bool = False  # the label is a person's (``animalsort review``)


@dataclass(slots=True)
class Entry:
    """One image (or video) of the JSON."""

    file: str  # as the JSON names it
    index: int  # its place in the JSON's "images" (0-based)
    rel: str  # relative to SRC, "/"-separated ("" when it names no file inside SRC)
    detections: tuple[Any, ...] = ()  # Detection, most confident first (raw tuples while reading)
    below: float = 0.0  # the best confidence of a detection below the threshold (0.0: none)
    frame_rate: float | None = None
    problem: str = ""  # why this file is an error row ("" when it is fine)


@dataclass
class Detections:
    """A MegaDetector file, read: its images by path under SRC, and what the sidecar records."""

    path: Path
    src: Path
    threshold: float
    sha256: str = ""
    format_version: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)  # the file's detection_categories
    ignored: Counter[str] = field(default_factory=Counter)  # detections of other categories, by name
    entries: dict[str, Entry] = field(default_factory=dict)  # rel → entry, until taken
    refused: list[Entry] = field(default_factory=list)  # entries whose path names no file inside SRC
    paths: RowPaths = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.paths = RowPaths(self.src)

    @property
    def detector(self) -> str:
        return str(self.info.get("detector") or "unknown")

    @property
    def recommended_threshold(self) -> float | None:
        """The threshold the file itself recommends (``info.detector_metadata``), if it says one."""
        meta = self.info.get("detector_metadata")
        value = meta.get("typical_detection_threshold") if isinstance(meta, dict) else None
        return float(value) if _is_number(value) and 0.0 <= value <= 1.0 else None

    def peek(self, rel: str) -> Entry | None:
        """The entry of the file ``rel``, left in place (what a decoder reads: the rows' writer takes it)."""
        return self.entries.get(rel)

    def take(self, rel: str) -> Entry | None:
        """The entry of the file ``rel`` (as classify lists it), or None when the JSON has none;
        each entry is taken once (what is left: :meth:`left`)."""
        return self.entries.pop(rel, None)

    def left(self) -> list[Entry]:
        """The entries no file took, in the JSON's order (and those refused): each is a file
        the JSON lists that classify did not find (an error row, see ``missing``)."""
        return sorted([*self.entries.values(), *self.refused], key=lambda e: e.index)

    def where(self, entry: Entry) -> str | None:
        """The file under SRC an entry names (None when it names none): to check that it is missing."""
        return self.paths.resolve(entry.rel) if entry.rel else None

    def record(self) -> dict[str, Any]:
        """What the predictions' sidecar records as ``detections`` (``--resume`` compares the
        sha256; ``export -f megadetector`` writes the ``info`` and categories back)."""
        return {
            "file": str(self.path.absolute()),
            "sha256": self.sha256,
            "format_version": self.format_version,
            "detector": self.detector,
            "threshold": self.threshold,
            "detection_categories": dict(self.categories),
            "info": self.info,
            **({"ignored": dict(self.ignored)} if self.ignored else {}),  # other categories' detections, by name
        }


def read_detections(
    path: str | os.PathLike[str], src: str | os.PathLike[str], threshold: float = DEFAULT_THRESHOLD
) -> Detections:
    """Read ``path`` (see the module's text); InputError when it is not MegaDetector output."""
    path = Path(path)
    if not 0.0 <= threshold <= 1.0 or not math.isfinite(threshold):
        raise InputError(f"--detection-threshold {threshold}: give a confidence from 0 to 1 (MegaDetector's 0.2)")
    found = Detections(path, Path(src), threshold)
    reader = _Reader(found)
    try:
        with open(path, "rb") as f:
            stream = JsonStream(f)
            for key, value in stream.members("images"):
                reader.member(key, value)
            found.sha256 = stream.sha256
    except FileNotFoundError:
        raise InputError(f"--detections {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"--detections {path}: {exc.strerror or exc}") from None
    except JsonStreamError as exc:
        raise InputError(f"{path} is not MegaDetector output: not valid JSON ({exc})") from None
    reader.finish()
    return found


class _Reader:
    """Checks each member as it comes; images keep their category ids until the end (a file
    may name its categories after its images, as MegaDetector's own writer does)."""

    def __init__(self, found: Detections):
        self.found = found
        self.seen: set[str] = set()  # the category ids of the detections kept
        self.members: set[str] = set()

    def member(self, key: str, value: Any) -> None:
        self.members.add(key)
        if key == "images":
            if not hasattr(value, "__next__"):
                raise self._not_md("its 'images' is not a list")
            for index, image in enumerate(value):
                self._add(index, image)
        elif key == "info":
            self.found.info = value if isinstance(value, dict) else {}
        elif key == "detection_categories":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise self._not_md("its detection_categories is not a map of ids to names")
            self.found.categories = {str(k): v for k, v in value.items()}

    def _not_md(self, why: str) -> InputError:
        return InputError(
            f"{self.found.path} is not MegaDetector batch output: {why}. --detections takes the JSON that "
            "MegaDetector's run_detector_batch, AddaxAI or Pytorch-Wildlife writes (https://lila.science/"
            "megadetector-output-format)"
        )

    def _add(self, index: int, image: Any) -> None:
        if not isinstance(image, dict) or not isinstance(image.get("file"), str) or not image["file"]:
            what = "is not an object" if not isinstance(image, dict) else "has no 'file'"
            coco = isinstance(image, dict) and "file_name" in image
            hint = " (a COCO file names images by 'file_name')" if coco else ""
            raise self._not_md(f"images[{index}] {what}{hint}")
        entry = Entry(image["file"], index, "")
        rel, problem = self._rel(image["file"])
        entry.rel = entry.file if rel == entry.file else rel  # one string, not two, for most
        entry.problem = problem or _checked(image, entry, self.found.threshold)
        if not entry.rel:
            self.found.refused.append(entry)
            return
        other = self.found.entries.get(entry.rel)
        if other is not None:
            other.problem = other.problem or (
                f"listed twice in {self.found.path.name} (images[{other.index}] and images[{index}]): which entry is "
                "right is unknown; remove one"
            )
            return
        self.seen.update(d[0] for d in entry.detections)
        self.found.entries[entry.rel] = entry

    def _rel(self, file: str) -> tuple[str, str]:
        """(the path relative to SRC, "") or ("", why it names no file inside SRC)."""
        name = file.replace("\\", "/")  # the format allows either separator
        if name.startswith("/") or _DRIVE.match(name):
            for top in dict.fromkeys((os.path.abspath(self.found.src), os.path.realpath(self.found.src))):
                prefix = top.replace(os.sep, "/").rstrip("/") + "/"
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    break
            else:
                return "", (
                    f"an absolute path outside {self.found.src}; MegaDetector writes paths relative to the folder it "
                    "ran on with --output_relative_filenames, and those are read relative to SRC"
                )
        rel = posixpath.normpath(name)
        try:
            self.found.paths.resolve(rel)
        except RowPathError as exc:
            return "", str(exc)
        return rel, ""

    def finish(self) -> None:
        found = self.found
        for key in ("images", "detection_categories", "info"):
            if key not in self.members:
                raise self._not_md(f"no {key!r}")
        version = found.info.get("format_version")
        try:
            number = float(version)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise self._not_md(f"info.format_version {version!r} is not a version number") from None
        if not _VERSIONS[0] <= number < _VERSIONS[1]:
            raise InputError(
                f"{found.path}: MegaDetector format version {version} is not one animalsort reads (1.0 to 1.6, and "
                "later 1.x); convert it with MegaDetector's own tools, or update animalsort"
            )
        found.format_version = str(version)
        names = {cid: category_name(name) for cid, name in found.categories.items()}
        for entry in found.entries.values():
            entry.detections = self._labelled(entry, names)

    def _labelled(self, entry: Entry, names: dict[str, str]) -> tuple[Detection, ...]:
        kept = []
        for k, (cid, conf, bbox, frame) in enumerate(entry.detections, start=1):
            if cid not in names:
                entry.problem = entry.problem or (
                    f"detection {k}: category {cid!r} is not in the file's detection_categories "
                    f"({', '.join(f'{i}: {n}' for i, n in self.found.categories.items())})"
                )
                continue
            if names[cid] not in CATEGORIES:
                self.found.ignored[self.found.categories[cid]] += 1
                continue
            frame_s = frame / entry.frame_rate if frame is not None and entry.frame_rate else None
            kept.append(Detection(names[cid], conf, bbox, frame_s))
        kept.sort(key=lambda d: -d.conf)  # stable: equal confidences keep the file's order
        return () if entry.problem else tuple(kept)


def _checked(image: dict[str, Any], entry: Entry, threshold: float) -> str:
    """Fill ``entry`` from ``image``; the problem that makes it an error row, or ""."""
    failure = image.get("failure")
    if failure is not None:
        return f"MegaDetector could not process it: {failure}"
    detections = image.get("detections")
    if not isinstance(detections, list):
        return "no 'detections' list and no 'failure' (an entry MegaDetector did not finish)"
    rate = image.get("frame_rate")
    if rate is not None and not (_is_number(rate) and rate > 0):
        return f"frame_rate {rate!r} is not a positive number"
    entry.frame_rate = float(rate) if rate is not None else None
    kept = []
    for k, det in enumerate(detections, start=1):
        parsed = _detection(det)
        if isinstance(parsed, str):
            return f"detection {k}: {parsed}"
        if parsed[3] is not None and entry.frame_rate is None:
            return f"detection {k}: a frame_number without the video's frame_rate"
        if parsed[1] >= threshold:
            kept.append(parsed)
        else:
            entry.below = max(entry.below, parsed[1])
    entry.detections = tuple(kept)
    return ""


def _detection(det: Any) -> tuple[str, float, tuple[float, float, float, float], int | None] | str:
    """(category id, conf, bbox, frame_number) of a detection, or what is wrong with it."""
    if type(det) is not dict:
        return f"{det!r} is not an object"
    cid, conf, bbox, frame = det.get("category"), det.get("conf"), det.get("bbox"), det.get("frame_number")
    if type(cid) is not str:
        return f"category {cid!r} is not a string id"
    if not (_is_number(conf) and 0.0 <= conf <= 1.0):
        return f"conf {conf!r} is not a number from 0 to 1"
    if not (type(bbox) is list and len(bbox) == 4 and _is_number(bbox[0]) and _is_number(bbox[1])):
        return f"bbox {bbox!r} is not [x_min, y_min, width, height]"
    x, y, w, h = bbox
    if not (_is_number(w) and _is_number(h)):
        return f"bbox {bbox!r} is not [x_min, y_min, width, height]"
    if w <= 0 or h <= 0:
        return f"bbox {bbox} has a negative or zero size"
    if not (0 <= x <= 1 and 0 <= y <= 1 and x + w <= 1 + _EDGE and y + h <= 1 + _EDGE):
        return f"bbox {bbox} lies outside the frame (x, y, width, height are fractions of it, from 0 to 1)"
    if frame is not None and not (type(frame) is int and frame >= 0):
        return f"frame_number {frame!r} is not a frame number"
    return cid, float(conf), (float(x), float(y), float(min(w, 1 - x)), float(min(h, 1 - y))), frame


def category_name(name: str) -> str:
    """A ``detection_categories`` name as this module reads it (``Animal`` → ``animal``, ``human`` → ``person``)."""
    name = name.strip().lower()
    return _SYNONYMS.get(name, name)


def _is_number(v: Any) -> bool:
    """An int or a finite float (not a bool, a string, NaN); ``type`` is fast, and a million images' boxes pass here."""
    return type(v) is int or (type(v) is float and math.isfinite(v))


#: The categories a caller's boxes may name (``Classifier.predict(images, boxes=…)``): MegaDetector's ids, or names.
GIVEN_IDS = {"1": "animal", "2": "person", "3": "vehicle"}


def given_entry(name: str, index: int, boxes: Any, threshold: float = DEFAULT_THRESHOLD) -> Entry:
    """The entry of an image a caller holds, from the boxes they give for it: each a box ``(x, y,
    w, h)`` as fractions of the image (an animal, at confidence 1) or a detection as MegaDetector
    writes it (``{"category": "1" or "animal", "conf": 0.9, "bbox": [x, y, w, h]}``); those below
    ``threshold`` are left out as a file's are. ValueError saying which box is wrong and why."""
    entry = Entry(name, index, name)
    kept = []
    for k, item in enumerate(boxes, start=1):
        det = item if isinstance(item, dict) else {"bbox": item}
        category = str(det.get("category", "animal"))
        category = GIVEN_IDS.get(category, category_name(category))
        try:
            bbox = [float(v) for v in det.get("bbox")]  # numpy numbers too
            conf = float(det.get("conf", 1.0))
        except (TypeError, ValueError):
            bbox, conf = det.get("bbox"), det.get("conf")
        parsed = _detection({"category": category, "conf": conf, "bbox": bbox})
        if isinstance(parsed, str) or category not in CATEGORIES:
            why = parsed if isinstance(parsed, str) else f"category {category!r} is not one of {', '.join(CATEGORIES)}"
            raise ValueError(f"box {k} of image {index}: {why}")
        if parsed[1] >= threshold:
            kept.append(Detection(category, parsed[1], parsed[2]))
        else:
            entry.below = max(entry.below, parsed[1])
    entry.detections = tuple(sorted(kept, key=lambda d: -d.conf))
    return entry
