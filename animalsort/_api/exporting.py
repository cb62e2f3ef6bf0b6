"""``export``: a predictions CSV as MegaDetector JSON, a Camtrap DP package or COCO Camera Traps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from animalsort.exports.predictions_export import ExportResult

from animalsort._api.common import PathLike, _user


def export(
    predictions: PathLike,
    out: PathLike,
    format: str = "megadetector",
    *,
    min_confidence: float | None = None,
    thresholds: PathLike | None = None,
    taxa: PathLike | None = None,
    deployments: PathLike | None = None,
    deployment_depth: int | None = None,
    timezone: str | None = None,
    project_title: str = "",
    contributor: str = "",
    capture_method: str = "activityDetection",
    src: PathLike | None = None,
) -> ExportResult:
    """Write a predictions CSV (with its review corrections) as MegaDetector batch JSON, a
    Camtrap DP 1.0.2 package or COCO Camera Traps JSON, like ``animalsort export``.

    Args:
        predictions: the CSV ``classify`` wrote (its sidecar ``PREDS.csv.json`` beside it).
        out: the JSON file, or the package folder for ``"camtrap-dp"``.
        format: ``"megadetector"``, ``"camtrap-dp"`` or ``"coco"``.
        min_confidence: below it a label is "unknown" (default 0.5; reviewed rows always count).
        thresholds: an ``audit.json``: its per-label thresholds instead of ``min_confidence``
            (which stays for the labels it has none for); the output records the file and its sha256.
        taxa: a CSV (label, scientificName, taxonRank) for labels the package's table lacks.
        deployments: Camtrap DP: a CSV with deploymentID, latitude, longitude, folder.
        deployment_depth: one deployment per folder this many levels under SRC (GPS from EXIF).
        timezone: the zone of cameras that write local time (``Europe/Amsterdam``, ``UTC``, ``+02:00``).
        project_title: Camtrap DP: the project's title.
        contributor: Camtrap DP: who made the package.
        capture_method: Camtrap DP: how the cameras were triggered (``activityDetection`` or ``timeLapse``).
        src: the folder the CSV's paths are relative to, when its sidecar's is not where the
            photos are now (a copied or moved folder), or a wider root that rows may reach.

    Returns:
        An ``ExportResult``: ``out``, ``rows``, ``written``, ``counts`` (observations by type), ….
    """
    from animalsort.exports.predictions_export import ExportOptions, export_predictions

    options = ExportOptions.chosen(
        format,
        min_confidence=min_confidence,
        thresholds=_user(thresholds),
        taxa=_user(taxa),
        deployments=_user(deployments),
        deployment_depth=deployment_depth,
        timezone=timezone,
        project_title=project_title,
        contributor=contributor,
        capture_method=capture_method,
        src=_user(src),
    )
    return export_predictions(Path(predictions).expanduser(), Path(out).expanduser(), options)
