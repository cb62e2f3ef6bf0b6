"""``animalsort export``: stream a predictions CSV's records into one format's writer, in a
temporary file or folder beside OUT, and put it in place only when every check passed —
nothing half-written, and an existing OUT is replaced whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from animalsort.atomic import fsync_dir, new_dir_mode, new_file_mode
from animalsort.errors import InputError, OutputError, UsageError
from animalsort.exports.camtrap import CAPTURE_METHODS, CamtrapWriter, PackageInfo
from animalsort.exports.clock import Clock, parse_zone
from animalsort.exports.coco import CocoWriter
from animalsort.exports.deployments import Deployments
from animalsort.exports.megadetector import MegadetectorWriter
from animalsort.exports.records import Source, open_source, records
from animalsort.exports.taxa import Taxa
from animalsort.formats import thresholds as thresholds_file
from animalsort.formats.detection_rows import photo_rows
from animalsort.formats.predictions import read_predictions
from animalsort.formats.thresholds import Thresholds

FORMATS = ("megadetector", "camtrap-dp", "coco")


@dataclass(frozen=True)
class ExportOptions:
    """``animalsort export``'s choices, checked once when made; the command line and the Python
    API build them the same way (:meth:`chosen`)."""

    format: str = "megadetector"
    thresholds: Thresholds = field(default_factory=Thresholds)  # --min-confidence, per label with --thresholds
    taxa: Path | None = None
    deployments: Path | None = None
    deployment_depth: int | None = None
    timezone: str | None = None
    package: PackageInfo = field(default_factory=PackageInfo)
    src: Path | None = None  # the folder the CSV's paths are relative to (default: its sidecar's)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UsageError(f"--format {self.format!r}: choose one of {', '.join(FORMATS)}")
        depth = self.deployment_depth
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
            raise UsageError(f"deployment_depth={depth!r}: give a whole number of folder levels (0 or more)")
        if self.timezone is not None:
            parse_zone(self.timezone)  # a zone that is none is refused now, not after the first rows
        if self.package.capture_method not in CAPTURE_METHODS:
            raise UsageError(f"capture_method={self.package.capture_method!r}: one of {', '.join(CAPTURE_METHODS)}")

    @classmethod
    def chosen(
        cls,
        format: str = "megadetector",
        *,
        min_confidence: object = None,
        thresholds: str | Path | None = None,
        taxa: str | Path | None = None,
        deployments: str | Path | None = None,
        deployment_depth: int | None = None,
        timezone: str | None = None,
        project_title: str = "",
        contributor: str = "",
        capture_method: str = "activityDetection",
        src: str | Path | None = None,
    ) -> ExportOptions:
        """The options from the choices a person makes, as ``animalsort export`` and
        :func:`animalsort.export` take them."""
        return cls(
            format,
            thresholds_file.chosen(min_confidence, thresholds),
            _path(taxa),
            _path(deployments),
            deployment_depth,
            timezone,
            PackageInfo(project_title, contributor, capture_method),
            _path(src),
        )


def _path(given: str | Path | None) -> Path | None:
    return Path(given) if given is not None else None


@dataclass
class ExportResult:
    out: Path
    format: str
    rows: int = 0
    written: int = 0  # images / media written
    frame_rows: int = 0  # a clip's frame rows, folded into the clip
    skipped: int = 0  # COCO: error rows (no label)
    counts: dict[str, int] = field(default_factory=dict)  # Camtrap DP: observations by type
    time_sources: dict[str, int] = field(default_factory=dict)
    deployments: int = 0


def _sequence_sizes(predictions: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for row in photo_rows(read_predictions(predictions)):
        seq = row.get("sequence") or ""
        if seq and "#t=" not in row["path"]:
            sizes[seq] = sizes.get(seq, 0) + 1
    return sizes


def export_predictions(predictions: Path, out: Path, options: ExportOptions) -> ExportResult:
    source = open_source(Path(predictions), options.src)
    out = Path(out)
    taxa = Taxa(options.taxa)
    deployments = Deployments(options.deployments, options.deployment_depth, default_id=source.src.name or "deployment")
    result = ExportResult(out=out, format=options.format)
    parent = out.absolute().parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {out}: no folder {parent}")
    if options.format == "camtrap-dp":
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
        os.chmod(tmp, new_dir_mode())  # mkdtemp makes 0700
        clock = Clock(options.timezone)
        writer: Any = CamtrapWriter(tmp, source, taxa, deployments, clock, options.thresholds, options.package)
        handle = None
    else:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
        os.fchmod(fd, new_file_mode())
        tmp = Path(name)
        handle = os.fdopen(fd, "w", encoding="utf-8")
        if options.format == "megadetector":
            writer = MegadetectorWriter(handle, source, taxa, options.thresholds)
        else:
            sizes = _sequence_sizes(source.predictions)
            writer = CocoWriter(handle, source, deployments, options.thresholds, sizes)
    try:
        for rec in records(source):
            result.rows += max(1, len(rec.frames))
            result.frame_rows += len(rec.frames)
            writer.add(rec)
            result.written += 1
        if options.format == "camtrap-dp":
            _finish_package(writer, source, taxa, deployments, clock, options.thresholds, result)
        elif options.format == "megadetector":
            writer.finish(datetime.fromtimestamp(int(os.stat(source.predictions).st_mtime), UTC).astimezone())
        else:
            writer.finish()
            result.skipped = writer.skipped
            result.written -= writer.skipped
        if handle is not None:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        _put_in_place(tmp, out)
    except BaseException:
        if handle is not None:
            handle.close()
        with contextlib.suppress(Exception):
            writer.close()
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise
    return result


def _finish_package(
    writer: CamtrapWriter,
    source: Source,
    taxa: Taxa,
    deployments: Deployments,
    clock: Clock,
    thresholds: Thresholds,
    result: ExportResult,
) -> None:
    """The package's checks (every taxon, deployment and time known), then its tables and datapackage.json."""
    taxa.check()
    deployments.check()
    _check_times(clock)
    extra = {"predictions": str(source.predictions.absolute()), "time_sources": clock.sources}
    if (used := thresholds.record()) is not None:  # only with --thresholds: the package is as before without
        extra["thresholds"] = used
    writer.finish(extra)
    result.counts, result.time_sources = writer.counts, clock.sources
    result.deployments = sum(1 for d in deployments.by_id.values() if d.media)


def _check_times(clock: Clock) -> None:
    if clock.unzoned:
        some = "; ".join(clock.unzoned[:5]) + (f" … ({len(clock.unzoned)} files)" if len(clock.unzoned) > 5 else "")
        raise InputError(
            f"Camtrap DP needs each file's time with its zone: {some}. Give the zone the cameras' clocks were set "
            "to with --timezone (Europe/Amsterdam, UTC, +02:00)"
        )


def _put_in_place(tmp: Path, out: Path) -> None:
    """``tmp`` becomes ``out``; an existing ``out`` (a file, or an earlier package folder) is
    replaced, and kept if anything fails on the way."""
    if tmp.is_dir():
        for name in os.listdir(tmp):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        if out.exists():
            if not out.is_dir() or not (out / "datapackage.json").is_file() and any(out.iterdir()):
                raise OutputError(f"{out} exists and is not a Camtrap DP package: choose another -o")
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    else:
        if out.is_dir():
            raise OutputError(f"{out} is a folder; give a file name for -o")
        os.replace(tmp, out)
    fsync_dir(out.absolute().parent)
