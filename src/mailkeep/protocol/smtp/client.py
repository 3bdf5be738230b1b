"""The SMTP client core, sans-IO, for the outbound queue (RFC 5321, 2920, 3030, 3207, 4954).

Commands are written with methods returning bytes (``ehlo``, ``mail``, ``rcpt``, ``data``,
``message``, ``bdat``, ...); each expects one reply. ``next_event`` returns the replies in
order as ``ReplyReceived(command, reply)``, NEED_DATA, or a terminal ``ServerMisbehaved`` /
``ConnectionClosed``.

Implementation notes (invariants):

- Replies are parsed per RFC 5321 4.2.1: "ddd-" continues, "ddd " or "ddd" ends; every line
  of one reply has the same code. A reply line over ``max_reply_line`` or a reply over
  ``max_reply_lines`` lines is misbehaviour (a peer sending 1 MB lines must not grow memory).
- Enhanced status codes are split off when the text starts with one whose class matches.
- PIPELINING (RFC 2920 3.1): with it, commands may be written before earlier replies arrive,
  but nothing may follow EHLO, HELO, DATA, STARTTLS, AUTH, QUIT, NOOP or the message end
  until their reply has been read; without it, one command at a time. Breaking this is our
  bug (LocalProtocolError).
- After a 220 to STARTTLS, whatever the server sent along with it is dropped unread
  (response injection) and reported in ``discarded``; ``tls_started()`` forgets the EHLO.
- ``message`` dot-stuffs (RFC 5321 4.5.2) and writes every line end as CRLF, so a bare LF or
  CR in a spooled message can never end the DATA at a lax next hop.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.linebuffer import LINE_TOO_LONG, LineBuffer
from mailkeep.protocol.smtp.events import NEED_DATA, ConnectionClosed, NeedData
from mailkeep.protocol.smtp.replies import Reply

# Commands after which the client must wait for the reply (RFC 2920 3.1, RFC 3207 4,
# RFC 4954 4); "GREETING" is the server's banner, "MESSAGE" the end of DATA content.
SYNC = frozenset(
    {"GREETING", "EHLO", "HELO", "DATA", "STARTTLS", "AUTH", "QUIT", "NOOP", "MESSAGE"}
)
_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -]|$)(.*)$", re.DOTALL)
_ENHANCED = re.compile(r"^([245]\.[0-9]{1,3}\.[0-9]{1,3}) ")
_BARE_LINE_END = re.compile(rb"\r\n|\r|\n")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    """The server's ``reply`` to ``command`` (a verb, "GREETING" or "MESSAGE")."""

    command: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class ServerMisbehaved:
    """The server broke the protocol; the session is unusable. ``reason`` is for the log."""

    reason: str


ClientEvent = ReplyReceived | ServerMisbehaved | ConnectionClosed


@dataclass(frozen=True, slots=True)
class Extensions:
    """The EHLO reply's keywords (upper case) and their parameters (RFC 5321 4.1.1.1)."""

    keywords: Mapping[str, str]

    def __contains__(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    @property
    def size_limit(self) -> int | None:
        """SIZE's maximum (RFC 1870 4); None when absent or 0 (no fixed limit)."""
        value = self.keywords.get("SIZE", "")
        return int(value) if value.isdigit() and int(value) > 0 else None

    @property
    def auth_mechanisms(self) -> frozenset[str]:
        return frozenset(self.keywords.get("AUTH", "").upper().split())

    @classmethod
    def from_reply(cls, reply: Reply) -> Extensions:
        keywords: dict[str, str] = {}
        for line in reply.lines[1:]:
            keyword, _, params = line.strip().partition(" ")
            if keyword:
                keywords[keyword.upper()] = params.strip()
        return cls(keywords)


def parse_reply_line(line: bytes) -> tuple[int, bool, str] | None:
    """(code, is_last, text) of one reply line, or None when it is not one."""
    match = _REPLY_LINE.match(line)
    if match is None:
        return None
    text = match.group(3).decode("utf-8", errors="replace")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "?" for c in text)
    return int(match.group(1)), match.group(2) != b"-", text


def build_reply(code: int, lines: list[str]) -> Reply:
    """A Reply from parsed lines, with an enhanced code split off when present."""
    enhanced = None
    match = _ENHANCED.match(lines[0])
    if match and match.group(1)[0] == str(code)[0]:
        enhanced = match.group(1)
        prefix = enhanced + " "
        lines = [line.removeprefix(prefix) for line in lines]
    return Reply(code, enhanced, "\n".join(lines))


