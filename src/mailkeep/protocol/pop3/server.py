"""The POP3 server core: bytes in, events out (RFC 1939, 2449, 2595, 3206, 5034).

Implementation notes (invariants):
- One command is processed at a time. While the application owes an answer (a login being
  checked, STLS being negotiated, an UPDATE being applied) no further command is read:
  pipelined commands (RFC 2449 6.6) wait in the buffer, in order.
- The maildrop is the snapshot given at login (RFC 1939 5: messages arriving later are not
  seen). Message numbers are 1-based positions in it and never change during the session.
- Deletion marks are only in memory until QUIT; a dropped connection deletes nothing.
- Bytes that follow an STLS command in the same read are discarded (STARTTLS injection).
- Login is refused on a connection without TLS (RFC 2595 4; "[AUTH]" code of RFC 3206).
- AUTH (RFC 5034) drives a protocol.sasl mechanism: challenges go out as "+ base64", a
  password to check becomes LoginRequested, SCRAM's key lookup ScramLookupRequested and its
  end ScramFinished. SCRAM's server-final message goes out as a last challenge that the
  client answers with an empty line (RFC 5034 4) before the verdict is asked for.
"""

from __future__ import annotations

import base64
import binascii
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.pop3 import responses as r
from mailkeep.protocol.pop3.events import (
    NEED_DATA,
    ConnectionClosed,
    Event,
    LoginRequested,
    RetrieveRequested,
    ScramFinished,
    ScramLookupRequested,
    StartTLSRequested,
    UpdateRequested,
    Write,
    _NeedData,
)
from mailkeep.protocol.pop3.multiline import stuff_lines
from mailkeep.protocol.pop3.responses import Response
from mailkeep.protocol.pop3.states import ALLOWED, KNOWN_COMMANDS, State
from mailkeep.protocol.sasl import (
    Challenge,
    NeedCheck,
    PasswordCheck,
    ScramCredentials,
    ServerMechanism,
    Step,
    Success,
    new_mechanism,
)


@dataclass(frozen=True, slots=True)
class MaildropEntry:
    """One message of the maildrop as the session sees it."""

    uid: int
    size: int
    unique_id: str  # RFC 1939 7: 1 to 70 characters from 0x21 to 0x7E


@dataclass(frozen=True, slots=True)
class POP3Settings:
    hostname: str
    tls_active: bool
    #: STLS can be offered: a certificate exists and TLS is not active yet
    tls_available: bool
    #: RFC 2449 4 limits commands to 255 octets, but RFC 5034 4 lifts it for AUTH
    #: responses; a bounded but larger limit serves both.
    max_line: int = 8192
    max_errors: int = 10
    #: AUTH mechanisms offered (over TLS), by their SASL names
    sasl_mechanisms: tuple[str, ...] = ("PLAIN",)


