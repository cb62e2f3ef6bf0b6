"""Reading a listed path's bytes: a local path joined to its root, or an object-storage URI's
bytes fetched with fsspec (in the decode workers and Ray tasks).
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from animalsort.errors import UsageError
from animalsort.paths import is_uri

if TYPE_CHECKING:
    pass


def open_path(root: str | os.PathLike[str], path: str) -> str | io.BytesIO:
    """What the decoders open for a listed ``path``: a URI's bytes (fetched whole: photos are
    small, and PIL and PyAV want to seek), else the local path under ``root``."""
    if is_uri(path):
        fs, key = _filesystem(path)
        return io.BytesIO(fs.cat_file(key))
    return os.path.join(root, path)


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
