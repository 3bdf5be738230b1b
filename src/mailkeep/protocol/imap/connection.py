"""The IMAP server session core: bytes in, events out, responses to bytes (RFC 9051 2.2,
RFC 3501 2.2, RFC 7888 LITERAL+, RFC 7889 APPENDLIMIT, RFC 2177 IDLE, RFC 4959 SASL-IR).

Implementation notes (invariants):

- One command at a time. After CommandReceived or CommandInvalid no further input is
  framed until the application sends that command's tagged response (or, for an untagged
  BAD, that BAD). Pipelined commands wait in the buffer, in order; ``wants_data`` turns
  False while a command is outstanding and a line's worth is buffered, so the adapter
  stops reading and the buffer stays bounded.
- Limits are checked before bytes are kept: a line longer than ``max_line`` is dropped as
  it arrives (only a short tail is kept, to see whether it announced a literal); a literal
  is checked against its limit from the ``{n}`` header alone. A synchronizing literal over
  the limit is refused instead of the "+" (the client does not send it: RFC 9051 7.5);
  a non-synchronizing one is already on its way and cannot be told apart from commands,
  so the command gets BAD and the connection closes (RFC 7888 4).
- For a synchronizing literal the core writes "+ ..." itself, once the command so far is
  known and allowed in this state: an unknown command or one not allowed now is refused
  before any literal octet is read (no APPEND payload before login).
- A continuation request sent by the application during AUTHENTICATE or IDLE makes the
  next line a SaslResponse / IdleDone instead of a command.
- After the tagged OK of STARTTLS the buffer is dropped (commands injected before the
  handshake must not run, RFC 9051 6.2.1) and nothing is framed until ``tls_started``;
  after the OK of COMPRESS the buffered octets are compressed data, handed back by
  ``compression_started`` for the adapter to inflate and feed again.
- State changes follow ``states.TRANSITIONS`` when the tagged response is sent.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import encoder
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.arguments import decode_sasl
from mailkeep.protocol.imap.errors import CommandSyntaxError, ParseError
from mailkeep.protocol.imap.events import (
    NEED_DATA,
    CommandInvalid,
    CommandReceived,
    ConnectionClosed,
    Event,
    IdleDone,
    SaslResponse,
    Write,
    _NeedData,
)
from mailkeep.protocol.imap.lexer import LITERAL_MARKER
from mailkeep.protocol.imap.parser import COMMAND_NAMES, parse_command, read_tag
from mailkeep.protocol.imap.responses import Continuation, Response, Status, StatusResponse
from mailkeep.protocol.imap.states import ALLOWED, State, next_state
from mailkeep.protocol.imap.values import Stream

CRLF = b"\r\n"
_TAIL = 40  # octets kept of a dropped overlong line: enough for a tag or a "{n+}" marker


@dataclass(frozen=True, slots=True)
class IMAPLimits:
    """Size limits; the app builds these from the [imap] config section."""

    # RFC 2683 3.2.1.5: servers should accept command lines of 8000 octets or more; long
    # UID sets from sync clients need more.
    max_line: int = 65536
    #: a literal other than an APPEND message (names, search strings, passwords)
    max_literal: int = 65536
    #: APPENDLIMIT (RFC 7889): one message of APPEND
    max_message: int = 50 * 1024 * 1024
    #: all lines and literals of one command (bounds MULTIAPPEND, RFC 3502)
    max_command: int = 64 * 1024 * 1024
    #: any literal before login: only LOGIN and ID take literals there
    max_literal_before_login: int = 8192


class _Mode(enum.Enum):
    COMMAND = "command"  # framing commands
    LITERAL = "literal"  # reading a literal's octets
    WAITING = "waiting"  # a command is outstanding
    SASL = "sasl"  # the next line answers an AUTHENTICATE challenge
    IDLE = "idle"  # the next line should be DONE
    BLOCKED = "blocked"  # after STARTTLS/COMPRESS OK, until the adapter says it is done
    CLOSED = "closed"


@dataclass(slots=True)
class _Pending:
    tag: str | None
    command: c.TaggedCommand | None


class IMAPServerConnection:
    """One IMAP session. Feed ``receive_data``; act on ``next_event`` until NEED_DATA;
    turn responses into bytes with ``send``/``send_chunks``."""

    def __init__(self, limits: IMAPLimits | None = None, *, authenticated: bool = False) -> None:
        self.limits = limits or IMAPLimits()
        self.state = State.AUTHENTICATED if authenticated else State.NOT_AUTHENTICATED
        #: mailbox names and strings in UTF-8 (IMAP4rev2 / UTF8=ACCEPT enabled)
        self.utf8 = False
        #: CommandInvalid events so far (for the adapter's "too many errors" rule)
        self.bad_commands = 0
        self._buf = bytearray()
        self._scan = 0
        self._mode = _Mode.COMMAND
        self._eof = False
        self._closed_sent = False
        self._events: collections.deque[Event] = collections.deque()
        self._pending: _Pending | None = None
        self._dropped = 0  # octets discarded after STARTTLS
        self._blocked_by: type[c.StartTLS] | type[c.Compress] | None = None
        self._reset_command()

    # -- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` is the end of input."""
        if not data:
            self._eof = True
        elif self._mode is not _Mode.CLOSED:
            self._buf += data

    @property
    def wants_data(self) -> bool:
        """False when the adapter should stop reading for now (a command is outstanding and
        the next line is already buffered), so unread input waits in the socket."""
        if self._mode is _Mode.CLOSED:
            return False
        if self._mode in (_Mode.WAITING, _Mode.BLOCKED):
            return len(self._buf) < self.limits.max_line
        return True

    def next_event(self) -> Event | _NeedData:
        while not self._events:
            if self._mode is _Mode.CLOSED:
                if self._closed_sent:
                    return NEED_DATA
                self._closed_sent = True
                return ConnectionClosed()
            if self._mode in (_Mode.WAITING, _Mode.BLOCKED):
                return NEED_DATA
            if not self._step():
                if self._eof:
                    self._mode = _Mode.CLOSED
                    continue
                return NEED_DATA
        return self._events.popleft()

    # -- output --------------------------------------------------------------------------

    def send(self, response: Response) -> bytes:
        """Encode ``response``; a tagged response completes the outstanding command."""
        self._track(response)
        return encoder.encode(response, self.utf8)

    def send_chunks(self, response: Response) -> list[bytes | Stream]:
        """Like ``send`` for responses holding streamed literals (``Stream`` values)."""
        self._track(response)
        return encoder.encode_chunks(response, self.utf8)

    def enable_utf8(self) -> None:
        """IMAP4rev2 or UTF8=ACCEPT was enabled: names are UTF-8 from now on."""
        self.utf8 = True

    def disable_utf8(self) -> None:
        """UNAUTHENTICATE ended what ENABLE enabled (RFC 8437 4.1): modified UTF-7 again."""
        self.utf8 = False

    def tls_started(self) -> int:
        """The TLS handshake after STARTTLS finished; returns how many plaintext octets
        received after the STARTTLS line were discarded."""
        self._require_blocked(c.StartTLS)
        dropped = self._dropped + len(self._buf)
        self._dropped = 0
        self._buf.clear()
        self._scan = 0
        self._mode = _Mode.COMMAND
        return dropped

    def compression_started(self) -> bytes:
        """COMPRESS is active: the octets received after the COMPRESS line (compressed
        data) are returned; inflate them and feed the result to ``receive_data``."""
        self._require_blocked(c.Compress)
        data = bytes(self._buf)
        self._buf.clear()
        self._scan = 0
        self._mode = _Mode.COMMAND
        return data

    def close(self) -> None:
        """The application ends the session (autologout, shutdown, too many errors)."""
        self._mode = _Mode.CLOSED
        self.state = State.LOGOUT

    # -- internals: completing commands -------------------------------------------------

    def _require_blocked(self, kind: type[c.StartTLS] | type[c.Compress]) -> None:
        if self._mode is not _Mode.BLOCKED or self._blocked_by is not kind:
            raise LocalProtocolError(f"no {kind.__name__} is waiting")
        self._blocked_by = None

    def _track(self, response: Response) -> None:
        pending = self._pending
        if isinstance(response, Continuation):
            if pending is None or pending.command is None:
                raise LocalProtocolError("continuation request without a command")
            kind = type(pending.command.command)
            if kind is c.Authenticate:
                self._mode = _Mode.SASL
            elif kind is c.Idle:
                self._mode = _Mode.IDLE
            else:
                raise LocalProtocolError(f"no continuation for {pending.command.name}")
            return
        if not isinstance(response, StatusResponse) or pending is None:
            return
        if response.tag is None:
            if pending.tag is None and response.status is Status.BAD:
                self._finish(pending, response)
            return
        if response.tag != pending.tag:
            raise LocalProtocolError(f"tagged response {response.tag!r} for no command")
        self._finish(pending, response)

    def _finish(self, pending: _Pending, response: StatusResponse) -> None:
        self._pending = None
        self._mode = _Mode.COMMAND
        command = pending.command
        if command is None:
            return
        self.state = next_state(self.state, command.name, response.status)
        ok = response.status is Status.OK
        if self.state is State.LOGOUT:
            self._mode = _Mode.CLOSED
        elif ok and isinstance(command.command, c.StartTLS):
            self._dropped = len(self._buf)
            self._buf.clear()
            self._scan = 0
            self._mode = _Mode.BLOCKED
            self._blocked_by = c.StartTLS
        elif ok and isinstance(command.command, c.Compress):
            self._mode = _Mode.BLOCKED
            self._blocked_by = c.Compress

    def _emit_command(self, command: c.TaggedCommand) -> None:
        self._pending = _Pending(command.tag, command)
        self._mode = _Mode.WAITING
        self._events.append(CommandReceived(command))

    def _emit_invalid(self, tag: str | None, reason: str, response: StatusResponse) -> None:
        self.bad_commands += 1
        keep = self._pending.command if self._pending is not None else None
        self._pending = _Pending(tag, keep if keep is not None and keep.tag == tag else None)
        self._mode = _Mode.WAITING
        self._events.append(CommandInvalid(ParseError(tag, reason, response)))

    # -- internals: framing ----------------------------------------------------------------

    def _reset_command(self) -> None:
        self._lines: list[bytes] = []
        self._literals: list[bytes] = []
        self._literal = bytearray()
        self._literal_need = 0
        self._size = 0
        self._dropping = False  # inside an overlong line
        self._tail = b""
        self._head = b""  # the first octets of an overlong first line (its tag)
        #: a refused command whose small non-synchronizing literals are being skipped
        self._refusal: tuple[str | None, StatusResponse] | None = None

    def _step(self) -> bool:
        """Frame what the buffer allows; False when more input is needed."""
        if self._mode is _Mode.LITERAL:
            return self._read_literal()
        line = self._read_line()
        if line is None:
            return bool(self._events)
        if self._mode is _Mode.COMMAND:
            self._command_line(line)
        elif self._mode is _Mode.SASL:
            self._sasl_line(line)
        elif self._mode is _Mode.IDLE:
            self._idle_line(line)
        return True

    def _read_line(self) -> bytes | None:
        """A line without CRLF, or None. An overlong line is dropped while it arrives and
        reported by ``_overlong`` once its CRLF is seen."""
        buf = self._buf
        end = buf.find(CRLF, self._scan)
        if end < 0:
            if len(buf) > self.limits.max_line or self._dropping:
                if not self._dropping:
                    self._dropping = True
                    self._head = bytes(buf[:_TAIL])
                keep = 1 if buf.endswith(b"\r") else 0
                self._tail = (self._tail + bytes(buf[: len(buf) - keep]))[-_TAIL:]
                del buf[: len(buf) - keep]
            self._scan = max(0, len(buf) - 1)
            return None
        self._scan = 0
        if self._dropping or end + 2 > self.limits.max_line:
            if not self._dropping:
                self._head = bytes(buf[:_TAIL])
            self._tail = (self._tail + bytes(buf[:end]))[-_TAIL:]
            del buf[: end + 2]
            self._overlong()
            return None
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def _overlong(self) -> None:
        first = self._lines[0] if self._lines else self._head
        tag = read_tag(first)[0] if self._mode is _Mode.COMMAND else self._pending_tag()
        marker = LITERAL_MARKER.search(self._tail)
        self._reset_command()
        if self._mode is _Mode.COMMAND and marker is not None and marker.group(3):
            self._refuse_nonsync(tag)
        elif self._mode is _Mode.IDLE:
            self._mode = _Mode.COMMAND
            self._emit_invalid(tag, "line too long", r.BAD_IDLE_NOT_DONE)
        else:
            self._emit_invalid(tag, "line too long", r.BAD_LINE_TOO_LONG)

    def _pending_tag(self) -> str | None:
        return self._pending.tag if self._pending is not None else None

    def _refuse_nonsync(self, tag: str | None) -> None:
        self._events.append(Write(encoder.encode(r.BAD_NONSYNC_LITERAL_TOO_BIG.tagged(tag))))
        self.bad_commands += 1
        self._mode = _Mode.CLOSED

    def _read_literal(self) -> bool:
        if not self._buf:
            return False
        take = min(self._literal_need, len(self._buf))
        if self._refusal is None:
            self._literal += self._buf[:take]
        del self._buf[:take]  # a refused command's literal is skipped, never kept
        self._literal_need -= take
        if self._literal_need == 0:
            if self._refusal is None:
                self._literals.append(bytes(self._literal))
                self._literal = bytearray()
            self._mode = _Mode.COMMAND
        return True

    def _command_line(self, line: bytes) -> None:
        if not self._lines and not line and self._refusal is None:
            return  # RFC 9051 has no empty command; tolerate stray CRLFs between commands
        self._size += len(line) + 2
        first = self._lines[0] if self._lines else line
        tag, name = read_tag(first)
        marker = LITERAL_MARKER.search(line)
        if not self._lines:
            self._lines.append(line)
        elif self._refusal is None:
            self._lines.append(line)
        if marker is None:
            refused = self._refusal
            if refused is not None:
                self._reset_command()
                self._emit_invalid(refused[0], refused[1].text, refused[1])
            else:
                self._complete(tag, name)
            return
        size = int(marker.group(2))
        nonsync = bool(marker.group(3))
        refusal = self._refusal[1] if self._refusal is not None else None
        if refusal is None:
            refusal = self._refuse_literal(name, size)
        if refusal is not None:
            if not nonsync:
                # RFC 9051 7.5: a tagged BAD/NO instead of "+"; the client sends no literal
                self._reset_command()
                self._emit_invalid(tag, refusal.text, refusal)
            elif size > self._literal_limit(name):
                self._reset_command()
                self._refuse_nonsync(tag)
            else:
                # a small literal of a refused command: skip it, answer at the command's end
                self._refusal = (tag, refusal)
                self._literal_need = size
                self._mode = _Mode.LITERAL if size else _Mode.COMMAND
            return
        self._size += size
        self._literal_need = size
        if size == 0:
            self._literals.append(b"")
        else:
            self._mode = _Mode.LITERAL
        if not nonsync:
            self._events.append(Write(encoder.encode(r.LITERAL_READY)))

    def _literal_limit(self, name: str | None) -> int:
        if self.state is State.NOT_AUTHENTICATED:
            return self.limits.max_literal_before_login
        if name == "APPEND" and name in ALLOWED[self.state]:
            return self.limits.max_message
        return self.limits.max_literal

    def _refuse_literal(self, name: str | None, size: int) -> StatusResponse | None:
        """Why a literal of ``size`` octets in command ``name`` is refused, or None."""
        if name is None or name not in COMMAND_NAMES:
            return r.BAD_UNKNOWN_COMMAND
        if name not in ALLOWED[self.state]:
            return r.BAD_WRONG_STATE
        if size > self._literal_limit(name):
            return r.NO_MESSAGE_TOO_BIG if name == "APPEND" else r.BAD_LITERAL_TOO_BIG
        if self._size + size > self.limits.max_command:
            return r.NO_MESSAGE_TOO_BIG if name == "APPEND" else r.BAD_COMMAND_TOO_BIG
        return None

    def _complete(self, tag: str | None, name: str | None) -> None:
        lines, literals = self._lines, self._literals
        self._reset_command()
        if name is not None and name in COMMAND_NAMES and name not in ALLOWED[self.state]:
            self._emit_invalid(tag, f"{name} is not allowed now", r.BAD_WRONG_STATE)
            return
        try:
            command = parse_command(lines, literals, utf8=self.utf8)
        except ParseError as exc:
            self._emit_invalid(exc.tag, exc.reason, exc.reply)
            return
        self._emit_command(command)

    def _sasl_line(self, line: bytes) -> None:
        tag = self._pending_tag() or ""
        self._mode = _Mode.WAITING
        if line == b"*":
            self._emit_invalid(tag, "authentication cancelled", r.BAD_AUTH_CANCELLED)
            return
        try:
            data = decode_sasl(line) if line else b""
        except CommandSyntaxError:
            self._emit_invalid(tag, "SASL response is not base64", r.BAD_NOT_BASE64)
            return
        self._events.append(SaslResponse(tag, data))

    def _idle_line(self, line: bytes) -> None:
        tag = self._pending_tag() or ""
        self._mode = _Mode.WAITING
        if line.upper() == b"DONE":
            self._events.append(IdleDone(tag))
        else:
            self._emit_invalid(tag, "expected DONE", r.BAD_IDLE_NOT_DONE)
