"""Reading a listed path's bytes: a local path joined to its root, or an object-storage URI's
bytes fetched with fsspec (in the decode workers and Ray tasks).
"""

from __future__ import annotations

import io
import os
import stat
from typing import Any

from animalsort.errors import UsageError
from animalsort.paths import is_uri


class NotRegularFileError(OSError):
    """A FIFO, socket or device where a photo was expected: never opened (a read would block)."""


def open_path(root: str | os.PathLike[str], path: str) -> str | io.BytesIO:
    """What the decoders open for a listed ``path``: a URI's bytes (fetched whole: photos are
    small, and PIL and PyAV want to seek; ``name`` keeps the URI, so its extension is known),
    else the local path under ``root`` — refused if it is not a regular file."""
    if is_uri(path):
        fs, key = _filesystem(path)
        data = io.BytesIO(fs.cat_file(key))
        data.name = path
        return data
    full = os.path.join(root, path)
    check_regular(full)
    return full


def check_regular(path: str | os.PathLike[str]) -> None:
    """Raise NotRegularFileError for an existing path that is neither a file nor a folder
    (symlinks followed); anything else is left to the reader (which names a missing file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise NotRegularFileError(f"not a regular file: {kind_of(mode)}; not opened")


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_bytes(source: str | io.BytesIO) -> bytes:
    """The bytes of what :func:`open_path` gave: a fetched URI's, or a local file's."""
    if isinstance(source, io.BytesIO):
        return source.getvalue()
    with open(source, "rb") as f:
        return f.read()


def _filesystem(uri: str) -> tuple[Any, str]:
    import fsspec

    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        protocol = uri.split("://", 1)[0]
        raise UsageError(
            f"cannot read {protocol}:// paths: {exc}. Object storage needs the cloud extra: "
            "pip install 'animalsort[cloud]'"
        ) from None


def _storage_error(exc: BaseException) -> str:
    """A back-end's error in a line, with the fix for the common ones."""
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"):
        return (
            f"no credentials ({exc}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
            "(GOOGLE_APPLICATION_CREDENTIALS for gs://), and AWS_ENDPOINT_URL for a store that is not AWS"
        )
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError"):
        return f"cannot reach the store ({exc}); check AWS_ENDPOINT_URL and the network"
    return f"{name}: {exc}" if name not in str(exc) else str(exc)
