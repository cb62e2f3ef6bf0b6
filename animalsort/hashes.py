"""The one place files are hashed (sha256): weights verification, sort's duplicate and
unchanged-source checks, undo's refusal to touch a changed file, dataset duplicates.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# --------------------------------------------------------------------------- verification


CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
