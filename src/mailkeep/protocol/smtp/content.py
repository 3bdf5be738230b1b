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
- Content is processed a region of complete lines at a time with bytes methods (find,
  split, translate, replace), never byte by byte; an incomplete last line stays buffered.
  A line longer than ``max_line`` is not buffered whole: the message is doomed and the
  rest of the line skipped.
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
        "_searched",
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
        self._searched = 0  # leading buffered bytes already searched in vain
        self.finished = False
        self.size = 0
        self.long_lines = False
        self.problem: tuple[str, Reply] | None = None

    def _doom(self, reason: str, reply: Reply) -> None:
        if self.problem is None:
            self.problem = (reason, reply)

    def read(self) -> bytes:
        """Message bytes ready to spool; b"" when more input is needed or ``finished``."""
        buffer = self._buffer
        while not self.finished:
            if not len(buffer):
                return b""
            if self._skipping:
                if not self._skip_overlong():
                    return b""
                continue
            if buffer.startswith(b".\r\n"):  # the mark right at a line start
                buffer.consume(3)
                self.finished = True
                return b""
            # Resume searching where the last search stopped (minus a partial mark), so that
            # a line trickled in byte by byte costs linear time, not quadratic.
            end = buffer.find(END_OF_DATA, max(0, self._searched - len(END_OF_DATA)))
            if end >= 0:
                region = buffer.take(end + 2)
                buffer.consume(len(END_OF_DATA) - 2)
                self.finished = True
            else:
                last = buffer.rfind(b"\r\n", max(0, self._searched - 1))
                if last < 0:
                    self._searched = len(buffer)
                    if len(buffer) > self._max_line:
                        self._doom("line too long", replies.DATA_LINE_TOO_LONG)
                        self._skipping = True
                        continue
                    return b""
                region = buffer.take(last + 2)
            self._searched = 0
            chunk = self._scan(region)
            if chunk:
                return chunk
        return b""

    def _skip_overlong(self) -> bool:
        """Drop the rest of an overlong line; True once its CRLF is gone."""
        buffer = self._buffer
        self._searched = 0
        end = buffer.find(b"\r\n")
        if end < 0:
            keep = 1 if buffer.endswith(b"\r") else 0
            buffer.consume(len(buffer) - keep)
            return False
        buffer.consume(end + 2)
        self._skipping = False
        return True

    def _scan(self, region: bytes) -> bytes:
        """Check a region of whole lines and return it dot-unstuffed (b"" once doomed).

        Few passes over the bytes, each in C: split (line count and lengths), translate
        (CR, LF and NUL counted at once), and a search for dot-stuffed lines.
        """
        lines = region.split(b"\r\n")
        line_ends = len(lines) - 1
        specials = len(region) - len(region.translate(None, b"\r\n\x00"))
        if specials != 2 * line_ends:  # something besides CRLF pairs: find out what
            if region.count(b"\r") != line_ends or region.count(b"\n") != line_ends:
                self._doom("bare CR or LF in DATA", replies.BARE_NEWLINE)
            if b"\x00" in region:
                self._doom("NUL in DATA", replies.NUL_IN_DATA)
        if len(region) > MAX_RFC5322_LINE + 2:
            longest = max(map(len, lines))
            if longest > MAX_RFC5322_LINE:
                self.long_lines = True
            if longest + 2 > self._max_line:
                self._doom("line too long", replies.DATA_LINE_TOO_LONG)
        if self.problem is not None:
            return b""
        if region.startswith(b"."):
            region = region[1:]
        if b"\r\n." in region:
            region = region.replace(b"\r\n.", b"\r\n")
        self.size += len(region)
        if self.size > self._max_size:
            self._doom("message too big", replies.SIZE_EXCEEDED)
            return b""
        return region
