"""The SMTP server core, sans-IO (DESIGN 3.1): bytes in, events out, replies to bytes.

RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2034 + 3463 (ENHANCEDSTATUSCODES), RFC 2920
(PIPELINING), RFC 3030 (CHUNKING, BINARYMIME), RFC 3207 (STARTTLS), RFC 3461 (DSN),
RFC 4954 (AUTH), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 8689 (REQUIRETLS).

Driving it (the adapter in net/):

    conn = SMTPServerConnection(config)
    loop:
        event = conn.next_event()
        NEED_DATA          -> flush what was written, read, conn.receive_data(bytes) (b"" = EOF)
        ReplyNeeded event  -> decide, then write(conn.send(reply)); exactly one reply each
        AuthCheck          -> verify, then conn.answer_auth_check(verdict)
        StartTLSRequested  -> write(conn.send(event.reply)); handshake; conn.tls_started()
        ConnectionClosed   -> close; also once conn.state is State.CLOSED after a send
        a timeout, shutdown -> write(conn.abort(replies.TIMEOUT or SHUTTING_DOWN)); close
        MessageChunk       -> spool event.data

Replies to pipelined commands may be buffered and flushed when NEED_DATA comes back
(RFC 2920 3.2): the core never needs a reply flushed to make progress.

Implementation notes (invariants):

- One event at a time: until a ReplyNeeded event is answered, next_event raises
  LocalProtocolError. ``send`` applies the reply: a positive reply moves the state (MAIL 250
  opens the transaction, RCPT 2xx counts a recipient, 354 starts DATA...), a negative one
  leaves it; any 421 closes the session. Every 4xx/5xx counts towards ``max_errors``.
- Enhanced status codes are written on every reply after EHLO, never on the greeting,
  HELO/EHLO replies or in HELO sessions (RFC 2034 3).
- After STARTTLS is accepted nothing received in plaintext is ever parsed: the rest of the
  buffer, and anything arriving before ``tls_started()``, is dropped and reported as
  PlaintextDiscarded; then the session starts over without EHLO or AUTH (RFC 3207 4.2).
- A BDAT chunk is read to its announced length even when the command is refused, so binary
  content is never parsed as commands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import ClassVar

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.linebuffer import LINE_TOO_LONG, LineBuffer, Overlong
from mailkeep.protocol.sasl import ScramCredentials, ServerMechanism, new_mechanism
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.auth import AuthExchange, parse_initial_response
from mailkeep.protocol.smtp.content import DataReader
from mailkeep.protocol.smtp.errors import CommandError
from mailkeep.protocol.smtp.events import (
    NEED_DATA,
    AuthChallenge,
    AuthCheck,
    AuthCompleted,
    BdatChunkComplete,
    ConnectionClosed,
    DataStarted,
    Ehlo,
    Event,
    Greeting,
    Help,
    MailFrom,
    MessageChunk,
    MessageComplete,
    MessageRejected,
    NeedData,
    Noop,
    PlaintextDiscarded,
    ProtocolError,
    Quit,
    RcptTo,
    ReplyNeeded,
    Reset,
    StartTLSRequested,
    Vrfy,
)
from mailkeep.protocol.smtp.grammar import (
    Body,
    Command,
    Verb,
    parse_command,
    parse_forward_path,
    parse_helo_name,
    parse_mail_parameters,
    parse_parameters,
    parse_rcpt_parameters,
    parse_reverse_path,
)
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.protocol.smtp.settings import Listener, ServerConfig, ServerLimits
from mailkeep.protocol.smtp.states import (
    ALLOWED,
    GROUP_ENDS,
    IN_TRANSACTION,
    POSITIVE_REPLIES,
    State,
    misplaced_reply,
)

_BASE_MAIL_PARAMS = frozenset({"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "REQUIRETLS"})
_RCPT_PARAMS = frozenset({"NOTIFY", "ORCPT"})


class SMTPServerConnection:
    """One SMTP session, server side."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        mechanisms: Callable[[str], ServerMechanism | None] = new_mechanism,
    ) -> None:
        self.config = config
        self.limits = config.limits
        self._mechanisms = mechanisms
        self._buffer = LineBuffer(max(self.limits.max_command_line, self.limits.max_auth_line))
        self._state = State.CONNECTED
        self._events: deque[Event] = deque()
        self._pending: ReplyNeeded | None = None
        self._check_pending = False
        self._close_after_reply = False
        self._eof = False
        self._early_talker = False
        self.tls_active = config.tls_active
        self.errors = 0
        self.commands = 0
        # The first command after which the client sent more without waiting for our reply,
        # though it must (RFC 2920 3.1, RFC 3207 4, RFC 4954 4): a bot signature, for policy.
        self.improper_pipelining: Verb | None = None
        self._reset_session()

    def _reset_session(self) -> None:
        self.helo_name: str | None = None
        self.esmtp = False
        self.authzid: str | None = None
        self.authcid: str | None = None
        self._exchange: AuthExchange | None = None
        self._reset_transaction()

    def _reset_transaction(self) -> None:
        self.transaction: MailFrom | None = None
        self.accepted_recipients = 0
        self._data: DataReader | None = None
        self._chunk_left = 0
        self._chunk_size = 0
        self._chunk_last = False
        self._chunk_error: Reply | None = None
        self._chunk_return = State.READY
        self._bdat_size = 0
        self._bdat_problem: tuple[str, Reply] | None = None

    # -- the public interface -----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def authenticated(self) -> bool:
        return self.authcid is not None

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes; b"" means the client closed its side."""
        if self._state is State.CLOSED:
            return
        if not data:
            self._eof = True
            return
        if self._state is State.CONNECTED:
            self._early_talker = True
        if self._state is State.TLS_HANDSHAKE or isinstance(self._pending, StartTLSRequested):
            # RFC 3207 5: never parsed. Reported once per batch, so the queue stays bounded.
            dropped = len(data)
            last = self._events[-1] if self._events else None
            if isinstance(last, PlaintextDiscarded):
                dropped += last.size
                self._events.pop()
            self._events.append(PlaintextDiscarded(dropped))
            return
        self._buffer.feed(data)

    def next_event(self) -> Event | NeedData:
        """The next event, or NEED_DATA when more bytes must be received first."""
        if self._pending is not None:
            raise LocalProtocolError(f"answer {type(self._pending).__name__} with send() first")
        if self._check_pending:
            raise LocalProtocolError("answer AuthCheck with answer_auth_check() first")
        if self._events:
            return self._emit(self._events.popleft())
        state = self._state
        if state is State.CLOSED:
            return ConnectionClosed()
        if state is State.CONNECTED:
            return self._greeting()
        if state is State.TLS_HANDSHAKE:
            return self._closed() if self._eof else NEED_DATA
        if state is State.DATA:
            return self._data_event()
        if state is State.BDAT:
            return self._bdat_event()
        if self.errors >= self.limits.max_errors:
            return self._emit(ProtocolError(replies.TOO_MANY_ERRORS, "error limit reached"))
        line = self._buffer.read_line(self.limits.max_auth_line)
        if line is None:
            return self._closed() if self._eof else NEED_DATA
        if state is State.AUTH:
            return self._emit(self._auth_response(line))
        return self._emit(self._command(line))

    def send(self, reply: Reply) -> bytes:
        """Answer the pending event with ``reply``; return the bytes to write."""
        event = self._pending
        if event is None:
            raise LocalProtocolError("no event is waiting for a reply")
        positive = POSITIVE_REPLIES.get(type(event), frozenset())
        if reply.code < 400 and reply.code not in positive:
            raise LocalProtocolError(f"{reply.code} does not answer {type(event).__name__}")
        self._pending = None
        enhanced = self.esmtp and not isinstance(event, (Greeting, Ehlo))
        data = reply.encode(with_enhanced=enhanced)
        if reply.code >= 400:
            self.errors += 1
        self._apply(event, reply)
        if reply.closes or self._close_after_reply:
            self._state = State.CLOSED
        return data

    def abort(self, reply: Reply) -> bytes:
        """End the session on the adapter's initiative (a timeout, shutdown): return the
        bytes of ``reply`` (normally a 421, e.g. replies.TIMEOUT) to write before closing.
        Whatever event was waiting for an answer is dropped."""
        self._pending = None
        self._check_pending = False
        self._events.clear()
        self._state = State.CLOSED
        return reply.encode(with_enhanced=self.esmtp)

    def answer_auth_check(self, verdict: bool | ScramCredentials | None) -> None:
        """Give the verdict an AuthCheck asked for: True/False for a PasswordCheck,
        the stored keys (or None for an unknown user) for a ScramLookup."""
        if not self._check_pending or self._exchange is None:
            raise LocalProtocolError("no AuthCheck is waiting for an answer")
        self._check_pending = False
        self._events.append(self._auth_event(self._exchange.answer(verdict)))

    def tls_started(self) -> None:
        """The TLS handshake after STARTTLS succeeded: start over (RFC 3207 4.2)."""
        if self._state is not State.TLS_HANDSHAKE:
            raise LocalProtocolError("tls_started() without an accepted STARTTLS")
        self.tls_active = True
        self._buffer.clear()
        self._reset_session()
        self._state = State.GREETED

    # -- event plumbing -----------------------------------------------------------------

    def _emit(self, event: Event | NeedData) -> Event | NeedData:
        if isinstance(event, ReplyNeeded):
            self._pending = event
        elif isinstance(event, AuthCheck):
            self._check_pending = True
        return event

    def _closed(self) -> ConnectionClosed:
        self._state = State.CLOSED
        return ConnectionClosed()

    def _greeting(self) -> Event | NeedData:
        if (
            self._early_talker
            and self.config.reject_early_talkers
            and self.config.listener is Listener.MX
        ):
            self._close_after_reply = True
            return self._emit(ProtocolError(replies.EARLY_TALKER, "client talked first"))
        return self._emit(Greeting(early_talker=self._early_talker))

    def _apply(self, event: ReplyNeeded, reply: Reply) -> None:
        """Move the state as the reply to ``event`` says."""
        ok = reply.code < 400
        if isinstance(event, Greeting):
            if ok:
                self._state = State.GREETED
            else:
                self._close_after_reply = True
        elif isinstance(event, Ehlo) and ok:
            # RFC 5321 4.1.4: a new EHLO resets the transaction; a login stays (RFC 4954 4
            # forbids a second AUTH, and clients re-EHLO after AUTH to refresh extensions).
            self._reset_transaction()
            self.helo_name, self.esmtp = event.name, event.esmtp
            self._state = State.READY
        elif isinstance(event, StartTLSRequested) and ok:
            self._state = State.TLS_HANDSHAKE
        elif isinstance(event, AuthChallenge):
            self._state = State.AUTH if ok else State.READY
            if not ok:
                self._exchange = None
        elif isinstance(event, AuthCompleted):
            if ok:
                self.authzid, self.authcid = event.authzid, event.authcid
            self._state = State.READY
        elif isinstance(event, MailFrom) and ok:
            self._reset_transaction()
            self.transaction = event
            self._state = State.MAIL
        elif isinstance(event, RcptTo) and ok:
            self.accepted_recipients += 1
            self._state = State.RCPT
        elif isinstance(event, DataStarted) and ok:
            self._data = DataReader(
                self._buffer,
                max_size=self.limits.max_message_size,
                max_line=self.limits.max_data_line,
            )
            self._state = State.DATA
        elif isinstance(event, BdatChunkComplete):
            if ok:
                self._state = State.CHUNKING
            else:  # RFC 3030 2: a refused chunk fails the transaction
                self._reset_transaction()
                self._state = State.READY
        elif isinstance(event, (MessageComplete, MessageRejected)) or (
            isinstance(event, Reset) and ok
        ):
            self._reset_transaction()
            if self._state is not State.GREETED:
                self._state = State.READY
        elif isinstance(event, Quit):
            self._close_after_reply = True

    # -- commands -----------------------------------------------------------------------

    def _command(self, line: bytes | Overlong) -> Event | NeedData:
        self.commands += 1
        if self.commands > self.limits.max_commands:
            return ProtocolError(replies.TOO_MANY_COMMANDS, "command limit reached")
        if line is LINE_TOO_LONG:
            return ProtocolError(replies.LINE_TOO_LONG, "command line too long")
        assert isinstance(line, bytes)
        try:
            command = parse_command(line)
            if len(line) + 2 > self.limits.max_command_line and command.verb is not Verb.AUTH:
                raise CommandError(replies.LINE_TOO_LONG, "command line too long")
            if (
                command.verb in GROUP_ENDS
                and len(self._buffer)
                and self.improper_pipelining is None
            ):
                self.improper_pipelining = command.verb
            if command.verb not in ALLOWED[self._state]:
                misplaced = misplaced_reply(self._state, command.verb)
                if command.verb is Verb.BDAT:
                    return self._start_bdat(command, misplaced)
                raise CommandError(misplaced, f"{command.verb.value} in {self._state.value}")
            return self._handlers[command.verb](self, command)
        except CommandError as error:
            return ProtocolError(error.reply, str(error))

    def _helo(self, command: Command) -> Event:
        name = parse_helo_name(command.argument)
        esmtp = command.verb is Verb.EHLO
        if not esmtp:
            return Ehlo(name, False, Reply(250, None, self.config.hostname))
        return Ehlo(name, True, Reply(250, None, "\n".join(self._extensions())))

    def _extensions(self) -> list[str]:
        """The EHLO keywords this session offers (RFC 5321 4.1.1.1)."""
        lines = [
            self.config.hostname,
            "PIPELINING",
            f"SIZE {self.limits.max_message_size}",
            "8BITMIME",
            "BINARYMIME",
            "CHUNKING",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "DSN",
        ]
        if self.config.tls_available and not self.tls_active:
            lines.append("STARTTLS")
        if self.tls_active:
            lines.append("REQUIRETLS")  # RFC 8689 4: only offered over TLS
        if self._auth_offered():
            lines.append("AUTH " + " ".join(self.config.auth_mechanisms))
        return lines

    def _auth_offered(self) -> bool:
        """AUTH only over TLS (RFC 4954 4 allows more; we never take passwords in clear)."""
        on_this_listener = self.config.listener is not Listener.MX or self.config.auth_on_mx
        return bool(self.config.auth_mechanisms) and self.tls_active and on_this_listener

    def _requires_auth(self) -> bool:
        return self.config.listener is not Listener.MX

    def _mail(self, command: Command) -> Event:
        if self._requires_auth() and not self.authenticated:
            reply = replies.AUTH_REQUIRED if self.tls_active else replies.STARTTLS_FIRST
            raise CommandError(reply, "MAIL before AUTH on submission")
        path = parse_reverse_path(command.argument)
        params = parse_parameters(path.words)
        if params and not self.esmtp:
            raise CommandError(replies.UNKNOWN_PARAMETER, "ESMTP parameter after HELO")
        if "REQUIRETLS" in params and not self.tls_active:
            raise CommandError(replies.REQUIRETLS_NEEDS_TLS, "REQUIRETLS without TLS")
        allowed = _BASE_MAIL_PARAMS | ({"AUTH"} if self._auth_offered() else set())
        parsed = parse_mail_parameters(params, allowed)
        if parsed.size is not None and parsed.size > self.limits.max_message_size:
            raise CommandError(replies.SIZE_EXCEEDED, f"declared SIZE={parsed.size}")
        if not path.ascii and not parsed.smtputf8:
            raise CommandError(replies.NEED_SMTPUTF8, "UTF-8 sender without SMTPUTF8")
        return MailFrom(
            address=path.address,
            size=parsed.size,
            body=parsed.body,
            smtputf8=parsed.smtputf8,
            ret=parsed.ret,
            envid=parsed.envid,
            requiretls=parsed.requiretls,
            auth=parsed.auth,
        )

    def _rcpt(self, command: Command) -> Event:
        if self.accepted_recipients >= self.limits.max_recipients:
            raise CommandError(replies.TOO_MANY_RECIPIENTS, "recipient limit reached")
        path = parse_forward_path(command.argument, self.config.hostname)
        params = parse_parameters(path.words)
        parsed = parse_rcpt_parameters(params, _RCPT_PARAMS if self.esmtp else frozenset())
        transaction = self.transaction
        if not path.ascii and not (transaction and transaction.smtputf8):
            raise CommandError(replies.NEED_SMTPUTF8, "UTF-8 recipient without SMTPUTF8")
        assert path.address is not None
        return RcptTo(address=path.address, notify=parsed.notify, orcpt=parsed.orcpt)

    def _data_command(self, command: Command) -> Event:
        _no_argument(command)
        if self.transaction is not None and self.transaction.body is Body.BINARY_MIME:
            raise CommandError(replies.BINARYMIME_NEEDS_BDAT, "DATA with BINARYMIME")
        if self.accepted_recipients == 0:
            raise CommandError(replies.NO_VALID_RECIPIENTS, "DATA without recipients")
        return DataStarted(replies.START_DATA)

    def _simple(self, command: Command) -> Event:
        verb = command.verb
        if verb is Verb.NOOP:
            return Noop(replies.OK)  # RFC 5321 4.1.1.9: an argument is allowed and ignored
        if verb is Verb.HELP:
            return Help(replies.HELP)
        if verb is Verb.VRFY:
            if not command.argument:
                raise CommandError(replies.SYNTAX_ERROR, "VRFY without argument")
            return Vrfy(command.argument, replies.VRFY_DISABLED)
        if verb is Verb.EXPN:
            raise CommandError(replies.NOT_IMPLEMENTED, "EXPN is disabled")
        _no_argument(command)
        if verb is Verb.RSET:
            return Reset(replies.OK)
        return Quit(replies.CLOSING)

    def _starttls(self, command: Command) -> Event:
        _no_argument(command)
        if self.tls_active:
            raise CommandError(replies.TLS_ALREADY_ACTIVE, "STARTTLS inside TLS")
        if not self.config.tls_available:
            raise CommandError(replies.NOT_IMPLEMENTED, "STARTTLS without a TLS context")
        dropped = self._buffer.clear()
        if dropped:  # STARTTLS injection: pipelined after STARTTLS, never executed
            self._events.append(StartTLSRequested(replies.READY_FOR_TLS))
            return PlaintextDiscarded(dropped)
        return StartTLSRequested(replies.READY_FOR_TLS)

    # -- BDAT (RFC 3030) ------------------------------------------------------------------

    def _bdat(self, command: Command) -> Event | NeedData:
        return self._start_bdat(command, None)

    def _start_bdat(self, command: Command, refusal: Reply | None) -> Event | NeedData:
        words = command.argument.split()
        if (
            not 1 <= len(words) <= 2
            or not (words[0].isascii() and words[0].isdigit())
            or len(words[0]) > 20
            or (len(words) == 2 and words[1].upper() != "LAST")
        ):
            raise CommandError(replies.SYNTAX_ERROR, "bad BDAT arguments")
        size = int(words[0])
        if refusal is None and self.accepted_recipients == 0:
            refusal = replies.NO_VALID_RECIPIENTS
        if refusal is None and self.transaction is None:
            refusal = replies.NEED_MAIL
        if refusal is None and self._bdat_size + size > self.limits.max_message_size:
            self._bdat_problem = ("message too big", replies.SIZE_EXCEEDED)
        self._chunk_left = self._chunk_size = size
        self._chunk_last = len(words) == 2
        self._chunk_error = refusal
        self._chunk_return = self._state
        self._state = State.BDAT
        return self._bdat_event()

    def _bdat_event(self) -> Event | NeedData:
        while self._chunk_left:
            data = self._buffer.read_upto(self._chunk_left)
            if not data:
                return self._closed() if self._eof else NEED_DATA
            self._chunk_left -= len(data)
            if self._chunk_error is None and self._bdat_problem is None:
                self._bdat_size += len(data)
                return MessageChunk(data)
        self._state = self._chunk_return
        if self._chunk_error is not None:
            return self._emit(ProtocolError(self._chunk_error, "BDAT refused"))
        if self._bdat_problem is not None:
            reason, reply = self._bdat_problem
            return self._emit(MessageRejected(reason, reply))
        if self._chunk_last:
            return self._emit(MessageComplete(self._bdat_size, False, chunked=True))
        size = self._chunk_size
        return self._emit(BdatChunkComplete(size, replies.chunk_received(size)))

    # -- DATA ---------------------------------------------------------------------------

    def _data_event(self) -> Event | NeedData:
        reader = self._data
        assert reader is not None
        chunk = reader.read()
        if reader.finished:
            self._state = State.RCPT
            if reader.problem is not None:
                final: Event = MessageRejected(*reader.problem)
            else:
                final = MessageComplete(reader.size, reader.long_lines, chunked=False)
            if chunk:
                self._events.append(final)
                return MessageChunk(chunk)
            return self._emit(final)
        if chunk:
            return MessageChunk(chunk)
        return self._closed() if self._eof else NEED_DATA

    # -- AUTH (RFC 4954) ------------------------------------------------------------------

    def _auth(self, command: Command) -> Event:
        if not self._auth_offered():
            if self._requires_auth() and not self.tls_active and self.config.auth_mechanisms:
                raise CommandError(replies.ENCRYPTION_REQUIRED, "AUTH before TLS")
            raise CommandError(replies.AUTH_NOT_AVAILABLE, "AUTH not offered here")
        if self.authenticated:
            raise CommandError(replies.AUTH_ALREADY, "second AUTH")
        words = command.argument.split(" ")
        if not 1 <= len(words) <= 2 or not words[0]:
            raise CommandError(replies.SYNTAX_ERROR, "bad AUTH arguments")
        name = words[0].upper()
        mechanism = self._mechanisms(name) if name in self.config.auth_mechanisms else None
        if mechanism is None:
            raise CommandError(replies.AUTH_UNKNOWN_MECHANISM, f"mechanism {name[:30]!r}")
        initial = parse_initial_response(words[1]) if len(words) == 2 else None
        self._exchange = AuthExchange(mechanism)
        return self._auth_event(self._exchange.start(initial))

    def _auth_response(self, line: bytes | Overlong) -> Event:
        exchange = self._exchange
        assert exchange is not None
        self._state = State.READY
        return self._auth_event(exchange.response(line))

    def _auth_event(self, event: Event) -> Event:
        if self._exchange is not None and self._exchange.finished:
            self._exchange = None
        return event

    _handlers: ClassVar[dict[Verb, Callable[[SMTPServerConnection, Command], Event | NeedData]]] = {
        Verb.HELO: _helo,
        Verb.EHLO: _helo,
        Verb.MAIL: _mail,
        Verb.RCPT: _rcpt,
        Verb.DATA: _data_command,
        Verb.BDAT: _bdat,
        Verb.RSET: _simple,
        Verb.NOOP: _simple,
        Verb.QUIT: _simple,
        Verb.VRFY: _simple,
        Verb.EXPN: _simple,
        Verb.HELP: _simple,
        Verb.STARTTLS: _starttls,
        Verb.AUTH: _auth,
    }


def _no_argument(command: Command) -> None:
    if command.argument:
        raise CommandError(replies.SYNTAX_ERROR, f"{command.verb.value} takes no argument")


__all__ = [
    "IN_TRANSACTION",
    "Listener",
    "SMTPServerConnection",
    "ServerConfig",
    "ServerLimits",
    "State",
]
