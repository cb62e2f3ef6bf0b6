"""Images embedded in the pages: JPEG thumbnails of photos (a clip's frame for a clip) and PNG
plots, as data URIs, so a page is one self-contained file.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.sources.storage import open_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


THUMB_SIZE = 192  # px, the longer side of an embedded thumbnail


def thumbnail_jpeg(path: str | Path, frame_s: float | None = None, size: int = THUMB_SIZE) -> bytes | None:
    """A JPEG of the image (or of a video's frame at ``frame_s``) at most ``size`` px on its
    longer side, upright (None if it cannot be decoded)."""
    from animalsort.sources.decode import open_rgb
    from animalsort.sources.video import frame_at

    try:
        source = open_path("", os.fspath(path))  # a URI's bytes, or the local path
        im = frame_at(source, frame_s, draft_size=size) if frame_s is not None else open_rgb(source, draft_size=size)
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=75 if size <= THUMB_SIZE else 85)
    except Exception:
        return None
    return buf.getvalue()


def thumbnail_data_uri(path: str | Path, frame_s: float | None = None, size: int = THUMB_SIZE) -> str | None:
    """:func:`thumbnail_jpeg` as a data: URI."""
    jpeg = thumbnail_jpeg(path, frame_s, size)
    return None if jpeg is None else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def figure_data_uri(fig: Figure) -> str:
    """A matplotlib figure as an embedded PNG (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
