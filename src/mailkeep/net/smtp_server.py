"""The SMTP listeners (MX, submission, submissions): the asyncio adapter around protocol.smtp.

It reads, feeds the core, writes what the core says, and answers the core's events with the
accounts directory (AUTH), the login throttle, the rate limits and a MailPolicy (MAIL, RCPT,
end of DATA: delivery.inbound on the MX, delivery.submission for authenticated sessions).
No SMTP syntax is handled here.

Implementation notes (invariants):

- Replies are collected and written when the core needs more data (NEED_DATA), so a
  pipelined group of commands gets its replies in one write (RFC 2920 3.2), and always
  before any wait: a client is never left waiting for a reply we hold.
- Every read has a timeout: command_timeout between commands, data_timeout inside DATA/BDAT.
  A timeout answers 421 4.4.2 and closes. Inside a mail transaction reads ignore the start
  of a shutdown (the transaction may finish within shutdown_grace_seconds); between
  transactions a shutdown answers 421 4.3.2.
- The message is collected in memory from MessageChunk events (the store takes bytes); the
  core refuses anything over smtp_limits.max_message_size, which bounds it.
- On the MX, before the greeting, the adapter waits greet_pause_seconds and feeds anything
  the client sent meanwhile to the core, which refuses early talkers (RFC 5321 4.3.1).
- AUTH: a login locked out by the throttle is refused without checking the password; each
  failure is recorded and answered after the throttle's growing delay.
- A session with a logged-in user uses the submission policy even on the MX (auth_on_mx).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, replace

from mailkeep import log as logctx
from mailkeep.accounts.directory import Directory
from mailkeep.accounts.login import ScramLogin, attempt_login, offered_mechanisms, sasl_mechanism
from mailkeep.accounts.models import User
from mailkeep.accounts.throttle import LoginThrottle
from mailkeep.delivery.pipeline import ClientInfo, Sender, Transaction
from mailkeep.delivery.policy import MailPolicy
from mailkeep.delivery.ratelimit import RateLimiter
from mailkeep.net.connection import Connection, HandshakeFailed, ReadTimeout, ShuttingDown
from mailkeep.protocol.sasl.exchange import Failure, PasswordCheck, ScramCredentials, Success
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.events import (
    NEED_DATA,
    AuthChallenge,
    AuthCheck,
    AuthCompleted,
    AuthFailed,
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
    Noop,
    PlaintextDiscarded,
    ProtocolError,
    Quit,
    RcptTo,
    Reset,
    StartTLSRequested,
    Vrfy,
)
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.protocol.smtp.server import SMTPServerConnection
from mailkeep.protocol.smtp.settings import Listener, ServerConfig, ServerLimits
from mailkeep.protocol.smtp.states import State

log = logging.getLogger(__name__)

TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections from your address, closing")
RATE_LIMITED = Reply(451, "4.7.1", "Too many messages, slow down and try again later")
LOGIN_LOCKED = Reply(454, "4.7.0", "Too many failed logins, try again later")

# SCRAM-SHA-256 comes first once every user has keys (accounts.login.offered_mechanisms).
PASSWORD_MECHANISMS: tuple[str, ...] = ("PLAIN", "LOGIN")

_IN_TRANSACTION = frozenset({State.MAIL, State.RCPT, State.CHUNKING, State.DATA, State.BDAT})
_READING_MESSAGE = frozenset({State.DATA, State.BDAT})


@dataclass(frozen=True, slots=True)
class SMTPSettings:
    """The adapter's limits ([smtp] in the config)."""

    greet_pause: float = 1.0
    command_timeout: float = 300.0  # RFC 5321 4.5.3.2.7
    data_timeout: float = 300.0  # RFC 5321 4.5.3.2.5-6
    max_connections_per_ip: int = 20


@dataclass(slots=True)
class _Session:
    client: ClientInfo
    user: User | None = None
    login: str | None = None  # the authcid being checked
    scram: ScramLogin | None = None  # a SCRAM exchange past its key lookup
    txn: Transaction | None = None
    chunks: list[bytes] | None = None


