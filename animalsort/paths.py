"""Where animalsort keeps its files."""

from __future__ import annotations

import os
import re
from pathlib import Path

CACHE_ENV = "ANIMALSORT_CACHE_DIR"


def cache_dir() -> Path:
    """The weights cache: ``$ANIMALSORT_CACHE_DIR`` or the platform's user cache dir."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("animalsort", appauthor=False))


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_uri(path: str | os.PathLike[str]) -> bool:
    return isinstance(path, str) and _URI.match(path) is not None