def dot_stuff(content: bytes) -> bytes:
    """DATA content ready to write: CRLF line ends, leading dots doubled, end mark added."""
    crlf = content.count(b"\r\n")
    if content.count(b"\r") == crlf == content.count(b"\n"):
        text = content  # already CRLF only (the usual case): no rewriting pass
    else:
        text = _BARE_LINE_END.sub(b"\r\n", content)
    if text and not text.endswith(b"\r\n"):
        text += b"\r\n"
    if text.startswith(b"."):
        text = b"." + text
    return text.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class SMTPClientConnection:
    """One SMTP session, client side."""

    def __init__(self, *, max_reply_line: int = 4096, max_reply_lines: int = 200) -> None:
        self._buffer = LineBuffer(max_reply_line)
        self._max_lines = max_reply_lines
        self._expected: deque[str] = deque(["GREETING"])
        self._lines: list[str] = []
        self._code = 0
        self._eof = False
        self._broken: str | None = None
        self._closed = False
        self._data_accepted = False
        self._awaiting_tls = False
        self.extensions: Extensions | None = None
        self.discarded = 0

    @property
    def waiting_for(self) -> tuple[str, ...]:
        """Commands whose replies have not arrived yet, oldest first."""
        return tuple(self._expected)

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
        elif self._awaiting_tls:
            self.discarded += len(data)
        else:
            self._buffer.feed(data)

    def next_event(self) -> ClientEvent | NeedData:
        if self._closed:
            return ConnectionClosed()
        if self._broken is not None:
            self._closed = True
            return ServerMisbehaved(self._broken)
        while True:
            line = self._buffer.read_line()
            if line is None:
                if self._eof:
                    self._closed = True
                    return ConnectionClosed()
                return NEED_DATA
            if line is LINE_TOO_LONG:
                return self._misbehaved("reply line too long")
            assert isinstance(line, bytes)
            parsed = parse_reply_line(line)
            if parsed is None:
                return self._misbehaved(f"not a reply line: {line[:40]!r}")
            code, last, text = parsed
            if self._lines and code != self._code:
                return self._misbehaved("reply code changed inside a multiline reply")
            self._code = code
            self._lines.append(text)
            if len(self._lines) > self._max_lines:
                return self._misbehaved("reply has too many lines")
            if last:
                return self._complete()

    def _misbehaved(self, reason: str) -> ServerMisbehaved:
        self._closed = True
        return ServerMisbehaved(reason)

    def _complete(self) -> ClientEvent:
        reply = build_reply(self._code, self._lines)
        self._lines = []
        if not self._expected:
            return self._misbehaved(f"unsolicited reply {reply.code}")
        command = self._expected.popleft()
        if command == "EHLO" and reply.code == 250:
            self.extensions = Extensions.from_reply(reply)
        elif command == "DATA":
            self._data_accepted = reply.code == 354
        elif command == "STARTTLS" and reply.code == 220:
            self.discarded += self._buffer.clear()  # response injection, never parsed
            self._awaiting_tls = True
        elif command == "QUIT" or reply.code == 421:
            self._eof = True
        if reply.code == 421:  # RFC 5321 3.8: the server is closing; nothing else will come
            self._expected.clear()
        return ReplyReceived(command, reply)

    # -- commands -----------------------------------------------------------------------

    def _write(self, command: str, line: str) -> bytes:
        if self._closed or self._awaiting_tls:
            raise LocalProtocolError(f"{command} on a closed session or before tls_started()")
        if self._expected:
            if self._expected[-1] in SYNC:
                raise LocalProtocolError(f"{command} sent before the {self._expected[-1]} reply")
            if self.extensions is None or "PIPELINING" not in self.extensions:
                raise LocalProtocolError(f"{command} pipelined without PIPELINING")
        if _CONTROL.search(line):
            raise LocalProtocolError("control character in a command")
        self._expected.append(command)
        return line.encode("utf-8") + b"\r\n"

    def ehlo(self, name: str) -> bytes:
        self.extensions = None
        return self._write("EHLO", f"EHLO {name}")

    def helo(self, name: str) -> bytes:
        return self._write("HELO", f"HELO {name}")

    def starttls(self) -> bytes:
        return self._write("STARTTLS", "STARTTLS")

    def tls_started(self) -> None:
        """The handshake after a 220 to STARTTLS succeeded: EHLO again (RFC 3207 4.2)."""
        if not self._awaiting_tls:
            raise LocalProtocolError("tls_started() without a 220 to STARTTLS")
        self._awaiting_tls = False
        self.extensions = None

    def auth(self, mechanism: str, initial: bytes | None = None) -> bytes:
        """AUTH with an optional initial response (RFC 4954 4; empty is "=")."""
        line = f"AUTH {mechanism}"
        if initial is not None:
            line += " " + (base64.b64encode(initial).decode("ascii") or "=")
        return self._write("AUTH", line)

    def auth_response(self, data: bytes | None) -> bytes:
        """Answer a 334 challenge; None cancels the exchange ("*")."""
        text = "*" if data is None else base64.b64encode(data).decode("ascii")
        return self._write("AUTH", text)

    def mail(self, address: str, params: Mapping[str, str | None] | None = None) -> bytes:
        return self._write("MAIL", f"MAIL FROM:<{address}>{_params(params)}")

    def rcpt(self, address: str, params: Mapping[str, str | None] | None = None) -> bytes:
        return self._write("RCPT", f"RCPT TO:<{address}>{_params(params)}")

    def data(self) -> bytes:
        self._data_accepted = False
        return self._write("DATA", "DATA")

    def message(self, content: bytes) -> bytes:
        """The message after a 354: dot-stuffed, ending in <CRLF>.<CRLF>."""
        if not self._data_accepted:
            raise LocalProtocolError("message content without a 354 to DATA")
        self._data_accepted = False
        self._expected.append("MESSAGE")
        return dot_stuff(content)

    def bdat(self, chunk: bytes, *, last: bool) -> bytes:
        """One BDAT chunk (RFC 3030 2); chunks may be pipelined."""
        if self.extensions is None or "CHUNKING" not in self.extensions:
            raise LocalProtocolError("BDAT without CHUNKING")
        header = f"BDAT {len(chunk)}{' LAST' if last else ''}"
        return self._write("BDAT", header) + chunk

    def rset(self) -> bytes:
        return self._write("RSET", "RSET")

    def noop(self) -> bytes:
        return self._write("NOOP", "NOOP")

    def quit(self) -> bytes:
        return self._write("QUIT", "QUIT")


def _params(params: Mapping[str, str | None] | None) -> str:
    if not params:
        return ""
    return "".join(
        f" {key}" if value is None else f" {key}={value}" for key, value in params.items()
    )
