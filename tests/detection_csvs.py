"""Predictions CSVs as ``classify --detections`` writes them (#37), made with the row contract's
own writer helpers (``formats/detection_rows``), for the tests of every command that reads them."""

from __future__ import annotations

import json
from pathlib import Path

from animalsort.formats.detection_rows import columns, detection_rows, files_row, unseen_cells
from animalsort.formats.detections import Detection
from animalsort.formats.predictions import CsvWriter, error_row, ok_row

TOP_K = 3
LABEL_NAMES = ["cat", "dog", "fox", "bird", "no_animal"]


def det(label: str, confidence: float, category: str = "animal", conf: float = 0.9, bbox=(0.1, 0.1, 0.2, 0.2)):
    """A classified detection (a person or vehicle keeps its category as its label)."""
    return Detection(category, conf, tuple(bbox), None, label, confidence)


#: path → (detections, best confidence below the threshold); "broken.jpg" is an error row.
PHOTOS: dict[str, tuple[list[Detection], float]] = {
    "fox_and_dog.jpg": (  # two species: a fox (the surest animal) and a dog
        [det("dog", 0.70, conf=0.95, bbox=(0.5, 0.5, 0.3, 0.4)), det("fox", 0.90, conf=0.80)],
        0.10,
    ),
    "two_foxes.jpg": ([det("fox", 0.85, conf=0.9), det("fox", 0.60, conf=0.7, bbox=(0.6, 0.1, 0.2, 0.2))], 0.0),
    "walker.jpg": (  # a person with a dog the classifier is unsure of
        [
            det("person", 0.97, "person", 0.97, (0.0, 0.0, 0.3, 0.9)),
            det("dog", 0.30, conf=0.6, bbox=(0.5, 0.6, 0.2, 0.2)),
        ],
        0.0,
    ),
    "empty.jpg": ([], 0.15),
    "false_box.jpg": ([det("no_animal", 0.80, conf=0.25)], 0.0),  # a box the classifier says is empty
}


def write_detections_csv(
    out: Path, src: Path, rows: str = "files", with_error: bool = True, unlisted: bool = False
) -> Path:
    """``PHOTOS`` (and an error row) as a CSV of ``--rows files|detections``, with a sidecar that
    records the detections file as classify does. ``unlisted``: and ``unlisted.jpg``, a photo the
    JSON does not list, classified whole (a cat)."""
    with CsvWriter(out, TOP_K, boxes=True, extra=columns(rows)) as w:
        for path, (found, below) in PHOTOS.items():
            w.write(
                [files_row(path, found, TOP_K, below=below)]
                if rows == "files"
                else detection_rows(path, found, TOP_K, below=below)
            )
        if unlisted:
            w.write(
                [ok_row("unlisted.jpg", ["cat", "dog"], [0.8, 0.1], TOP_K, box=None, boxes=True) + unseen_cells(rows)]
            )
        if with_error:
            w.write([error_row("broken.jpg", "truncated image", TOP_K, boxes=True) + unseen_cells(rows)])
    record = {
        "file": str(src / "md.json"),
        "sha256": "cd" * 32,
        "format_version": "1.5",
        "detector": "md_v5a.0.0.pt",
        "threshold": 0.2,
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "info": {"format_version": "1.5", "detector": "md_v5a.0.0.pt", "detection_completion_time": "2024-01-01"},
    }
    meta = {"src": str(src), "model": "lite0", "weights_sha256": "ab" * 32, "label_names": LABEL_NAMES}
    out.with_name(out.name + ".json").write_text(json.dumps({**meta, "detections": record}))
    return out
