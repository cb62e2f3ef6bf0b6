"""A loopback HTTP server whose behaviour tests script request by request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    status: int = 200
    cut_after: int | None = None  # close the connection after this many body bytes
    body: bytes | None = None  # serve these bytes instead of the file's
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Server:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    script: list[Behaviour] = field(default_factory=list)  # consumed one per request
    requests: list[dict[str, str]] = field(default_factory=list)
    honour_range: bool = True


@contextmanager
def serve() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            b = state.script.pop(0) if state.script else Behaviour()
            if b.delay:
                import time

                time.sleep(b.delay)
            data = state.files.get(self.path)
            if data is None or b.status == 404:
                self._plain(404, b"not found")
                return
            if b.status >= 400:
                self._plain(b.status, b"server error")
                return
            body = b.body if b.body is not None else data
            start = 0
            rng = self.headers.get("Range")
            if rng and state.honour_range and rng.startswith("bytes="):
                start = int(rng[len("bytes=") :].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            part = body[start:]
            self.send_header("Content-Length", str(len(part)))
            self.end_headers()
            if b.cut_after is not None:
                self.wfile.write(part[: b.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

        def _plain(self, code: int, text: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # shutdown() waits for the loop's next poll: 0.5 s by default, in every test that serves
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
