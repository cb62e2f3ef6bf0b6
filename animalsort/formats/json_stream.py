"""One large JSON document read piece by piece: the members of its top-level object, and the
elements of one array member one at a time. A MegaDetector file of a million images is
hundreds of MB of JSON; ``json.load`` would hold all of it, as Python objects, at once. The
bytes are hashed as they are read, so the file's sha256 costs no second pass.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterator
from typing import IO, Any

CHUNK = 1 << 20
_WS = " \t\n\r"
_NEAR_END = 64  # a decode error this close to the end of what was read may be a value cut off by the chunk


class JsonStreamError(ValueError):
    """The document is not JSON, or not an object; the message says where (a character offset)."""


class JsonStream:
    """``members(streamed)`` yields ``(key, value)`` for each member of the top-level object;
    the member named ``streamed``, when it is an array, comes as an iterator of its elements
    (read as it is consumed). ``sha256`` is the hash of every byte of the file."""

    def __init__(self, f: IO[bytes], chunk: int = CHUNK):
        self._f, self._chunk = f, chunk
        self._text, self._pos, self._dropped = "", 0, 0
        self._eof = False
        self._read = 0  # bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")()  # a byte-order mark is tolerated
        self._hash = hashlib.sha256()
        self._json = json.JSONDecoder()

    @property
    def sha256(self) -> str:
        while self._more(self._chunk):  # the rest of the file counts too
            self._pos = len(self._text)
        return self._hash.hexdigest()

    def members(self, streamed: str) -> Iterator[tuple[str, Any]]:
        if self._peek() != "{":
            raise self._error("the document is not a JSON object")
        self._pos += 1
        if self._peek() == "}":
            self._pos += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise self._error("expected a member name")
            self._expect(":")
            if key == streamed and self._peek() == "[":
                self._pos += 1
                elements = self._elements()
                yield key, elements
                for _ in elements:  # what the caller left unread
                    pass
            else:
                yield key, self._value()
            if self._expect(",}") == "}":
                break
        if self._peek():
            raise self._error("more after the end of the JSON document")

    def _elements(self) -> Iterator[Any]:
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._expect(",]") == "]":
                return

    def _more(self, size: int) -> bool:
        """Read ``size`` more bytes (False at the end of the file)."""
        if self._eof:
            return False
        data = self._f.read(size)
        self._hash.update(data)
        self._read += len(data)
        if self._pos > self._chunk:  # what was consumed goes: memory stays about one chunk
            self._dropped += self._pos
            self._text, self._pos = self._text[self._pos :], 0
        try:
            self._text += self._utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise JsonStreamError(f"not UTF-8 text at byte {self._read - len(data) + exc.start:,}") from None
        self._eof = not data
        return bool(data)

    def _peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            while self._pos < len(self._text) and self._text[self._pos] in _WS:
                self._pos += 1
            if self._pos < len(self._text):
                return self._text[self._pos]
            if not self._more(self._chunk):
                return ""

    def _expect(self, chars: str) -> str:
        c = self._peek()
        if not c or c not in chars:
            raise self._error(f"expected {' or '.join(repr(x) for x in chars)}")
        self._pos += 1
        return c

    def _value(self) -> Any:
        """The next JSON value. A value cut off by the end of what was read is read again with
        more (twice as much each time, so a value much larger than a chunk costs few retries)."""
        self._peek()
        size = self._chunk
        while True:
            try:
                value, end = self._json.raw_decode(self._text, self._pos)
                if end < len(self._text) or self._eof:
                    self._pos = end
                    return value
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self._text) - _NEAR_END
                if self._eof or not cut:
                    raise self._error(exc.msg, exc.pos) from None
            if not self._more(size):
                continue  # the end of the file: decided on the next pass
            size *= 2

    def _error(self, what: str, pos: int | None = None) -> JsonStreamError:
        at = self._dropped + (self._pos if pos is None else pos)
        return JsonStreamError(f"{what} at character {at:,}")
