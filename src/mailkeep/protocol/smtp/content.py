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
  split, translate, replace), never byte by byte; an incomplete last line stays buffered
  until ``stream_after`` bytes, then is passed on as a partial line. So a connection holds
  at most about ``stream_after`` bytes of DATA, however long its lines; a line longer than
  ``max_line`` only dooms the message.
- Dot-unstuffing and the "." CRLF end mark apply at line starts only; ``_at_line_start``
  says whether the next buffered byte starts a line.
- Once doomed, nothing more is emitted; the caller drops what it spooled.
"""

from __future__ import annotations

from mailkeep.protocol.linebuffer import LineBuffer
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.replies import Reply

END_OF_DATA = b"\r\n.\r\n"
MAX_RFC5322_LINE = 998  # RFC 5322 2.1.1, without CRLF
STREAM_AFTER = 64 * 1024  # buffered bytes of one unfinished line before it is passed on


class DataReader:
    """Reads one DATA message out of a LineBuffer; ``read`` returns unstuffed bytes."""

    __slots__ = (
        "_at_line_start",
        "_buffer",
        "_line_length",
        "_max_line",
        "_max_size",
        "_searched",
        "_stream_after",
        "finished",
        "long_lines",
        "problem",
        "size",
    )

    def __init__(
        self,
        buffer: LineBuffer,
        *,
        max_size: int,
        max_line: int,
        stream_after: int = STREAM_AFTER,
    ) -> None:
        self._buffer = buffer
        self._max_size = max_size
        self._max_line = max_line
        # at least 3, so that "." and ".\r" at a line start wait for the rest of the end mark
        self._stream_after = max(3, min(stream_after, max_line))
        self._searched = 0  # leading buffered bytes already searched in vain
        self._at_line_start = True
        self._line_length = 0  # octets of the current line already passed on
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
        while not self.finished and len(buffer):
            if self._at_line_start and buffer.startswith(b".\r\n"):  # the end mark
                buffer.consume(3)
                self.finished = True
                break
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
                    if len(buffer) < self._stream_after:
                        break
                    keep = 1 if buffer.endswith(b"\r") else 0  # maybe half of a CRLF
                    region = buffer.take(len(buffer) - keep)
                    self._searched = 0
                    chunk = self._scan_partial(region)
                    if chunk:
                        return chunk
                    continue
                region = buffer.take(last + 2)
            self._searched = 0
            chunk = self._scan(region)
            if chunk:
                return chunk
        return b""

    def _check_specials(self, data: bytes, line_ends: int) -> None:
        """Doom the message for a bare CR or LF, or a NUL, in ``data``."""
        specials = len(data) - len(data.translate(None, b"\r\n\x00"))
        if specials != 2 * line_ends:  # something besides CRLF pairs: find out what
            if data.count(b"\r") != line_ends or data.count(b"\n") != line_ends:
                self._doom("bare CR or LF in DATA", replies.BARE_NEWLINE)
            if b"\x00" in data:
                self._doom("NUL in DATA", replies.NUL_IN_DATA)

    def _check_line_length(self, longest: int) -> None:
        if longest > MAX_RFC5322_LINE:
            self.long_lines = True
        if longest + 2 > self._max_line:
            self._doom("line too long", replies.DATA_LINE_TOO_LONG)

    def _emit(self, data: bytes) -> bytes:
        if self.problem is not None:
            return b""
        self.size += len(data)
        if self.size > self._max_size:
            self._doom("message too big", replies.SIZE_EXCEEDED)
            return b""
        return data

    def _scan(self, region: bytes) -> bytes:
        """Check a region of whole lines (it ends with CRLF) and return it dot-unstuffed.

        Few passes over the bytes, each in C: split (line count and lengths), translate
        (CR, LF and NUL counted at once), and a search for dot-stuffed lines.
        """
        lines = region.split(b"\r\n")
        self._check_specials(region, len(lines) - 1)
        if len(region) + self._line_length > MAX_RFC5322_LINE + 2:
            self._check_line_length(max(len(lines[0]) + self._line_length, *map(len, lines)))
        if self._at_line_start and region.startswith(b"."):
            region = region[1:]
        if b"\r\n." in region:
            region = region.replace(b"\r\n.", b"\r\n")
        self._at_line_start = True
        self._line_length = 0
        return self._emit(region)

    def _scan_partial(self, part: bytes) -> bytes:
        """Check the start of a long line (no CRLF in it) and return it unstuffed."""
        self._check_specials(part, 0)
        self._line_length += len(part)
        self._check_line_length(self._line_length)
        if self._at_line_start and part.startswith(b"."):
            part = part[1:]
        self._at_line_start = False
        return self._emit(part)
