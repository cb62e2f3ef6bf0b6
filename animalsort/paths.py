"""Where animalsort keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ANIMALSORT_CACHE_DIR"


def cache_dir() -> Path:
    """The weights cache: ``$ANIMALSORT_CACHE_DIR`` or the platform's user cache dir."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("animalsort", appauthor=False))
