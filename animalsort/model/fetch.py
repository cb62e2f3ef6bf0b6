"""Verified, resumable, cached fetching of the registry's weights files.

Resolution order for a registry entry: a verified file in the cache, the file shipped by an
installed package, then a download (``$ANIMALSORT_MIRROR`` replaces the URL's origin). Every
file is checked against its full sha256 before use. This is the only module importing requests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from animalsort.atomic import atomic_write
from animalsort.errors import ChecksumError, DownloadError, WeightsError
from animalsort.hashes import sha256_file
from animalsort.model.registry import WeightsSpec
from animalsort.paths import cache_dir

MIRROR_ENV = "ANIMALSORT_MIRROR"
ALLOW_HTTP_ENV = "ANIMALSORT_ALLOW_HTTP"
CHUNK = 1 << 16  # small enough that little is lost when a connection drops mid-chunk


def verify(path: Path, sha256: str, source: str = "") -> None:
    """Raise ChecksumError unless ``path`` hashes to ``sha256``."""
    actual = sha256_file(path)
    if actual != sha256:
        where = f" (from {source})" if source else ""
        raise ChecksumError(
            f"sha256 mismatch for {path}{where}: expected {sha256}, got {actual}. "
            "The file is corrupt or not the published one; delete it and fetch it again."
        )


# --------------------------------------------------------------------------- sources


def cached_path(spec: WeightsSpec) -> Path:
    return cache_dir() / "weights" / spec.file


def package_path(spec: WeightsSpec) -> Path | None:
    """The weights file shipped by ``spec.package``, if that package is installed."""
    if not spec.package:
        return None
    try:
        files = metadata.files(spec.package) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == spec.file:
            path = Path(str(f.locate()))
            if path.is_file():
                return path
    return None


def mirrored(url: str) -> str:
    """``url`` with its scheme and host replaced by ``$ANIMALSORT_MIRROR``, when set."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return url
    m = urlsplit(mirror.rstrip("/"))
    u = urlsplit(url)
    return urlunsplit((m.scheme, m.netloc, m.path + u.path, u.query, ""))


def is_cached(spec: WeightsSpec) -> bool:
    path = cached_path(spec)
    return path.is_file() and path.stat().st_size == spec.size


def local_path(spec: WeightsSpec) -> Path | None:
    """Where the file is available without a download (cache first, then package), if anywhere.

    A quick look (name and size): ``fetch`` still verifies the sha256 before any use.
    """
    if is_cached(spec):
        return cached_path(spec)
    return package_path(spec)


def availability(spec: WeightsSpec) -> str:
    """``cached``, ``package`` (ships in an installed pip package) or ``no``."""
    if is_cached(spec):
        return "cached"
    return "package" if package_path(spec) is not None else "no"


def import_file(spec: WeightsSpec, source: Path) -> Path:
    """Verify a file fetched elsewhere (the air-gapped path) and place it in the cache."""
    import shutil

    source = Path(source)
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    verify(source, spec.sha256, str(source))
    dest = cached_path(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, atomic_write(dest, "wb") as f:
        shutil.copyfileobj(src, f, CHUNK)
    return dest


def fetch(spec: WeightsSpec, progress: bool = True, **download_options: Any) -> Path:
    """A verified local copy of ``spec``'s file: cache, then package, then download.

    No network call is made when a verified copy is local.
    """
    cached = cached_path(spec)
    if cached.is_file():
        if sha256_file(cached) == spec.sha256:
            return cached
    packaged = package_path(spec)
    if packaged is not None:
        verify(packaged, spec.sha256, f"package {spec.package}")
        return packaged
    if not spec.url:
        hint = f"`pip install {spec.package}`" if spec.package else "import it"
        raise WeightsError(
            f"weights for {spec.name!r} are not cached and have no download URL; "
            f"{hint} or use `animalsort models import {spec.name} FILE`"
        )
    download(mirrored(spec.url), cached, spec.sha256, progress=progress, **download_options)
    return cached


def download(
    url: str,
    dest: Path,
    sha256: str,
    *,
    progress: bool = True,
    retries: int = 5,
    backoff: float = 0.5,
    timeout: float = 30.0,
    allow_http: bool = False,
    sleep: Callable[[float], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` safely.

    The body streams into ``dest.part`` in the same folder; an interrupted transfer resumes
    with an HTTP Range request; connection errors and 5xx responses are retried with
    exponential backoff; the sha256 is checked before an atomic rename; a file lock keeps two
    processes sharing the cache from writing the same file.
    """
    import requests
    from filelock import FileLock
    from tqdm import tqdm

    _refuse_plain_http(url, allow_http)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with FileLock(str(dest) + ".lock"):
        # Another process may have finished the file while we waited for the lock.
        if dest.is_file() and sha256_file(dest) == sha256:
            return dest
        attempt = 0
        while True:
            try:
                _stream_to(url, part, timeout=timeout, progress=progress, tqdm=tqdm)
                break
            except _Retryable as exc:
                attempt += 1
                if attempt > retries:
                    raise DownloadError(
                        f"download of {url} failed after {retries} retries: {exc}; "
                        "check the network, or fetch the file elsewhere and use "
                        "`animalsort models import`"
                    ) from exc
                (sleep or time.sleep)(backoff * 2 ** (attempt - 1))
            except requests.RequestException as exc:
                raise DownloadError(f"download of {url} failed: {exc}") from exc
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"sha256 mismatch for {url}: expected {sha256}, got {actual}; "
                "the download was removed. The server sent a different file: check the URL "
                "or mirror"
            )
        os.replace(part, dest)
    return dest


def _refuse_plain_http(url: str, allow_http: bool) -> None:
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and (allow_http or os.environ.get(ALLOW_HTTP_ENV) == "1")):
        raise DownloadError(
            f"refusing to download over plain {scheme or 'unknown scheme'}: {url}; use an https URL, "
            f"or opt in for a trusted local mirror with --allow-http or {ALLOW_HTTP_ENV}=1 "
            "(the sha256 is still checked)"
        )


class _Retryable(Exception):
    pass


def _stream_to(url: str, part: Path, *, timeout: float, progress: bool, tqdm: Any) -> None:
    import requests

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with requests.get(url, stream=True, timeout=timeout, headers=headers) as r:
            if r.status_code == 416:  # already complete (or the server disagrees): restart
                part.unlink(missing_ok=True)
                raise _Retryable("HTTP 416 on resume")
            if r.status_code >= 500:
                raise _Retryable(f"HTTP {r.status_code}")
            if r.status_code >= 400:
                raise DownloadError(
                    f"download of {url} failed: HTTP {r.status_code} {r.reason}; check the URL or $ANIMALSORT_MIRROR"
                )
            if have and r.status_code != 206:
                have = 0  # the server ignored Range: start over
            total = int(r.headers.get("Content-Length", 0)) + have or None
            mode = "ab" if have else "wb"
            with (
                open(part, mode) as f,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    desc=part.name.removesuffix(".part"),
                    disable=not progress,
                ) as bar,
            ):
                for chunk in r.iter_content(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
            if total is not None and part.stat().st_size < total:
                raise _Retryable(f"connection closed at {part.stat().st_size} of {total} bytes")
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Retryable(str(exc)) from exc
    except requests.exceptions.ChunkedEncodingError as exc:
        raise _Retryable(str(exc)) from exc