class SMTPServer:
    """The ConnectionHandler for the SMTP listeners of one kind (MX or submission)."""

    def __init__(
        self,
        *,
        hostname: str,
        mx: bool,
        directory: Directory,
        throttle: LoginThrottle,
        inbound: MailPolicy,
        submission: MailPolicy,
        settings: SMTPSettings,
        limits: ServerLimits,
        rates: tuple[RateLimiter, RateLimiter],
        auth_on_mx: bool = False,
        reject_early_talkers: bool = True,
    ) -> None:
        self.hostname = hostname
        self.mx = mx
        self.directory = directory
        self.throttle = throttle
        self.inbound = inbound
        self.submission = submission
        self.settings = settings
        self.limits = limits
        self.ip_rate, self.user_rate = rates
        self.auth_on_mx = auth_on_mx
        self.reject_early_talkers = reject_early_talkers
        self._per_ip: collections.Counter[str] = collections.Counter()

    async def __call__(self, conn: Connection) -> None:
        ip = conn.peer.host
        if self._per_ip[ip] >= self.settings.max_connections_per_ip:
            log.info("smtp connection refused: too many from this ip")
            await conn.write(TOO_MANY_CONNECTIONS.encode(with_enhanced=False))
            return
        self._per_ip[ip] += 1
        try:
            await self._serve(conn)
        finally:
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]

    def _core(self, conn: Connection) -> SMTPServerConnection:
        if self.mx:
            listener = Listener.MX
        else:
            listener = Listener.SUBMISSIONS if conn.tls is not None else Listener.SUBMISSION
        mechanisms = PASSWORD_MECHANISMS
        if not self.mx or self.auth_on_mx:
            mechanisms = tuple(offered_mechanisms(self.directory, PASSWORD_MECHANISMS))
        return SMTPServerConnection(
            ServerConfig(
                hostname=self.hostname,
                listener=listener,
                tls_available=conn.tls is None,
                tls_active=conn.tls is not None,
                auth_mechanisms=mechanisms,
                auth_on_mx=self.auth_on_mx,
                reject_early_talkers=self.reject_early_talkers,
                limits=self.limits,
            ),
            mechanisms=lambda name: sasl_mechanism(self.directory, name),
        )

    async def _serve(self, conn: Connection) -> None:
        core = self._core(conn)
        session = _Session(_client_info(conn))
        if self.mx and self.settings.greet_pause > 0:
            try:
                core.receive_data(await conn.read(self.settings.greet_pause))
            except ReadTimeout:
                pass  # the polite case: the client waited for the greeting
        out = bytearray()
        while True:
            event = core.next_event()
            if event is NEED_DATA:
                if out:
                    await conn.write(bytes(out))
                    out.clear()
                data = await self._read(conn, core)
                if data is None:
                    return
                core.receive_data(data)
                continue
            if isinstance(event, ConnectionClosed):
                if out:
                    await conn.write(bytes(out))
                return
            if isinstance(event, MessageChunk):
                if session.chunks is not None:
                    session.chunks.append(event.data)
            elif isinstance(event, PlaintextDiscarded):
                log.info("discarded plaintext sent after starttls", extra={"bytes": event.size})
            elif isinstance(event, AuthCheck):
                core.answer_auth_check(await self._check_login(conn, session, event))
            elif isinstance(event, StartTLSRequested):
                out += core.send(event.reply)
                await conn.write(bytes(out))
                out.clear()
                try:
                    await conn.start_tls()
                except HandshakeFailed as exc:
                    log.info("starttls handshake failed", extra={"error": str(exc)})
                    return
                core.tls_started()
                session.client = _client_info(conn)
                session.user = session.txn = session.chunks = None
            else:
                try:
                    reply = await self._decide(conn, session, event)
                except Exception:  # the connection boundary (DESIGN 3.4): keep serving
                    log.exception("smtp event failed", extra={"event": type(event).__name__})
                    session.txn = session.chunks = None
                    reply = replies.LOCAL_ERROR
                out += core.send(reply)

    async def _read(self, conn: Connection, core: SMTPServerConnection) -> bytes | None:
        """The next bytes from the client, or None after writing a 421 (timeout, stop)."""
        state = core.state
        timeout = (
            self.settings.data_timeout
            if state in _READING_MESSAGE
            else self.settings.command_timeout
        )
        try:
            return await conn.read(timeout, stop_on_shutdown=state not in _IN_TRANSACTION)
        except ReadTimeout:
            log.info("smtp timeout", extra={"state": state.value})
            await conn.write(core.abort(replies.TIMEOUT))
        except ShuttingDown:
            await conn.write(core.abort(replies.SHUTTING_DOWN))
        return None

    async def _check_login(
        self, conn: Connection, session: _Session, event: AuthCheck
    ) -> bool | ScramCredentials | None:
        request = event.request
        session.login = request.authcid
        if not isinstance(request, PasswordCheck):  # SCRAM's key lookup
            session.scram = ScramLogin(
                self.directory, self.throttle, protocol="smtp", ip=conn.peer.host
            )
            return await session.scram.lookup(request)
        attempt = await attempt_login(
            self.directory,
            self.throttle,
            protocol="smtp",
            ip=conn.peer.host,
            login=request.authcid,
            password=request.password,
            authzid=request.authzid,
        )
        if attempt.user is None:
            return False
        session.user = attempt.user
        return True

    async def _decide(self, conn: Connection, session: _Session, event: Event) -> Reply:
        """The reply to one ReplyNeeded event."""
        if isinstance(event, Greeting):
            if self.mx:
                refusal = await self.inbound.check_client(session.client)
                if refusal is not None:
                    log.info("smtp client refused at connect", extra={"reply": refusal.code})
                    return refusal  # the core closes after a refused greeting
            return replies.greeting(self.hostname)
        if isinstance(event, Ehlo):
            session.client = replace(session.client, helo=event.name, esmtp=event.esmtp)
            session.txn = session.chunks = None
            return event.reply
        if isinstance(event, AuthCompleted):
            scram, session.scram = session.scram, None
            if scram is not None:
                attempt = await scram.finish(Success(event.authzid, event.authcid))
                if attempt.user is None:
                    return LOGIN_LOCKED if attempt.locked_out else replies.AUTH_FAILED
                session.user = attempt.user
            if session.user is None:
                return replies.AUTH_FAILED
            session.client = replace(session.client, user=session.user)
            logctx.account.set(session.user.address.text)
            log.info("smtp login", extra={"mechanism": event.mechanism})
            return event.reply
        if isinstance(event, AuthFailed):
            scram, session.scram = session.scram, None
            if scram is not None:
                await scram.finish(Failure(event.reason, event.authcid))
            return self._auth_failed(conn, session, event)
        if isinstance(event, MailFrom):
            return await self._mail(conn, session, event)
        if isinstance(event, RcptTo):
            return await self._rcpt(session, event)
        if isinstance(event, DataStarted):
            session.chunks = []
            return event.reply
        if isinstance(event, BdatChunkComplete):
            return event.reply
        if isinstance(event, MessageComplete):
            return await self._message(session, event)
        if isinstance(event, MessageRejected):
            log.info("message refused", extra={"reason": event.reason})
            session.txn = session.chunks = None
            return event.reply
        if isinstance(event, Reset):
            session.txn = session.chunks = None
            return event.reply
        if isinstance(event, ProtocolError):
            log.info("smtp protocol error", extra={"reason": event.reason})
            return event.reply
        if isinstance(event, (AuthChallenge, Noop, Vrfy, Help, Quit)):
            return event.reply
        raise AssertionError(f"unexpected event {event!r}")

    def _auth_failed(self, conn: Connection, session: _Session, event: AuthFailed) -> Reply:
        login, session.login = session.login, None
        if login is not None and self.throttle.locked(conn.peer.host, login):
            return LOGIN_LOCKED
        log.info("smtp auth failed", extra={"mechanism": event.mechanism, "reason": event.reason})
        return event.reply

    def _policy(self, session: _Session) -> MailPolicy:
        return self.submission if session.client.user is not None else self.inbound

    async def _mail(self, conn: Connection, session: _Session, event: MailFrom) -> Reply:
        user = session.client.user
        if not self.ip_rate.allow(conn.peer.host) or (
            user is not None and not self.user_rate.allow(user.address.key)
        ):
            log.info("smtp rate limit reached")
            return RATE_LIMITED
        sender = Sender(
            address=event.address,
            size=event.size,
            body=event.body,
            smtputf8=event.smtputf8,
            ret=event.ret,
            envid=event.envid,
            requiretls=event.requiretls,
        )
        reply = await self._policy(session).check_sender(session.client, sender)
        if reply.is_positive:
            session.txn = Transaction(sender)
            session.chunks = []
        return reply

    async def _rcpt(self, session: _Session, event: RcptTo) -> Reply:
        txn = session.txn
        assert txn is not None, "the core allows RCPT only after an accepted MAIL"
        result = await self._policy(session).check_recipient(
            session.client, txn, event.address, event.notify, event.orcpt
        )
        if isinstance(result, Reply):
            return result
        txn.recipients.append(result)
        return replies.RCPT_OK

    async def _message(self, session: _Session, event: MessageComplete) -> Reply:
        txn, chunks = session.txn, session.chunks
        session.txn = session.chunks = None
        assert txn is not None and chunks is not None
        txn.chunked = event.chunked
        return await self._policy(session).finish(session.client, txn, b"".join(chunks))


def _client_info(conn: Connection) -> ClientInfo:
    tls = conn.tls
    return ClientInfo(
        conn_id=conn.id,
        listener=conn.listener,
        ip=conn.peer.host,
        tls_version=tls.version if tls else None,
        tls_cipher=tls.cipher if tls else None,
        tls_bits=tls.bits if tls else 0,
    )
