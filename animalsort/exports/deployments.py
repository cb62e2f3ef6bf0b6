"""Which deployment (one camera at one place for a time) each file belongs to, and where it
was: ``--deployments FILE.csv`` (``deploymentID, latitude, longitude, folder``, further Camtrap
DP deployment columns passed through) or ``--deployment-depth N`` (one deployment per folder N
levels under SRC: ``site/camera/…``; 0: SRC is one deployment), with coordinates from the
photos' EXIF GPS where the file gives none."""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from animalsort.errors import InputError

#: Camtrap DP 1.0.2 deployments.csv, in the schema's order.
COLUMNS = [
    "deploymentID",
    "locationID",
    "locationName",
    "latitude",
    "longitude",
    "coordinateUncertainty",
    "deploymentStart",
    "deploymentEnd",
    "setupBy",
    "cameraID",
    "cameraModel",
    "cameraDelay",
    "cameraHeight",
    "cameraDepth",
    "cameraTilt",
    "cameraHeading",
    "detectionDistance",
    "timestampIssues",
    "baitUse",
    "featureType",
    "habitat",
    "deploymentGroups",
    "deploymentTags",
    "deploymentComments",
]


@dataclass
class Deployment:
    id: str
    folder: str  # relative to SRC, "/"-separated; "" = all of SRC
    latitude: float | None = None
    longitude: float | None = None
    extra: dict[str, str] = field(default_factory=dict)
    gps: list[tuple[float, float]] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    media: int = 0

    def saw(self, when: datetime | None, lat: float | None, lon: float | None) -> None:
        self.media += 1
        if when is not None:
            self.start = when if self.start is None or when < self.start else self.start
            self.end = when if self.end is None or when > self.end else self.end
        if lat is not None and lon is not None and len(self.gps) < 1000:
            self.gps.append((lat, lon))

    def coordinates(self) -> tuple[float, float] | None:
        if self.latitude is not None and self.longitude is not None:
            return self.latitude, self.longitude
        if self.gps:  # the median is robust to a photo with a wild fix
            return statistics.median(g[0] for g in self.gps), statistics.median(g[1] for g in self.gps)
        return None


class Deployments:
    def __init__(self, file: Path | None = None, depth: int | None = None, default_id: str = "deployment"):
        if file is not None and depth is not None:
            raise InputError("give --deployments or --deployment-depth, not both")
        self.depth = depth if file is None else None
        self.by_id: dict[str, Deployment] = {}
        self.default_id = default_id
        self.unplaced: list[str] = []
        self._listed: list[tuple[tuple[str, ...], Deployment]] = []  # --deployments: deepest folder first
        if file is not None:
            for d in read_deployments(file):
                self.by_id[d.id] = d
            self._listed = sorted(
                ((PurePosixPath(d.folder).parts, d) for d in self.by_id.values()), key=lambda x: -len(x[0])
            )

    def of(self, path: str) -> Deployment | None:
        """The deployment of the CSV path ``path`` (None, and noted, when none holds it)."""
        parts = PurePosixPath(path.replace("\\", "/")).parts[:-1]
        if self._listed:
            for folder, d in self._listed:
                if parts[: len(folder)] == folder:
                    return d
            self.unplaced.append(path)
            return None
        depth = self.depth or 0
        if len(parts) < depth:
            self.unplaced.append(path)
            return None
        key = "/".join(parts[:depth]) if depth else ""
        d = self.by_id.get(key or self.default_id)
        if d is None:
            d = self.by_id[key or self.default_id] = Deployment(key or self.default_id, key)
        return d

    def check(self) -> None:
        """Refuse files no deployment holds, and deployments without coordinates."""
        if self.unplaced:
            some = ", ".join(self.unplaced[:5]) + (f" … ({len(self.unplaced)} files)" if len(self.unplaced) > 5 else "")
            how = (
                "no folder of --deployments holds them"
                if self.depth is None
                else f"they are fewer than {self.depth} folders deep"
            )
            raise InputError(f"files without a deployment: {some}; {how}")
        lacking = [d.id for d in self.by_id.values() if d.media and d.coordinates() is None]
        if lacking:
            raise InputError(
                f"deployments without coordinates (a Camtrap DP package needs them; their photos carry no GPS): "
                f"{', '.join(lacking[:10])}{' …' if len(lacking) > 10 else ''}; give them in --deployments FILE.csv "
                "(deploymentID, latitude, longitude, folder)"
            )


def _coordinate(text: str, what: str, low: float, high: float, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not a number") from None
    if not low <= value <= high:
        raise InputError(f"{where}: {what} {value} is out of range [{low:g}, {high:g}]")
    return value


def read_deployments(path: Path) -> list[Deployment]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"--deployments {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    need = {"deploymentID", "latitude", "longitude", "folder"}
    if not need <= set(reader.fieldnames or ()):
        raise InputError(
            f"--deployments {path} needs the columns {', '.join(sorted(need))}; it has {reader.fieldnames}"
        )
    out: list[Deployment] = []
    seen: set[str] = set()
    for n, r in enumerate(reader, start=2):
        where = f"--deployments {path} line {n}"
        ident = (r["deploymentID"] or "").strip()
        if not ident or ident in seen:
            raise InputError(f"{where}: deploymentID {ident!r} is {'empty' if not ident else 'not unique'}")
        seen.add(ident)
        lat = _coordinate(r["latitude"], "latitude", -90, 90, where)
        lon = _coordinate(r["longitude"], "longitude", -180, 180, where)
        folder = (r["folder"] or "").strip().strip("/").replace("\\", "/")
        extra = {k: v for k, v in r.items() if k in COLUMNS and k not in need and v not in (None, "")}
        out.append(Deployment(ident, "" if folder == "." else folder, lat, lon, extra))
    if not out:
        raise InputError(f"--deployments {path} lists no deployment")
    return out
