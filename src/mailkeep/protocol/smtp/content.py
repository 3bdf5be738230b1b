"""DATA content: dot-unstuffing and the end-of-data mark (RFC 5321 4.1.1.4, 4.5.2).

Implementation notes (invariants; this is the SMTP smuggling defence):

- Only <CRLF>.<CRLF> ends the message (or "." CRLF as the very first line). A bare LF or
  bare CR never ends a line, so "\\n.\\n", "\\r.\\r", "\\r\\n.\\r" and the like can neither end
  a message nor start a second one: they stay inside this message.
- Any bare CR or LF, or NUL, anywhere in the content dooms the message: it is read to its
  real end and refused with 554 5.6.0 (BARE_NEWLINE / NUL_IN_DATA), and the session goes on.
  We refuse rather than normalise: a message with bare line ends was made by broken or
  hostile software, and passing a variant on is what lets a smuggled message through a
  less careful next hop. (docs/decisions/0001-smtp-core.md)
- Content is processed a region of complete lines at a time with bytes methods (find, count,
  replace), never byte by byte; an incomplete last line stays buffered. A line longer than
  ``max_line`` is not buffered whole: the message is doomed and the rest of the line skipped.
- Once doomed, nothing more is emitted; the caller drops what it spooled.
"""

from __future__ import annotations

from mailkeep.protocol.linebuffer import LineBuffer
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.replies import Reply

END_OF_DATA = b"\r\n.\r\n"
MAX_RFC5322_LINE = 998  # RFC 5322 2.1.1, without CRLF


class DataReader:
    """Reads one DATA message out of a LineBuffer; ``read`` returns unstuffed bytes."""

    __slots__ = (
        "_buffer",
        "_max_line",
        "_max_size",
        "_skipping",
        "finished",
        "long_lines",
        "problem",
        "size",
    )

    def __init__(self, buffer: LineBuffer, *, max_size: int, max_line: int) -> None:
        self._buffer = buffer
        self._max_size = max_size
        self._max_line = max_line
        self._skipping = False
        self.finished = False
        self.size = 0
        self.long_lines = False
        self.problem: tuple[str, Reply] | None = None

    def _doom(self, reason: str, reply: Reply) -> None:
        if self.problem is None:
            self.problem = (reason, reply)

    def read(self) -> bytes:
        """Message bytes ready to spool; b"" when more input is needed or ``finished``."""
        while not self.finished:
            data = self._buffer.peek()
            if not data:
                return b""
            if self._skipping:
                if not self._skip_overlong(data):
                    return b""
                continue
            if data.startswith(b".\r\n"):  # the mark right at a line start
                self._buffer.consume(3)
                self.finished = True
                return b""
            end = data.find(END_OF_DATA)
            if end >= 0:
                region, used = data[: end + 2], end + len(END_OF_DATA)
                self.finished = True
            else:
                last = data.rfind(b"\r\n")
                if last < 0:
                    if len(data) > self._max_line:
                        self._doom("line too long", replies.DATA_LINE_TOO_LONG)
                        self._skipping = True
                        continue
                    return b""
                region, used = data[: last + 2], last + 2
            self._buffer.consume(used)
            chunk = self._scan(region)
            if chunk:
                return chunk
        return b""

    def _skip_overlong(self, data: bytes) -> bool:
        """Drop the rest of an overlong line; True once its CRLF is gone."""
        end = data.find(b"\r\n")
        if end < 0:
            keep = 1 if data.endswith(b"\r") else 0
            self._buffer.consume(len(data) - keep)
            return False
        self._buffer.consume(end + 2)
        self._skipping = False
        return True

    def _scan(self, region: bytes) -> bytes:
        """Check a region of whole lines and return it dot-unstuffed (b"" once doomed)."""
        line_ends = region.count(b"\r\n")
        if region.count(b"\r") != line_ends or region.count(b"\n") != line_ends:
            self._doom("bare CR or LF in DATA", replies.BARE_NEWLINE)
        if b"\x00" in region:
            self._doom("NUL in DATA", replies.NUL_IN_DATA)
        if len(region) > MAX_RFC5322_LINE + 2:
            longest = max(map(len, region.split(b"\r\n")))
            if longest > MAX_RFC5322_LINE:
                self.long_lines = True
            if longest + 2 > self._max_line:
                self._doom("line too long", replies.DATA_LINE_TOO_LONG)
        if self.problem is not None:
            return b""
        if region.startswith(b"."):
            region = region[1:]
        chunk = region.replace(b"\r\n.", b"\r\n")
        self.size += len(chunk)
        if self.size > self._max_size:
            self._doom("message too big", replies.SIZE_EXCEEDED)
            return b""
        return chunk
