"""``animalsort merge``: the CSVs of sharded classify runs → one CSV, as one run would write it.

Before a row is read, the sidecars must agree on what produced them: the model, the weights'
sha256, the label set, the folder the paths are relative to, the columns, and every option
that changes a row (``--shard``, ``--resume``, workers, engine and batch placement may differ).
Rows are then streamed, never all held: each shard's CSV is already in its listing's order,
so a k-way merge gives

- by default, the order a folder walk gives (path components compared one by one; a clip's
  frame rows stay together, in time order);
- with ``files_from``, the manifest's order — and the manifest's paths no CSV has (gaps) and
  the CSVs' paths it does not list.

A path in two CSVs is written once: identical rows are counted as duplicates; differing rows
as conflicts (a classified row wins over an error row, else the first CSV's). In a ``--rows
detections`` CSV a row is a path's detection (``detection``): each is written once. Shards of a
``--detections`` run must have read the same file (sha256), and their counts are added (a file
the JSON lists that is not under SRC is an error row of every shard: counted once). A CSV that is
not in order (hand-edited, or several SRCs given) is sorted in memory instead, with a note.

No torch, no click.
"""

from __future__ import annotations

import csv
import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.atomic import atomic_write
from animalsort.errors import InputError, UsageError
from animalsort.formats.detection_rows import NUMBER
from animalsort.formats.predictions import SEQUENCE_COLUMNS, read_sidecar, write_sidecar
from animalsort.paths import is_uri
from animalsort.sources.manifests import Manifest, discard

# Options that decide where or how fast a shard ran, not what its rows say.
PLACEMENT = frozenset(
    {"shard", "resume", "workers", "engine", "ray_address", "ray_actors", "num_gpus_per_actor", "batch_size"}
)
AGREE = ("model", "weights_sha256", "labels", "src")
COUNTS = ("found", "ok", "failed", "resumed", "videos", "frames")
MAX_LISTED = 20


@dataclass
class MergeResult:
    out: Path
    inputs: list[Path]
    rows: int = 0
    duplicates: int = 0  # identical rows in two CSVs, written once
    conflicts: list[str] = field(default_factory=list)  # paths whose rows differ between CSVs (the first MAX_LISTED)
    conflict_count: int = 0
    missing: list[str] = field(default_factory=list)  # in the manifest, in no CSV (the first MAX_LISTED)
    missing_count: int = 0
    extra: list[str] = field(default_factory=list)  # in a CSV, not in the manifest (the first MAX_LISTED)
    extra_count: int = 0
    unordered: list[Path] = field(default_factory=list)  # CSVs that had to be sorted in memory
    sequences: dict[str, Any] | None = None


