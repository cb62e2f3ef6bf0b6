"""What a file says about itself, for exports: when it was taken (EXIF DateTimeOriginal with
its OffsetTimeOriginal, or a clip's container creation time), where (EXIF GPS), and its pixel
size — read from the file's headers with libexiv2 (photos, RAW and HEIC included) and PyAV
(clips), never by decoding the image.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from animalsort.sources.listing import VIDEO_EXTENSIONS


@dataclass(frozen=True)
class FileFacts:
    taken: datetime | None = None  # naive when the file gives no zone (a camera's local time)
    taken_from: str = ""  # "exif", "container" (a clip's creation time, UTC) or "" (none)
    latitude: float | None = None
    longitude: float | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None  # clips
    duration: float | None = None  # clips, seconds


_OFFSET = re.compile(r"^([+-])(\d\d):?(\d\d)$")


def _exiv2() -> Any:
    import exiv2

    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)  # python-exiv2's wheels read HEIC/AVIF/CR3 (BMFF) as built
    return exiv2


def _text(exif: Any, key: str) -> str | None:
    exiv2 = _exiv2()
    pos = exif.findKey(exiv2.ExifKey(key))
    return None if pos == exif.end() else pos.toString().strip().strip("\x00") or None


def _degrees(exif: Any, key: str, ref_key: str) -> float | None:
    exiv2 = _exiv2()
    pos = exif.findKey(exiv2.ExifKey(key))
    if pos == exif.end() or pos.count() < 3:
        return None
    parts = []
    for i in range(3):
        num, den = pos.toRational(i)
        if den == 0:
            return None
        parts.append(num / den)
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    ref = (_text(exif, ref_key) or "").upper()
    return -value if ref in ("S", "W") else value


def capture_datetime(stamp: str, offset: str | None = None) -> datetime | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` (and ``+hh:mm``) → a datetime (aware with an offset)."""
    try:
        taken = datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    m = _OFFSET.match(offset or "")
    if m:
        return datetime.fromisoformat(f"{taken.isoformat()}{m.group(1)}{m.group(2)}:{m.group(3)}")
    return taken


def photo_facts(path: str | os.PathLike[str]) -> FileFacts:
    """A photo's capture time, GPS position and pixel size from its metadata (each None when
    the file does not say, or cannot be read)."""
    exiv2 = _exiv2()
    try:
        image = exiv2.ImageFactory.open(os.fspath(path))
        image.readMetadata()
    except exiv2.Exiv2Error:
        return FileFacts()
    exif = image.exifData()
    stamp = _text(exif, "Exif.Photo.DateTimeOriginal") or _text(exif, "Exif.Image.DateTime")
    taken = capture_datetime(stamp, _text(exif, "Exif.Photo.OffsetTimeOriginal")) if stamp else None
    lat = _degrees(exif, "Exif.GPSInfo.GPSLatitude", "Exif.GPSInfo.GPSLatitudeRef")
    lon = _degrees(exif, "Exif.GPSInfo.GPSLongitude", "Exif.GPSInfo.GPSLongitudeRef")
    width, height = image.pixelWidth() or None, image.pixelHeight() or None
    return FileFacts(taken, "exif" if taken else "", lat, lon, width, height)


def clip_facts(path: str | os.PathLike[str]) -> FileFacts:
    """A clip's creation time (the container's, in UTC), frame rate and size."""
    import av

    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate) if stream.average_rate else None
            created = container.metadata.get("creation_time") or stream.metadata.get("creation_time")
            width, height = stream.codec_context.width or None, stream.codec_context.height or None
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
    except (av.FFmpegError, IndexError, OSError):
        return FileFacts()
    taken = None
    if created:
        try:
            taken = datetime.fromisoformat(created.replace("Z", "+00:00"))
            taken = taken if taken.tzinfo else taken.replace(tzinfo=UTC)
        except ValueError:
            taken = None
    return FileFacts(taken, "container" if taken else "", None, None, width, height, rate, duration)


def file_facts(path: str | os.PathLike[str]) -> FileFacts:
    if os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS:
        return clip_facts(path)
    return photo_facts(path)
