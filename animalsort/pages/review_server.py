"""``animalsort review``'s local server: the page (``review_page``), the rows as JSON, each
photo, and corrections taken — on 127.0.0.1 only, and only for requests that carry the random
token of its URL (other local users and web pages the user visits cannot read or post), with
the Host header checked (no DNS rebinding) and JSON bodies only (no form posts from other
origins). No click, no printing, no torch.
"""

from __future__ import annotations

import hmac
import json
import secrets
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from animalsort.pages.review_session import Session

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024


class ReviewServer(ThreadingHTTPServer):
    """The page and its API under ``http://127.0.0.1:PORT/TOKEN/``."""

    daemon_threads = True

    def __init__(self, session: Session, port: int = 0, page: str | None = None):
        from animalsort.pages.review_page import render

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
