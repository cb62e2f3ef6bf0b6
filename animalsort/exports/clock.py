"""When a photo was taken, with its zone, as Camtrap DP requires (``YYYY-MM-DDThh:mm:ssZ`` or
``+hh:mm``): EXIF DateTimeOriginal with OffsetTimeOriginal as it is; a camera's local time
(no offset) or a file's mtime in ``--timezone`` (an IANA name, ``UTC``, or ``+02:00``); without
one of those, no time — the export refuses and names the files."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from animalsort.errors import UsageError
from animalsort.sources.metadata import FileFacts

_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2}):?(\d\d)?$")


def parse_zone(text: str) -> tzinfo:
    text = text.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = _OFFSET.match(text)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(-delta if m.group(1) == "-" else delta)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {text!r}: not a time zone; use an IANA name (Europe/Amsterdam), UTC, or an offset (+02:00)"
        ) from None


class Clock:
    def __init__(self, zone: str | None = None):
        self.zone = parse_zone(zone) if zone else None
        self.sources: dict[str, int] = {}  # "exif" / "exif+zone" / "container" / "mtime" → files
        self.unzoned: list[str] = []  # files whose time has no zone (refused)

    def when(self, file: str, facts: FileFacts, path: str) -> datetime | None:
        """``file``'s capture time, aware; None (and ``path``, its name in the CSV, noted) when
        no zone is known."""
        taken = facts.taken
        if taken is not None and taken.tzinfo is not None:
            return self._count(facts.taken_from, taken)
        if taken is not None:
            if self.zone is None:
                self.unzoned.append(f"{path} (EXIF time without an offset)")
                return None
            return self._count("exif+zone", taken.replace(tzinfo=self.zone))
        try:
            mtime = os.stat(file).st_mtime
        except OSError:
            self.unzoned.append(f"{path} (no capture time, and the file is gone)")
            return None
        if self.zone is None:
            self.unzoned.append(f"{path} (no EXIF time; its mtime needs --timezone)")
            return None
        return self._count("mtime", datetime.fromtimestamp(int(mtime), self.zone))

    def _count(self, source: str, when: datetime) -> datetime:
        self.sources[source] = self.sources.get(source, 0) + 1
        return when


def camtrap_time(when: datetime) -> str:
    """``2024-05-06T07:08:09+02:00`` (``Z`` for UTC), whole seconds."""
    text = when.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
