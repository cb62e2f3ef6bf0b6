"""``animalsort undo`` of a tag journal: every sidecar and every embedded photo back to its
earlier bytes, byte for byte (:mod:`animalsort.tagging.delta`), mode and times included; the
sidecars the run created are removed. A file that changed since the run (its sha256 is neither the one we
wrote nor the one before) is left alone and reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from animalsort.atomic import leftover_temporaries, replace_bytes
from animalsort.errors import InputError
from animalsort.formats.journal import Journal
from animalsort.hashes import sha256_bytes, sha256_file
from animalsort.tagging import delta, xmp


@dataclass
class TagUndoResult:
    restored: int = 0
    removed: int = 0  # sidecars the run had created
    already: int = 0  # never written (a killed run) or already as before
    refused: list[tuple[str, str]] = field(default_factory=list)
    was_undone: bool = False


def read_tag_journal(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """(header, the tag records, whether it was undone). A record whose line a kill cut off
    was never acted on (the file is written only after its record is complete)."""
    header: dict[str, Any] | None = None
    ops: list[dict[str, Any]] = []
    undone = False
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = rec.get("type")
        if kind == "header":
            header = rec
        elif kind == "tag":
            ops.append(rec)
        elif kind == "undone":
            undone = True
    if header is None or header.get("kind") != "tag":
        raise InputError(f"{path} is not an animalsort tag journal")
    return header, ops, undone


def undo_tag(journal_path: Path) -> TagUndoResult:
    _, ops, undone = read_tag_journal(journal_path)
    result = TagUndoResult()
    if undone:
        result.was_undone = True
        return result
    for op in reversed(ops):
        for tmp in leftover_temporaries(op["path"]):
            tmp.unlink(missing_ok=True)
        try:
            outcome = _undo_one(op, Path(journal_path).parent)
        except (OSError, xmp.MetadataError) as exc:
            result.refused.append((op["path"], getattr(exc, "strerror", None) or str(exc)))
            continue
        if outcome == "restored":
            result.restored += 1
        elif outcome == "removed":
            result.removed += 1
        elif outcome == "already":
            result.already += 1
        else:
            result.refused.append((op["path"], outcome))
    if not result.refused:
        delta.remove_spill(Path(journal_path))
    with Journal.append_to(journal_path) as jr:
        jr.record(
            {
                "type": "undone",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "restored": result.restored + result.removed,
                "refused": len(result.refused),
            }
        )
    return result


def _undo_one(op: dict[str, Any], journal_dir: Path) -> str:
    path, before = op["path"], op["before"]
    if not os.path.lexists(path):
        return "already" if not before["exists"] else "gone since the run (nothing to restore it into)"
    now = sha256_file(Path(path))
    if now == before.get("sha256"):
        return "already"
    if now != op["after_sha256"]:
        return "changed since the run: left as it is"
    if not before["exists"]:
        os.unlink(path)
        return "removed"
    st = os.stat(path)
    data = delta.decode(before, Path(path).read_bytes(), journal_dir)
    if sha256_bytes(data) != before["sha256"]:
        return "cannot rebuild the earlier bytes from the journal: left as it is"
    replace_bytes(path, data, like=st, keep_mtime=False)
    os.utime(path, ns=(before["atime_ns"], before["mtime_ns"]))
    os.chmod(path, before["mode"])
    return "restored"