class POP3ServerConnection:
    """One POP3 session. Feed ``receive_data``; act on ``next_event`` until NEED_DATA."""

    def __init__(
        self,
        settings: POP3Settings,
        mechanisms: Callable[[str], ServerMechanism | None] = new_mechanism,
    ) -> None:
        self.settings = settings
        self._new_mechanism = mechanisms
        self._exchange: ServerMechanism | None = None
        self._looked_up = False  # the exchange asked for stored keys (SCRAM)
        self._verified: Success | None = None  # server-final sent, waiting for its answer
        self.state = State.AUTHORIZATION
        self.tls_active = settings.tls_active
        self._buffer = bytearray()
        self._skipping_long_line = False
        self._events: collections.deque[Event] = collections.deque()
        self._waiting = False  # the application owes an answer
        self._eof = False
        self._errors = 0
        self._user: str | None = None
        self._sasl_pending = False
        self._maildrop: tuple[MaildropEntry, ...] = ()
        self._deleted: set[int] = set()  # message numbers

    # -- the application's side -------------------------------------------------------

    def greeting(self) -> bytes:
        return r.ok(f"{self.settings.hostname} POP3 ready").encode()

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` means the client closed the connection."""
        if not data:
            self._eof = True
            return
        if self.state is not State.CLOSED:
            self._buffer += data

    def next_event(self) -> Event | _NeedData:
        while not self._events:
            if self.state is State.CLOSED or self._waiting:
                return NEED_DATA
            line = self._next_line()
            if line is None:
                if self._eof:
                    self.state = State.CLOSED
                    return ConnectionClosed()
                return NEED_DATA
            self._handle_line(line)
        return self._events.popleft()

    def login_accepted(self, maildrop: Sequence[MaildropEntry]) -> None:
        """The credentials of the last LoginRequested are good and the maildrop is locked."""
        self._require(State.AUTHENTICATING)
        self._maildrop = tuple(maildrop)
        self._deleted.clear()
        self.state = State.TRANSACTION
        self._waiting = False
        total = sum(m.size for m in self._maildrop)
        self._write(r.ok(f"maildrop has {len(self._maildrop)} messages ({total} octets)"))

    def login_rejected(self, response: Response = r.LOGIN_FAILED) -> None:
        """The login failed (or the mailbox is in use: ``r.ACCOUNT_IN_USE``)."""
        self._require(State.AUTHENTICATING)
        self.state = State.AUTHORIZATION
        self._waiting = False
        self._error(response)

    def scram_keys(self, credentials: ScramCredentials | None) -> None:
        """The answer to ScramLookupRequested: the user's keys, or None (unknown, locked out
        or not allowed: the exchange goes on and fails at the proof)."""
        self._require(State.AUTHENTICATING)
        if self._exchange is None or not self._waiting:
            raise LocalProtocolError("no SCRAM lookup is waiting for an answer")
        self._waiting = False
        self._sasl_step(self._exchange.answer(credentials))

    def tls_started(self) -> None:
        """The TLS handshake after STLS succeeded (RFC 2595 4: forget what came before)."""
        self.tls_active = True
        self._user = None
        self._buffer.clear()
        self._waiting = False

    def update_finished(self, ok: bool) -> None:
        """The deleted messages were removed (or not) after QUIT."""
        self._require(State.UPDATE)
        self._waiting = False
        self._write(r.BYE if ok else r.UPDATE_FAILED)
        self._close()

    def server_error(self) -> None:
        """The application failed while serving a request: say so and close."""
        self._waiting = False
        self._write(r.SERVER_ERROR)
        self._close()

    # -- internals ----------------------------------------------------------------------

    def _require(self, state: State) -> None:
        if self.state is not state:
            raise LocalProtocolError(f"not allowed in state {self.state.value}")

    def _write(self, response: Response, body: bytes = b"") -> None:
        self._events.append(Write(response.encode() + body))

    def _close(self) -> None:
        self.state = State.CLOSED
        self._events.append(ConnectionClosed())

    def _error(self, response: Response) -> None:
        self._errors += 1
        if self._errors > self.settings.max_errors:
            self._write(r.TOO_MANY_ERRORS)
            self._close()
        else:
            self._write(response)

    def _next_line(self) -> bytes | None:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.settings.max_line:
                    self._buffer.clear()
                    if not self._skipping_long_line:
                        self._skipping_long_line = True
                        self._error(r.LINE_TOO_LONG)
                        return b""  # handled: yields the queued error
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping_long_line:
                self._skipping_long_line = False
                continue
            if len(line) > self.settings.max_line:
                self._error(r.LINE_TOO_LONG)
                return b""
            return line.removesuffix(b"\r")

    def _handle_line(self, line: bytes) -> None:
        if not line and self._events:
            return  # an error for an over-long line is already queued
        if self._sasl_pending:
            self._sasl_pending = False
            self._sasl_response(line)
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self._error(r.SYNTAX_ERROR)
            return
        if "\x00" in text:
            self._error(r.SYNTAX_ERROR)
            return
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        if keyword not in KNOWN_COMMANDS:
            self._error(r.UNKNOWN_COMMAND)
            return
        if keyword not in ALLOWED[self.state]:
            self._error(r.WRONG_STATE)
            return
        handler = getattr(self, f"_cmd_{keyword.lower()}")
        handler(rest)

    # -- AUTHORIZATION ------------------------------------------------------------------

    def _login_allowed(self) -> bool:
        if self.tls_active:
            return True
        self._error(r.TLS_REQUIRED)
        return False

    def _cmd_user(self, arg: str) -> None:
        if not arg:
            self._error(r.SYNTAX_ERROR)
        elif self._login_allowed():
            self._user = arg
            self._write(r.USER_ACCEPTED)

    def _cmd_pass(self, arg: str) -> None:
        if not self._login_allowed():
            return
        if self._user is None:
            self._error(r.NEED_USER_FIRST)
            return
        user, self._user = self._user, None
        self._request_login(LoginRequested("", user, arg))

    def _request_login(self, event: LoginRequested | ScramFinished) -> None:
        self.state = State.AUTHENTICATING
        self._waiting = True
        self._events.append(event)

    def _cmd_apop(self, arg: str) -> None:
        # RFC 1939 7: optional; it needs the plaintext password on the server. Not offered.
        self._error(r.APOP_UNSUPPORTED)

    def _cmd_auth(self, arg: str) -> None:
        if not arg:
            # RFC 1734 style listing, which some clients still send
            self._write(r.ok("SASL mechanisms follow"), stuff_lines(self._mechanisms()))
            return
        if not self._login_allowed():
            return
        name, _, initial = arg.partition(" ")
        name = name.upper()
        mechanism = self._new_mechanism(name) if name in self.settings.sasl_mechanisms else None
        if mechanism is None:
            self._error(r.AUTH_BAD_MECHANISM)
            return
        data = None
        if initial:
            data = self._decode(initial.encode())  # RFC 5034 4: "=" is an empty response
            if data is None:
                self._error(r.AUTH_BAD_RESPONSE)
                return
        self._exchange = mechanism
        self._looked_up = False
        self._sasl_step(mechanism.start(data))

    @staticmethod
    def _decode(line: bytes) -> bytes | None:
        try:
            return base64.b64decode(b"" if line == b"=" else line, validate=True)
        except (binascii.Error, ValueError):
            return None

    def _sasl_response(self, line: bytes) -> None:
        exchange = self._exchange
        if line == b"*" or exchange is None:
            self._end_exchange()
            self._error(r.AUTH_CANCELLED)
            return
        verified, self._verified = self._verified, None
        if verified is not None:  # the answer to the server-final message: empty
            reason = "" if not line else "a response to the server-final message"
            self._finish(ScramFinished(verified.authzid, verified.authcid, not line, reason))
            return
        data = self._decode(line)
        if data is None:
            self._end_exchange()
            self._error(r.AUTH_BAD_RESPONSE)
            return
        self._sasl_step(exchange.respond(data))

    def _sasl_step(self, step: Step) -> None:
        if isinstance(step, Challenge):
            self._sasl_pending = True
            self._events.append(Write(b"+ " + base64.b64encode(step.data) + b"\r\n"))
        elif isinstance(step, NeedCheck) and isinstance(step.request, PasswordCheck):
            request = step.request
            self._end_exchange()
            self._request_login(LoginRequested(request.authzid, request.authcid, request.password))
        elif isinstance(step, NeedCheck):
            self._looked_up = True
            self.state = State.AUTHENTICATING
            self._waiting = True
            self._events.append(ScramLookupRequested(step.request.authzid, step.request.authcid))
        elif isinstance(step, Success) and step.final is not None:
            self._verified = step
            self._sasl_pending = True
            self._events.append(Write(b"+ " + base64.b64encode(step.final) + b"\r\n"))
        elif isinstance(step, Success):
            self._finish(ScramFinished(step.authzid, step.authcid, True))
        elif self._looked_up:
            self._finish(ScramFinished("", step.authcid, False, step.reason))
        else:  # malformed before any lookup (e.g. a PLAIN message without two NULs)
            self._end_exchange()
            self._error(r.AUTH_BAD_RESPONSE)

    def _finish(self, event: ScramFinished) -> None:
        self._end_exchange()
        self._request_login(event)

    def _end_exchange(self) -> None:
        if self.state is State.AUTHENTICATING and not self._waiting:
            self.state = State.AUTHORIZATION
        self._exchange = None
        self._verified = None
        self._looked_up = False

    def _mechanisms(self) -> list[str]:
        return list(self.settings.sasl_mechanisms) if self.tls_active else []

    def _cmd_stls(self, arg: str) -> None:
        if self.tls_active:
            self._error(r.STLS_ALREADY)
        elif not self.settings.tls_available:
            self._error(r.STLS_UNAVAILABLE)
        else:
            discarded = len(self._buffer)
            self._buffer.clear()
            self._user = None
            self._waiting = True
            self._write(r.STLS_BEGIN)
            self._events.append(StartTLSRequested(discarded))

    def _cmd_capa(self, arg: str) -> None:
        lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self.state is State.AUTHORIZATION:
            if self.tls_active:
                lines += ["USER", "SASL " + " ".join(self._mechanisms())]
            elif self.settings.tls_available:
                lines.append("STLS")
        lines.append("IMPLEMENTATION mailkeep")
        self._write(r.CAPA_FOLLOWS, stuff_lines(lines))

    def _cmd_quit(self, arg: str) -> None:
        if self.state is State.TRANSACTION and self._deleted:
            self.state = State.UPDATE
            self._waiting = True
            uids = tuple(self._maildrop[n - 1].uid for n in sorted(self._deleted))
            self._events.append(UpdateRequested(uids))
            return
        self._write(r.BYE)
        self._close()

    def _cmd_noop(self, arg: str) -> None:
        self._write(r.NOOP_OK)

    # -- TRANSACTION --------------------------------------------------------------------

    def _message(self, arg: str) -> int | None:
        """A message-number argument that names a message not marked deleted."""
        if not arg.isascii() or not arg.isdigit():
            self._error(r.SYNTAX_ERROR)
            return None
        number = int(arg)
        if not 1 <= number <= len(self._maildrop):
            self._error(r.NO_SUCH_MESSAGE)
            return None
        if number in self._deleted:
            self._error(r.MESSAGE_DELETED)
            return None
        return number

    def _live(self) -> list[tuple[int, MaildropEntry]]:
        return [(n, m) for n, m in enumerate(self._maildrop, 1) if n not in self._deleted]

    def _cmd_stat(self, arg: str) -> None:
        live = self._live()
        self._write(r.ok(f"{len(live)} {sum(m.size for _, m in live)}"))

    def _cmd_list(self, arg: str) -> None:
        self._listing(arg, lambda m: str(m.size), "scan listing follows")

    def _cmd_uidl(self, arg: str) -> None:
        self._listing(arg, lambda m: m.unique_id, "unique-id listing follows")

    def _listing(self, arg: str, value: Callable[[MaildropEntry], str], title: str) -> None:
        if arg:
            number = self._message(arg)
            if number is not None:
                self._write(r.ok(f"{number} {value(self._maildrop[number - 1])}"))
            return
        lines = [f"{n} {value(m)}" for n, m in self._live()]
        self._write(r.ok(title), stuff_lines(lines))

    def _cmd_retr(self, arg: str) -> None:
        number = self._message(arg)
        if number is not None:
            entry = self._maildrop[number - 1]
            status = r.ok(f"{entry.size} octets").encode()
            self._events.append(RetrieveRequested(status, number, entry.uid, entry.size, None))

    def _cmd_top(self, arg: str) -> None:
        msg, _, lines = arg.partition(" ")
        if not lines.isascii() or not lines.isdigit():
            self._error(r.SYNTAX_ERROR)
            return
        number = self._message(msg)
        if number is not None:
            entry = self._maildrop[number - 1]
            status = r.ok("top of message follows").encode()
            self._events.append(
                RetrieveRequested(status, number, entry.uid, entry.size, int(lines))
            )

    def _cmd_dele(self, arg: str) -> None:
        number = self._message(arg)
        if number is not None:
            self._deleted.add(number)
            self._write(r.MESSAGE_MARKED)

    def _cmd_rset(self, arg: str) -> None:
        self._deleted.clear()
        total = sum(m.size for m in self._maildrop)
        self._write(r.ok(f"maildrop has {len(self._maildrop)} messages ({total} octets)"))
