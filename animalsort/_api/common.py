"""Helpers of the API's functions: paths as a person gives them, options checked at the boundary."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError

if TYPE_CHECKING:
    from animalsort.inference.options import ClassifyOptions


PathLike = str | os.PathLike[str]
ImageInput = "PathLike | Image.Image | np.ndarray"


def _expand(path: PathLike) -> Path | str:
    text = os.fspath(path)
    from animalsort.paths import is_uri

    return text if is_uri(text) else Path(text).expanduser()


def _sources(paths: PathLike | Iterable[PathLike]) -> list[Path | str]:
    if isinstance(paths, (str, os.PathLike)):
        return [_expand(paths)]
    return [_expand(p) for p in paths]


def _user(path: PathLike | None) -> Path | None:
    """A path the API was given, ``~`` expanded (the shell does it for the command line)."""
    return Path(path).expanduser() if path is not None else None


def _detection_threshold(threshold: object, rows: str) -> float:
    """``detection_threshold`` (None: MegaDetector's 0.2) and ``rows`` as the API was given them, or a UsageError."""
    from animalsort.formats.detection_rows import ROWS
    from animalsort.formats.detections import DEFAULT_THRESHOLD

    if rows not in ROWS:
        raise UsageError(f"rows={rows!r}: choose one of {', '.join(ROWS)}")
    if threshold is None:
        return DEFAULT_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise UsageError(f"detection_threshold={threshold!r}: give a confidence from 0 to 1 (MegaDetector's 0.2)")
    return float(threshold)


def _options(**options: Any) -> ClassifyOptions:
    from animalsort.inference.options import ClassifyOptions

    return _made(ClassifyOptions, options)


def _made(cls: Any, options: dict[str, Any]) -> Any:
    """``cls(**options)``, or a TypeError that names the unknown options and the known ones."""
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**options)
