"""``animalsort review``: a local web page to correct a predictions CSV, one keypress a photo.

:class:`Session` holds the rows and the corrections (``corrections.py``: every change is
appended to ``PREDS.corrections.csv`` and on disk before the page hears it was saved).
:class:`ReviewServer` serves the page (``review_page.py``), the rows as JSON, each photo, and
takes corrections — on 127.0.0.1 only, and only for requests that carry the random token of
its URL (other local users and web pages the user visits cannot read or post), with the Host
header checked (no DNS rebinding) and JSON bodies only (no form posts from other origins).

No click, no printing, no torch.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import os
import secrets
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from animalsort import corrections, htmlkit
from animalsort.errors import InputError
from animalsort.journal import Locator
from animalsort.predictions import file_of, read_predictions, read_sidecar
from animalsort.sources import open_path, read_bytes

HOST = "127.0.0.1"
SHOWN_AS_IS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".avif"})  # an <img> shows these
VIEW_SIZE = 1600  # px: HEIC, TIFF and video frames are sent as JPEGs this large
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Item:
    path: str  # as in the CSV
    label: str  # the model's
    confidence: float
    others: tuple[tuple[str, float], ...]  # the other top-k labels
    frame_s: str  # a clip's best frame or a frame row's time; "" for photos


class Session:
    """The classified rows of one CSV and their corrections; thread-safe."""

    def __init__(self, predictions: Path, src: Path | None = None):
        predictions = Path(predictions)
        if not predictions.is_file():
            raise InputError(f"{predictions}: no such predictions CSV; make one with `animalsort classify SRC -o FILE`")
        meta = read_sidecar(predictions)
        self.predictions = predictions
        self.src = Path(src) if src is not None else Path(meta["src"]) if meta.get("src") else predictions.parent
        self.items: list[Item] = []
        self._files: list[str] = []
        self.failed = 0
        locate = Locator(predictions, self.src)
        for row in read_predictions(predictions):
            if row.get("status") != "ok":
                self.failed += 1
                continue
            k = 2
            others = []
            while row.get(f"label_{k}"):
                others.append((row[f"label_{k}"], float(row[f"confidence_{k}"] or 0)))
                k += 1
            conf = float(row.get("confidence") or 0)
            self.items.append(Item(row["path"], row["label"], conf, tuple(others), row.get("frame_s") or ""))
            self._files.append(locate(file_of(row)))
        self._index = {item.path: i for i, item in enumerate(self.items)}
        self.corrected = {p: c.label for p, c in corrections.read(predictions).items() if p in self._index}
        labels = set(_label_names(meta)) | {"no_animal"} | set(self.corrected.values())
        labels |= {item.label for item in self.items} | {lab for item in self.items for lab, _ in item.others}
        self.labels = sorted(labels, key=str.casefold)
        self._log = corrections.Log(predictions)
        self._undo: list[tuple[str, str]] = []  # (path, its label before the change; "" = unreviewed)
        self._lock = threading.Lock()

    @property
    def corrections_file(self) -> Path:
        return self._log.path

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "csv": self.predictions.name,
                "items": [[it.path, it.label, it.confidence, it.others, it.frame_s] for it in self.items],
                "labels": self.labels,
                "corrected": dict(self.corrected),
                "failed": self.failed,
                "undo": len(self._undo),
            }

    def correct(self, path: str, label: str) -> dict[str, Any]:
        """Record ``label`` for ``path`` (accepting the model's label records it too)."""
        if path not in self._index:
            raise KeyError(path)
        label = corrections.clean_label(label)
        with self._lock:
            previous = self.corrected.get(path, "")
            self._log.append(path, label)
            self.corrected[path] = label
            self._undo.append((path, previous))
            if label not in self.labels:
                self.labels = sorted([*self.labels, label], key=str.casefold)
            return self._answer(path)

    def undo(self) -> dict[str, Any] | None:
        """Take back the last correction made in this session (None when there is none)."""
        with self._lock:
            if not self._undo:
                return None
            path, previous = self._undo.pop()
            self._log.append(path, previous)
            if previous:
                self.corrected[path] = previous
            else:
                self.corrected.pop(path, None)
            return self._answer(path)

    def _answer(self, path: str) -> dict[str, Any]:
        return {
            "path": path,
            "label": self.corrected.get(path, ""),
            "reviewed": len(self.corrected),
            "undo": len(self._undo),
        }

    def media(self, i: int) -> tuple[str, bytes] | None:
        """(content type, bytes) to show item ``i``: the file itself when a browser shows
        it, else a JPEG (HEIC, TIFF, a video's frame)."""
        item, path = self.items[i], self._files[i]
        ext = os.path.splitext(path)[1].lower()
        if not item.frame_s and ext in SHOWN_AS_IS:
            try:
                data = read_bytes(open_path("", path))
            except Exception:
                return None
            return mimetypes.guess_type(path)[0] or "application/octet-stream", data
        jpeg = htmlkit.thumbnail_jpeg(path, float(item.frame_s) if item.frame_s else None, size=VIEW_SIZE)
        return None if jpeg is None else ("image/jpeg", jpeg)

    def close(self) -> None:
        self._log.close()


def _label_names(meta: dict[str, Any]) -> list[str]:
    """The labels the model could have given (the sidecar's; older sidecars name the set)."""
    if isinstance(meta.get("label_names"), list):
        return [str(x) for x in meta["label_names"]]
    from animalsort.taxonomy import animal_labels, imagenet_labels

    named = {"animals": animal_labels, "imagenet": imagenet_labels}.get(meta.get("labels"))  # type: ignore[arg-type]
    return list(named().labels) if named else []


class ReviewServer(ThreadingHTTPServer):
    """The page and its API under ``http://127.0.0.1:PORT/TOKEN/``."""

    daemon_threads = True

    def __init__(self, session: Session, port: int = 0, page: str | None = None):
        from animalsort.review_page import render

        super().__init__((HOST, port), _Handler)
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self.page = (page or render(session)).encode("utf-8")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_port}/{self.token}/"


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the CLI prints
        pass

    # ----------------------------------------------------------------- checks

    def _route(self) -> list[str] | None:
        """The path after the token, or None (and a refusal sent) for a request that is not
        this server's page: wrong Host, missing or wrong token."""
        port = self.server.server_port
        if self.headers.get("Host") not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: unknown Host", "text/plain; charset=utf-8")
            return None
        parts = urlsplit(self.path).path.split("/")
        token = parts[1] if len(parts) > 1 else ""
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self._send(
                HTTPStatus.FORBIDDEN,
                b"forbidden: open the address `animalsort review` printed (it carries a token)",
                "text/plain; charset=utf-8",
            )
            return None
        return parts[2:]

    def _json_body(self) -> dict[str, Any] | None:
        origin = self.headers.get("Origin")
        if origin is not None and origin not in (f"http://{self.headers.get('Host')}",):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: cross-origin request", "text/plain; charset=utf-8")
            return None
        if self.headers.get_content_type() != "application/json":
            self._send(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, b"send JSON", "text/plain; charset=utf-8")
            return None
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._send(HTTPStatus.BAD_REQUEST, b"bad body", "text/plain; charset=utf-8")
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send(HTTPStatus.BAD_REQUEST, b"bad JSON", "text/plain; charset=utf-8")
            return None
        return body

    # ----------------------------------------------------------------- answers

    def _send(self, status: int, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")  # the token stays in this tab
        self.send_header("X-Frame-Options", "DENY")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        route = self._route()
        if route is None:
            return
        if route == []:  # /TOKEN → /TOKEN/ (relative URLs resolve under the token)
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", f"/{self.server.token}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == [""]:
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif route == ["api", "state"]:
            self._json(self.server.session.state())
        elif len(route) == 2 and route[0] == "media" and route[1].isdigit():
            i = int(route[1])
            found = self.server.session.media(i) if i < len(self.server.session.items) else None
            if found is None:
                self._send(HTTPStatus.NOT_FOUND, b"cannot read this file", "text/plain; charset=utf-8")
            else:
                self._send(HTTPStatus.OK, found[1], found[0], cache=True)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        body = self._json_body()
        if body is None:
            return
        session = self.server.session
        try:
            if route == ["api", "correct"]:
                self._json(session.correct(str(body.get("path")), str(body.get("label", ""))))
            elif route == ["api", "undo"]:
                self._json(session.undo() or {"path": None, "reviewed": len(session.corrected), "undo": 0})
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")
        except KeyError:
            self._json({"error": "no such row in the CSV"}, HTTPStatus.NOT_FOUND)
        except ValueError as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except Exception as exc:  # the corrections file could not be written: say so on the page
            self._json({"error": f"not saved: {exc}"}, HTTPStatus.INTERNAL_SERVER_ERROR)
