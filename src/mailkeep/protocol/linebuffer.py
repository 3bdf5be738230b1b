"""CRLF framing with limits for the line protocols (RFC 5321 2.3.8, RFC 9051 2.2, RFC 1939 3).

Bytes go in with ``feed``; out come complete lines, counted bytes (SMTP BDAT chunks, IMAP
literals), or a view of what is buffered for callers that scan it themselves (SMTP DATA).

Implementation notes (invariants):

- Only CRLF ends a line. A bare CR or LF is part of the line; the caller decides what it means.
- A line longer than the limit is never held whole: once the buffer passes the limit without a
  CRLF, its bytes are dropped as they come (keeping a trailing CR, which may be half of the
  CRLF), and when the CRLF arrives ``read_line`` returns ``LINE_TOO_LONG`` once, so the caller
  answers and stays in step with the peer.
- Searching resumes where the last search stopped, so feeding a long line in small pieces
  costs linear time.
"""

from __future__ import annotations

import enum

CRLF = b"\r\n"


class Overlong(enum.Enum):
    """The marker ``read_line`` returns for a line that exceeded the limit."""

    LINE_TOO_LONG = "line too long"


LINE_TOO_LONG = Overlong.LINE_TOO_LONG


class LineBuffer:
    """Received bytes awaiting framing. ``max_line`` counts the CRLF."""

    __slots__ = ("_buf", "_discarding", "_scan", "max_line")

    def __init__(self, max_line: int) -> None:
        if max_line < 2:
            raise ValueError("max_line must leave room for CRLF")
        self.max_line = max_line
        self._buf = bytearray()
        self._scan = 0
        self._discarding = False

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf += data

    def read_line(self, max_line: int | None = None) -> bytes | Overlong | None:
        """The next line without its CRLF, LINE_TOO_LONG, or None when no CRLF is buffered.

        ``max_line`` overrides the buffer's limit for this call (e.g. a longer limit for an
        SMTP AUTH exchange, RFC 4954 4).
        """
        limit = self.max_line if max_line is None else max_line
        buf = self._buf
        end = buf.find(CRLF, self._scan)
        if end < 0:
            if len(buf) > limit or self._discarding:
                self._discard_partial()
            else:
                self._scan = max(0, len(buf) - 1)
            return None
        self._scan = 0
        if self._discarding or end + 2 > limit:
            del buf[: end + 2]
            self._discarding = False
            return LINE_TOO_LONG
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def _discard_partial(self) -> None:
        """Drop an overlong partial line, keeping a final CR that may start the CRLF."""
        keep_cr = self._buf.endswith(b"\r")
        self._buf.clear()
        if keep_cr:
            self._buf += b"\r"
        self._scan = 0
        self._discarding = True

    def read_upto(self, count: int) -> bytes:
        """Up to ``count`` buffered bytes (fewer when fewer are buffered), removed."""
        chunk = bytes(self._buf[:count])
        del self._buf[:count]
        self._scan = 0
        return chunk

    def peek(self) -> bytes:
        """A copy of everything buffered, left in place (see ``consume``)."""
        return bytes(self._buf)

    # Scanning in place, without copying the buffer (SMTP DATA, IMAP literals).
    def find(self, sub: bytes, start: int = 0) -> int:
        return self._buf.find(sub, start)

    def rfind(self, sub: bytes, start: int = 0) -> int:
        return self._buf.rfind(sub, start)

    def startswith(self, prefix: bytes) -> bool:
        return self._buf.startswith(prefix)

    def endswith(self, suffix: bytes) -> bool:
        return self._buf.endswith(suffix)

    def take(self, count: int) -> bytes:
        """The first ``count`` bytes, removed (exactly ``count``: the caller found them)."""
        chunk = bytes(self._buf[:count])
        del self._buf[:count]
        self._scan = 0
        return chunk

    def consume(self, count: int) -> None:
        """Remove the first ``count`` buffered bytes."""
        del self._buf[:count]
        self._scan = 0

    def clear(self) -> int:
        """Drop everything buffered; return how many bytes were dropped."""
        dropped = len(self._buf)
        self._buf.clear()
        self._scan = 0
        self._discarding = False
        return dropped
