"""XMP inside HEIC, HEIF and AVIF files, carried by ExifTool.

libexiv2 reads these files (ISO BMFF) but does not write them, and nothing else in Python
rewrites their metadata without re-encoding the image. ExifTool (Phil Harvey's, packaged
everywhere: ``libimage-exiftool-perl``, ``brew install exiftool``) does, keeping the coded
image items as they are. It is used only to move the XMP packet in and out: what the packet
says is decided by :mod:`animalsort.tagging.xmp`, the same as for every other file. Without
ExifTool on PATH these files are tagged by sidecar (``--embed-or-sidecar``) or refused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from animalsort.tagging.xmp import MetadataError

EXTENSIONS = frozenset({".heic", ".heif", ".hif", ".avif"})
_TIMEOUT_S = 120
WORK_PREFIX = ".animalsort-heic-"  # + mkdtemp's 8 random characters: ExifTool's work folder beside the photo
_WORK_NAME = re.compile(re.escape(WORK_PREFIX) + r"[a-z0-9_]{8}")


def exiftool() -> str | None:
    return shutil.which("exiftool")


def is_bmff(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in EXTENSIONS


def _run(args: list[str]) -> bytes:
    tool = exiftool()
    if tool is None:
        raise MetadataError("writing into HEIC/AVIF needs ExifTool on PATH (libexiv2 cannot write these files)")
    try:
        done = subprocess.run([tool, *args], capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MetadataError(f"exiftool failed: {exc}") from None
    if done.returncode != 0:
        raise MetadataError(f"exiftool: {done.stderr.decode(errors='replace').strip() or 'failed'}")
    return done.stdout


def read_packet(path: str) -> str | None:
    """The file's XMP packet, or None when it has none."""
    data = _run(["-q", "-b", "-XMP", "--", path])
    return data.decode("utf-8", errors="surrogateescape") if data.strip() else None


def with_packet(path: str, packet: str | None) -> bytes:
    """The bytes of ``path`` with its XMP replaced by ``packet`` (removed when None); the file
    itself is not changed."""
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=Path(path).parent) as tmp:
        out = os.path.join(tmp, "out" + os.path.splitext(path)[1])
        if packet is None:
            _run(["-q", "-m", "-XMP:all=", "-o", out, "--", path])
        else:
            xmp_file = os.path.join(tmp, "packet.xmp")
            Path(xmp_file).write_text(packet, encoding="utf-8", errors="surrogateescape")
            _run(["-q", "-m", f"-XMP<={xmp_file}", "-o", out, "--", path])
        return Path(out).read_bytes()


def remove_leftovers(folder: str) -> None:
    """Remove the work folders :func:`with_packet` left in ``folder`` when a kill cut it off
    (a run holds the folder's lock, so none is in use)."""
    for entry in Path(folder).glob(f"{WORK_PREFIX}*"):
        if _WORK_NAME.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
