"""Multi-line POP3 responses (RFC 1939 3): byte-stuffing and the TOP cut, streamed.

A message is sent in chunks of any size; a line beginning with "." gets another "." in front,
and the response ends with CRLF "." CRLF. The fast path (RETR) works on whole chunks with
``bytes.replace``; only TOP looks at lines, and only until it has sent what it must.
"""

from __future__ import annotations

TERMINATOR = b".\r\n"


class DotStuffer:
    """Stuffs one message for RETR (``body_lines=None``) or TOP n (``body_lines=n``)."""

    __slots__ = ("_at_line_start", "_body_lines_left", "_done", "_in_header", "_last", "_pending")

    def __init__(self, body_lines: int | None = None) -> None:
        self._at_line_start = True
        self._body_lines_left = body_lines
        self._in_header = body_lines is not None
        self._done = False
        self._last = b""
        self._pending = b""  # TOP: a partial line kept until its end arrives

    @property
    def done(self) -> bool:
        """TOP has sent all it must: the caller may stop reading the message."""
        return self._done

    def feed(self, chunk: bytes) -> bytes:
        """Return the stuffed bytes to send for this chunk of the message."""
        if self._done or not chunk:
            return b""
        if self._body_lines_left is not None:
            return self._feed_lines(chunk)
        out = chunk.replace(b"\n.", b"\n..")
        if self._at_line_start and chunk.startswith(b"."):
            out = b"." + out
        self._at_line_start = chunk.endswith(b"\n")
        self._last = out[-1:]
        return out

    def _feed_lines(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        parts = []
        start = 0
        while not self._done:
            end = data.find(b"\n", start)
            if end < 0:
                break
            line = data[start : end + 1]
            start = end + 1
            parts.append(b"." + line if line.startswith(b".") else line)
            if self._in_header:
                if line in (b"\r\n", b"\n"):
                    self._in_header = False
                    self._done = self._body_lines_left == 0
            else:
                assert self._body_lines_left is not None
                self._body_lines_left -= 1
                self._done = self._body_lines_left <= 0
        self._pending = b"" if self._done else data[start:]
        out = b"".join(parts)
        if out:
            self._last = out[-1:]
        return out

    def finish(self) -> bytes:
        """The end of the response: a CRLF if the message did not end a line, then "."."""
        tail = b""
        if self._pending and not self._done:
            line = self._pending
            tail = b"." + line if line.startswith(b".") else line
            self._last = tail[-1:]
        self._pending = b""
        self._done = True
        if self._last and self._last != b"\n":
            tail += b"\r\n"
        return tail + TERMINATOR


def stuff_lines(lines: list[str]) -> bytes:
    """A whole multi-line response body from short text lines (CAPA, LIST, UIDL)."""
    out = bytearray()
    for line in lines:
        if line.startswith("."):
            out += b"."
        out += line.encode() + b"\r\n"
    out += TERMINATOR
    return bytes(out)