def merge_csvs(
    inputs: list[Path],
    out: Path,
    *,
    files_from: str | None = None,
    root: Path | None = None,
    sequences: float | None = None,
) -> MergeResult:
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise UsageError("give the shards' CSVs to merge")
    out = Path(out)
    if any(p.resolve() == out.resolve() for p in inputs if out.exists()):
        raise UsageError(f"--out {out} is one of the CSVs being merged; write the merge elsewhere")
    for p in inputs:
        if not p.is_file():
            raise InputError(f"{p}: no such CSV")
    metas = _agreeing_sidecars(inputs)
    columns = _agreeing_header(inputs)
    src = metas[0].get("src")
    if sequences is not None and (not src or is_uri(str(src))):
        raise UsageError("--sequences needs the photos on a local disk (the sidecars' src)")
    result = MergeResult(out=out, inputs=inputs)
    streams = [_rows(p, columns) for p in inputs]
    manifest: Manifest | None = None
    if files_from is None:
        ordered = _by_path(inputs, streams, columns, result)
    else:
        manifest = Manifest.of(files_from, root)
        ordered = _by_manifest(manifest, streams, columns, result)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(out, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for row in _once(ordered, columns, result):
                w.writerow(row)
                result.rows += 1
    finally:
        if manifest is not None:
            discard(manifest)  # a list read from stdin was spooled to a temporary file
    if sequences is not None:
        from animalsort.inference.bursts import annotate, record

        result.sequences = record(annotate(out, Path(src), sequences))
    write_sidecar(out, _sidecar(metas, inputs, result))
    return result


# --------------------------------------------------------------------------- checks


def _agreeing_sidecars(inputs: list[Path]) -> list[dict[str, Any]]:
    metas = [read_sidecar(p) for p in inputs]
    for p, m in zip(inputs, metas):
        if not m:
            raise InputError(f"{p} has no sidecar ({p.name}.json): merge checks what made each CSV")
    first = metas[0]
    for p, m in zip(inputs[1:], metas[1:]):
        for key in AGREE:
            if m.get(key) != first.get(key):
                raise InputError(
                    f"{p} and {inputs[0]} disagree on {key}: {m.get(key)!r} vs {first.get(key)!r}; "
                    "merge only shards of one run"
                )
        a, b = _detections_read(first), _detections_read(m)
        if a != b:
            raise InputError(
                f"{p} and {inputs[0]} were classified with other detections ({_said(b)} vs {_said(a)}); merge only "
                "shards of one run"
            )
        a, b = _result_options(first), _result_options(m)
        differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if differ:
            k = differ[0]
            raise InputError(
                f"{p} and {inputs[0]} were made with different options ({', '.join(differ)}; "
                f"{k}: {b.get(k)!r} vs {a.get(k)!r}); merge only shards of one run"
            )
    return metas


def _detections_read(meta: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a shard's ``--detections`` read (None: it had none)."""
    found = meta.get("detections")
    if not isinstance(found, dict):
        return None
    return (found.get("file"), found.get("sha256"), found.get("threshold"))


def _said(read: tuple[Any, ...] | None) -> str:
    return "none" if read is None else f"{read[0]}, sha256 {str(read[1])[:12]}…, threshold {read[2]}"


#: --detections counts that are the JSON's, not a shard's: every shard sees them whole.
JSON_COUNTS = ("missing", "outside")


def _merged_detections(metas: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The shards' ``detections`` record with their counts added (those of the JSON's own
    entries taken once; ``not_classified`` is left out: a shard counts the others' files)."""
    records = [m["detections"] for m in metas if isinstance(m.get("detections"), dict)]
    if not records:
        return None
    counts: dict[str, int] = {}
    for record in records:
        for k, v in (record.get("counts") or {}).items():
            if type(v) is int and k != "not_classified":
                counts[k] = max(counts.get(k, 0), v) if k in JSON_COUNTS else counts.get(k, 0) + v
    return {**records[0], "counts": counts}


def _result_options(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (meta.get("options") or {}).items() if k not in PLACEMENT}


def _agreeing_header(inputs: list[Path]) -> list[str]:
    headers = []
    for p in inputs:
        with open(p, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
            headers.append(next(csv.reader(f), []))
    for p, h in zip(inputs[1:], headers[1:]):
        if h != headers[0]:
            raise InputError(f"{p} has other columns than {inputs[0]} ({','.join(h)}); merge only shards of one run")
    if "path" not in headers[0]:
        raise InputError(f"{inputs[0]} is not an animalsort predictions CSV (no path column)")
    return [c for c in headers[0] if c not in SEQUENCE_COLUMNS]


# --------------------------------------------------------------------------- ordering


def _rows(path: Path, columns: list[str]) -> Iterator[list[str]]:
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f)
        found = next(reader)
        keep = [found.index(c) for c in columns]
        for r in reader:
            if r:
                yield [r[k] for k in keep]


def _file(row: list[str], columns: list[str]) -> str:
    path = row[0]
    frame = row[columns.index("frame_s")] if "frame_s" in columns else ""
    return path.rsplit("#t=", 1)[0] if frame and "#t=" in path else path


def _key(row: list[str], columns: list[str]) -> tuple[str, ...]:
    return tuple(_file(row, columns).split("/"))


def _by_path(
    inputs: list[Path], streams: list[Iterator[list[str]]], columns: list[str], result: MergeResult
) -> Iterator[list[str]]:
    """A k-way merge by path components; a CSV out of order is sorted in memory first."""
    ready = []
    for p, s in zip(inputs, streams):
        if _in_order(p, columns):
            ready.append(s)
        else:
            result.unordered.append(p)
            ready.append(iter(sorted(s, key=lambda r: _key(r, columns))))  # stable: frames keep their order
    return heapq.merge(*ready, key=lambda r: _key(r, columns))


def _in_order(path: Path, columns: list[str]) -> bool:
    last: tuple[str, ...] | None = None
    for row in _rows(path, columns):
        k = _key(row, columns)
        if last is not None and k < last:
            return False
        last = k
    return True


def _by_manifest(
    manifest: Any, streams: list[Iterator[list[str]]], columns: list[str], result: MergeResult
) -> Iterator[list[str]]:
    """Walk the manifest; each path's rows come from the CSVs whose next row it is. Rows a
    CSV still holds at the end are not in the manifest (or out of its order)."""
    heads: list[list[str] | None] = [next(s, None) for s in streams]
    for path in manifest:
        found = False
        for i, s in enumerate(streams):
            while heads[i] is not None and _file(heads[i], columns) == path:  # type: ignore[arg-type]
                yield heads[i]  # type: ignore[misc]
                heads[i] = next(s, None)
                found = True
        if not found:
            result.missing_count += 1
            if len(result.missing) < MAX_LISTED:
                result.missing.append(path)
    for i, s in enumerate(streams):
        while heads[i] is not None:
            result.extra_count += 1
            if len(result.extra) < MAX_LISTED:
                result.extra.append(heads[i][0])  # type: ignore[index]
            heads[i] = next(s, None)


def _once(rows: Iterator[list[str]], columns: list[str], result: MergeResult) -> Iterator[list[str]]:
    """Each path once. Rows of one file arrive together (a photo's, or a clip's frame rows, from
    one CSV or several); of rows with the same path, identical ones are duplicates and differing
    ones conflict (a classified row wins over an error row, else the first)."""
    status = columns.index("status")
    number = columns.index(NUMBER) if NUMBER in columns else None  # --rows detections: a row per box
    group: dict[tuple[str, str], list[str]] = {}
    current: str | None = None
    for row in rows:
        file = _file(row, columns)
        if file != current:
            yield from group.values()
            group, current = {}, file
        key = (row[0], row[number] if number is not None else "")
        held = group.get(key)
        if held is None:
            group[key] = row
        elif row == held:
            result.duplicates += 1
        else:
            result.conflict_count += 1
            if len(result.conflicts) < MAX_LISTED:
                result.conflicts.append(row[0])
            if held[status] != "ok" and row[status] == "ok":
                group[key] = row
    yield from group.values()


def _sidecar(metas: list[dict[str, Any]], inputs: list[Path], result: MergeResult) -> dict[str, Any]:
    meta = {k: v for k, v in metas[0].items() if k != "animalsort_version"}
    options = dict(meta.get("options") or {})
    options["shard"] = None
    meta["options"] = options
    listing = dict(meta.get("listing") or {})
    listing.pop("shard", None)
    if listing:
        meta["listing"] = listing
    counts: dict[str, int] = {k: sum(int((m.get("counts") or {}).get(k) or 0) for m in metas) for k in COUNTS}
    counts["rows"] = result.rows
    meta["counts"] = counts
    meta["seconds"] = round(sum(float(m.get("seconds") or 0) for m in metas), 3)
    starts = [m.get("started_ns") for m in metas]
    meta["started_ns"] = min(starts) if all(type(t) is int for t in starts) else None  # the earliest shard's
    meta.pop("images_per_s", None)
    meta.pop("startup_seconds", None)
    meta["merged_from"] = [os.fsdecode(p.absolute()) for p in inputs]
    meta["merge"] = {
        "duplicates": result.duplicates,
        "conflicts": result.conflict_count,
        "missing": result.missing_count,
        "extra": result.extra_count,
    }
    if (found := _merged_detections(metas)) is not None:
        meta["detections"] = found
    meta.pop("sequences", None)
    if result.sequences is not None:
        meta["sequences"] = result.sequences
    return meta
