"""The outbound SMTP client: the asyncio adapter of protocol.smtp.client, a queue Transport.

RFC 5321 (4.5.3.2 timeouts, 5.1 MX order), RFC 3207 (STARTTLS), RFC 2920 (PIPELINING),
RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 3030 (CHUNKING, BINARYMIME), RFC 6531 (SMTPUTF8),
RFC 3461 (DSN parameters passed on), RFC 4954 (AUTH to a relay host), RFC 8689
(REQUIRETLS), RFC 7435 (opportunistic TLS).

Implementation notes (invariants):

- ``deliver`` never raises for a delivery problem; every recipient it was given gets one
  result. Hosts are tried in order until the batch is done; a message whose end of data
  was sent but not answered is deferred, never sent to the next host in the same run.
- TLS levels: ``none`` never starts TLS; ``may`` starts it whenever offered, without
  checking the certificate, and falls back to plaintext on the same host if the handshake
  fails (RFC 7435: something beats nothing); ``encrypt`` needs TLS, any certificate;
  ``verify`` needs TLS with a certificate valid for the host name (system CAs or
  ``ca_file``). A message with REQUIRETLS is only sent over verified TLS to a peer that
  offers REQUIRETLS, else it fails with 5.7.10 (RFC 8689 4.2.1).
- A message needing SMTPUTF8, 8BITMIME or BINARYMIME the peer lacks fails with a 5.6.x
  status saying so; one over the peer's SIZE fails with 5.3.4 before MAIL is sent.
- Every read has the RFC 5321 4.5.3.2 timeout of the command it waits for; a reply line
  over ``max_reply_line`` ends the session (the core refuses it without buffering it all).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mailkeep.delivery.destinations import NextHop, RouteFailure, find_host, find_next_hops
from mailkeep.dns.resolver import Resolver
from mailkeep.protocol.smtp.client import (
    ReplyReceived,
    ServerMisbehaved,
    SMTPClientConnection,
)
from mailkeep.protocol.smtp.events import NEED_DATA
from mailkeep.protocol.smtp.grammar import Body, encode_xtext
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.queue.transport import OutboundMessage, Outcome, RecipientResult, ResultSink
from mailkeep.tlspolicy import dane
from mailkeep.tlspolicy.levels import HostPolicy, choose
from mailkeep.tlspolicy.levels import TLSLevel as TLSLevel  # re-exported for app.py
from mailkeep.tlspolicy.mtasts import Policy, PolicySource
from mailkeep.tlspolicy.tlsrpt import Negotiation, PolicyType, Result, TLSReportLog

log = logging.getLogger(__name__)

_READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class RelayHost:
    """A smart host: all mail (or one domain's) goes there, with AUTH and TLS."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    tls: TLSLevel = TLSLevel.VERIFY


@dataclass(frozen=True, slots=True)
class ClientTimeouts:
    """RFC 5321 4.5.3.2 minimums, in seconds."""

    connect: float = 30.0  # not in the RFC: a host that does not answer SYN is skipped
    greeting: float = 300.0  # 4.5.3.2.1 initial 220
    command: float = 300.0  # 4.5.3.2.2-3 MAIL and RCPT (also EHLO, STARTTLS, AUTH)
    data_init: float = 120.0  # 4.5.3.2.4 the 354
    data_block: float = 180.0  # 4.5.3.2.5 each write of the content
    data_end: float = 600.0  # 4.5.3.2.6 the reply to the final dot


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    hostname: str  # our EHLO name
    port: int = 25
    timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    default_tls: TLSLevel = TLSLevel.MAY
    domain_tls: Mapping[str, TLSLevel] = field(default_factory=dict)
    relay: RelayHost | None = None
    domain_relays: Mapping[str, RelayHost] = field(default_factory=dict)
    ca_file: Path | None = None
    max_reply_line: int = 4096  # RFC 5321 4.5.3.1.5 says 512; be lenient, stay bounded
    ipv6: bool = True
    dane: bool = True  # RFC 7672, when the resolver validates DNSSEC (AD bit)


class _SessionError(Exception):
    """The session cannot go on; ``detail`` says why (for the log and the queue)."""

    def __init__(self, detail: str, *, status: str = "4.4.2", reply: Reply | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.reply = reply


class _TLSRefused(_SessionError):
    """TLS could not be had at the level required (try the next host)."""


class _HandshakeFailed(_SessionError):
    """The TLS handshake failed (a ``may`` destination retries in plaintext)."""


def _result(address: str, reply: Reply, host: str) -> RecipientResult:
    outcome = Outcome.DELIVERED if reply.code < 400 else Outcome.DEFERRED
    if reply.code >= 500:
        outcome = Outcome.FAILED
    status = reply.enhanced or {2: "2.0.0", 4: "4.0.0", 5: "5.0.0"}[reply.code // 100]
    text = " ".join(reply.text.split("\n"))
    detail = f"{reply.code} {reply.enhanced + ' ' if reply.enhanced else ''}{text}"
    return RecipientResult(address, outcome, detail, status, host, smtp_reply=True)


def _fail_all(
    item: OutboundMessage, outcome: Outcome, status: str, detail: str, host: str | None = None
) -> list[RecipientResult]:
    return [RecipientResult(r.address, outcome, detail, status, host) for r in item.recipients]


class _Results:
    """Which messages of a batch are done; reports each exactly once."""

    def __init__(self, batch: Sequence[OutboundMessage], report: ResultSink) -> None:
        self._batch = batch
        self._report = report
        self._done: set[int] = set()

    @property
    def done(self) -> bool:
        return len(self._done) == len(self._batch)

    def has(self, index: int) -> bool:
        return index in self._done

    async def set(self, index: int, rows: list[RecipientResult]) -> None:
        self._done.add(index)
        await self._report(self._batch[index], rows)


class _Session:
    """One connection to one host, driving the client core."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        settings: OutboundSettings,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.settings = settings
        self.core = SMTPClientConnection(max_reply_line=settings.max_reply_line)
        self.tls = False
        self.verified = False

    async def send(self, data: bytes, seconds: float) -> None:
        try:
            self.writer.write(data)
            async with asyncio.timeout(seconds):
                await self.writer.drain()
        except TimeoutError:
            raise _SessionError(f"{self.host}: write timed out after {seconds:g} s") from None
        except (OSError, ConnectionError) as exc:
            raise _SessionError(f"{self.host}: connection lost while writing: {exc}") from None

    async def reply(self, seconds: float) -> ReplyReceived:
        """The next reply, or _SessionError (timeout, close, garbage)."""
        event = self.core.next_event()
        if event is not NEED_DATA:  # already read (pipelined replies come together)
            return self._reply_or_error(event)
        try:
            async with asyncio.timeout(seconds):
                while event is NEED_DATA:
                    self.core.receive_data(await self.reader.read(_READ_SIZE))
                    event = self.core.next_event()
        except TimeoutError:
            waiting = ",".join(self.core.waiting_for) or "reply"
            raise _SessionError(f"{self.host}: no {waiting} reply within {seconds:g} s") from None
        except (OSError, ConnectionError) as exc:
            raise _SessionError(f"{self.host}: connection lost: {exc}") from None
        return self._reply_or_error(event)

    def _reply_or_error(self, event: object) -> ReplyReceived:
        if isinstance(event, ReplyReceived):
            return event
        if isinstance(event, ServerMisbehaved):
            raise _SessionError(f"{self.host}: protocol error: {event.reason}")
        raise _SessionError(f"{self.host}: connection closed by the peer")

    async def command(self, data: bytes, seconds: float) -> Reply:
        await self.send(data, seconds)
        return (await self.reply(seconds)).reply

    async def close(self) -> None:
        try:
            if not self.writer.is_closing() and not self.core.waiting_for:
                try:
                    quit_line = self.core.quit()
                except Exception:  # the core refuses when the session is already over
                    quit_line = b""
                if quit_line:
                    self.writer.write(quit_line)
                    async with asyncio.timeout(5):
                        await self.writer.drain()
                        await self.reply(5)
        except (_SessionError, TimeoutError, OSError):
            pass
        finally:
            self.writer.close()
            try:
                async with asyncio.timeout(5):
                    await self.writer.wait_closed()
            except (TimeoutError, OSError, ssl.SSLError):
                pass


class SMTPClientTransport:
    """Delivers batches to a domain's MX hosts (or a relay host); a queue ``Transport``."""

    def __init__(
        self,
        settings: OutboundSettings,
        resolver: Resolver,
        *,
        rng: random.Random | None = None,
        sts: PolicySource | None = None,
        tls_reports: TLSReportLog | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.rng = rng or random.Random()
        self.sts = sts
        self.tls_reports = tls_reports
        self._verify_context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        self._verify_context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Opportunistic/encrypt-only: any certificate (RFC 7435); still no SSLv3/TLS 1.0.
        self._any_context = ssl.create_default_context()
        self._any_context.check_hostname = False
        self._any_context.verify_mode = ssl.CERT_NONE

    def _tls_level(self, domain: str, relay: RelayHost | None) -> TLSLevel:
        if relay is not None:
            return relay.tls
        return self.settings.domain_tls.get(domain, self.settings.default_tls)

    async def deliver(
        self, domain: str, batch: Sequence[OutboundMessage], report: ResultSink
    ) -> None:
        relay = self.settings.domain_relays.get(domain, self.settings.relay)
        if relay is not None:
            hops = await find_host(relay.host, self.resolver, ipv6=self.settings.ipv6)
            port = relay.port
        else:
            hops = await find_next_hops(
                domain, self.resolver, rng=self.rng, ipv6=self.settings.ipv6
            )
            port = self.settings.port
        if isinstance(hops, RouteFailure):
            outcome = Outcome.FAILED if hops.permanent else Outcome.DEFERRED
            for item in batch:
                await report(item, _fail_all(item, outcome, hops.status, hops.detail))
            return
        level = self._tls_level(domain, relay)
        explicit = relay is not None or domain in self.settings.domain_tls
        sts = None if explicit or self.sts is None else await self._sts(domain)
        results = _Results(batch, report)
        last_error = "no host could be reached"
        for hop in hops:
            if results.done:
                break
            policy = HostPolicy(level, domain)
            if not explicit:
                found = await choose(
                    self.resolver,
                    domain=domain,
                    host=hop.host,
                    mx_authenticated=hop.mx_authenticated,
                    port=port,
                    level=level,
                    sts=sts,
                    use_dane=self.settings.dane,
                )
                if isinstance(found, str):
                    last_error = found
                    log.warning("outbound host skipped", extra={"host": hop.host, "reason": found})
                    continue
                policy = found
            for address in hop.addresses:
                if results.done:
                    break
                error = await self._try_address(hop, address, port, policy, relay, batch, results)
                if error is not None:
                    last_error = error
        for index, item in enumerate(batch):
            if not results.has(index):
                await results.set(index, _fail_all(item, Outcome.DEFERRED, "4.4.1", last_error))

    async def _sts(self, domain: str) -> Policy | None:
        assert self.sts is not None
        discovery = await self.sts.policy(domain)
        if discovery.policy is None and discovery.tempfail:
            await self._report_tls(
                HostPolicy(TLSLevel.MAY, domain, PolicyType.STS),
                "",
                Result.STS_POLICY_FETCH_ERROR,
                discovery.detail,
            )
        return discovery.policy

    async def _report_tls(
        self, policy: HostPolicy, host: str, result: Result, detail: str = ""
    ) -> None:
        if self.tls_reports is None:
            return
        item = Negotiation(policy.policy_domain, policy.policy_type, host, result, detail)
        try:
            await self.tls_reports.record(item)
        except OSError as exc:
            log.warning("tls report not recorded", extra={"reason": str(exc)})

    async def _try_address(
        self,
        hop: NextHop,
        address: str,
        port: int,
        policy: HostPolicy,
        relay: RelayHost | None,
        batch: Sequence[OutboundMessage],
        results: _Results,
    ) -> str | None:
        """One or two connections to one address; fills ``results``; the error if any."""
        try:
            await self._session(hop, address, port, policy, relay, batch, results, tls=True)
            return None
        except _HandshakeFailed as exc:
            log.warning(
                "outbound tls handshake failed", extra={"host": hop.host, "reason": exc.detail}
            )
            if policy.level is not TLSLevel.MAY:
                return exc.detail
        except _SessionError as exc:
            log.info("outbound session failed", extra={"host": hop.host, "reason": exc.detail})
            return exc.detail
        try:  # RFC 7435: opportunistic TLS failed, plaintext beats not delivering
            await self._session(hop, address, port, policy, relay, batch, results, tls=False)
            return None
        except _SessionError as exc:
            return exc.detail

    async def _session(
        self,
        hop: NextHop,
        address: str,
        port: int,
        policy: HostPolicy,
        relay: RelayHost | None,
        batch: Sequence[OutboundMessage],
        results: _Results,
        *,
        tls: bool,
    ) -> None:
        timeouts = self.settings.timeouts
        try:
            async with asyncio.timeout(timeouts.connect):
                reader, writer = await asyncio.open_connection(address, port)
        except (TimeoutError, OSError) as exc:
            raise _SessionError(f"{hop.host}[{address}]:{port}: connect failed: {exc}") from None
        session = _Session(reader, writer, hop.host, self.settings)
        try:
            greeting = (await session.reply(timeouts.greeting)).reply
            if greeting.code != 220:
                raise _SessionError(f"{hop.host}: greeting {greeting.code} {greeting.text}")
            await self._hello(session)
            await self._maybe_tls(session, hop, policy, tls=tls)
            if relay is not None and relay.username is not None:
                await self._authenticate(session, relay)
            for index, item in enumerate(batch):
                if results.has(index):
                    continue
                try:
                    rows = await self._transaction(session, item)
                except _SessionError as exc:
                    # Maybe sent, maybe not: defer it rather than try the next host now.
                    rows = _fail_all(item, Outcome.DEFERRED, exc.status, exc.detail, hop.host)
                    await results.set(index, rows)
                    raise
                await results.set(index, rows)
        finally:
            await session.close()

    async def _hello(self, session: _Session) -> None:
        name = self.settings.hostname
        reply = await session.command(session.core.ehlo(name), self.settings.timeouts.command)
        if reply.code == 250:
            return
        if reply.code == 421:
            raise _SessionError(f"{session.host}: EHLO: {reply.code} {reply.text}")
        reply = await session.command(session.core.helo(name), self.settings.timeouts.command)
        if reply.code != 250:
            raise _SessionError(f"{session.host}: HELO: {reply.code} {reply.text}")

    async def _maybe_tls(
        self, session: _Session, hop: NextHop, policy: HostPolicy, *, tls: bool
    ) -> None:
        level = policy.level
        extensions = session.core.extensions
        offered = extensions is not None and "STARTTLS" in extensions
        if level is TLSLevel.NONE or (level is TLSLevel.MAY and (not offered or not tls)):
            if policy.policy_type is not PolicyType.NONE and not offered:
                await self._report_tls(policy, hop.host, Result.STARTTLS_NOT_SUPPORTED)
            return
        if not offered:
            await self._report_tls(policy, hop.host, Result.STARTTLS_NOT_SUPPORTED)
            raise _TLSRefused(f"{hop.host}: STARTTLS not offered, TLS required", status="4.7.5")
        timeout = self.settings.timeouts.command
        reply = await session.command(session.core.starttls(), timeout)
        if reply.code != 220:
            detail = f"{hop.host}: STARTTLS refused: {reply.code} {reply.text}"
            await self._report_tls(policy, hop.host, Result.STARTTLS_NOT_SUPPORTED, detail)
            if level is TLSLevel.MAY:
                raise _HandshakeFailed(detail)
            raise _TLSRefused(detail, status="4.7.5")
        verify = level is TLSLevel.VERIFY
        context = self._verify_context if verify else self._any_context
        try:
            async with asyncio.timeout(timeout):
                await session.writer.start_tls(context, server_hostname=hop.host)
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            detail = f"{hop.host}: TLS handshake failed: {reason}"
            result = Result.VALIDATION_FAILURE
            if isinstance(exc, ssl.SSLCertVerificationError):
                mismatch = "match" in str(exc) or "mismatch" in str(exc)
                result = (
                    Result.CERTIFICATE_HOST_MISMATCH if mismatch else Result.CERTIFICATE_NOT_TRUSTED
                )
            await self._report_tls(policy, hop.host, result, detail)
            raise _HandshakeFailed(detail, status="4.7.5") from None
        session.core.tls_started()
        session.tls = True
        session.verified = verify
        if policy.tlsa:  # RFC 7672 3: DANE-EE, the certificate itself must match
            ssl_object = session.writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            if der is None or not dane.matches(der, policy.tlsa):
                detail = f"{hop.host}: certificate matches no TLSA record (DANE)"
                await self._report_tls(policy, hop.host, Result.VALIDATION_FAILURE, detail)
                raise _TLSRefused(detail, status="4.7.5")
            session.verified = True
        await self._report_tls(policy, hop.host, Result.SUCCESS)
        await self._hello(session)

    async def _authenticate(self, session: _Session, relay: RelayHost) -> None:
        """AUTH PLAIN (RFC 4616) to the relay host, only under TLS."""
        if not session.tls:
            raise _TLSRefused(f"{relay.host}: no AUTH without TLS", status="4.7.5")
        extensions = session.core.extensions
        if extensions is None or "PLAIN" not in extensions.auth_mechanisms:
            raise _SessionError(f"{relay.host}: AUTH PLAIN not offered", status="4.7.0")
        secret = f"\0{relay.username}\0{relay.password or ''}".encode()
        reply = await session.command(session.core.auth("PLAIN", secret), 60)
        if reply.code != 235:
            raise _SessionError(
                f"{relay.host}: AUTH refused: {reply.code} {reply.text}", status="4.7.0"
            )

    def _unsendable(self, session: _Session, item: OutboundMessage) -> tuple[str, str] | None:
        """(status, reason) when this peer cannot take this message at all."""
        ext = session.core.extensions
        keywords = ext.keywords if ext is not None else {}
        envelope = item.envelope
        limit = ext.size_limit if ext is not None else None
        if limit is not None and len(item.content) > limit:
            return "5.3.4", f"{session.host} takes at most {limit} octets (SIZE)"
        if envelope.smtputf8 and "SMTPUTF8" not in keywords:
            return "5.6.7", f"{session.host} does not support SMTPUTF8, the message needs it"
        if envelope.body is Body.EIGHT_BIT_MIME and "8BITMIME" not in keywords:
            return "5.6.3", f"{session.host} does not support 8BITMIME, the message needs it"
        if envelope.body is Body.BINARY_MIME and not {"BINARYMIME", "CHUNKING"} <= set(keywords):
            return "5.6.3", f"{session.host} does not support BINARYMIME, the message needs it"
        if envelope.requiretls and not (session.verified and "REQUIRETLS" in keywords):
            return "5.7.10", f"{session.host}: REQUIRETLS needs verified TLS and peer support"
        return None

    def _mail_params(self, session: _Session, item: OutboundMessage) -> dict[str, str | None]:
        ext = session.core.extensions
        keywords = ext.keywords if ext is not None else {}
        envelope = item.envelope
        params: dict[str, str | None] = {}
        if "SIZE" in keywords:
            params["SIZE"] = str(len(item.content))
        if envelope.body is not Body.SEVEN_BIT:
            params["BODY"] = envelope.body.value
        if envelope.smtputf8:
            params["SMTPUTF8"] = None
        if "DSN" in keywords:
            if envelope.ret is not None:
                params["RET"] = envelope.ret.value
            if envelope.envid:
                params["ENVID"] = encode_xtext(envelope.envid)
        if envelope.requiretls:
            params["REQUIRETLS"] = None
        return params

    def _rcpt_params(
        self, session: _Session, rcpt_notify: frozenset[str], orcpt: tuple[str, str] | None
    ) -> dict[str, str | None]:
        ext = session.core.extensions
        if ext is None or "DSN" not in ext:
            return {}
        params: dict[str, str | None] = {}
        if rcpt_notify:
            params["NOTIFY"] = ",".join(sorted(rcpt_notify))
        if orcpt is not None and orcpt[1].isascii():
            params["ORCPT"] = f"{orcpt[0]};{encode_xtext(orcpt[1])}"
        return params

    async def _transaction(self, session: _Session, item: OutboundMessage) -> list[RecipientResult]:
        """One message over an open session: MAIL, RCPT..., DATA or BDAT."""
        unsendable = self._unsendable(session, item)
        if unsendable is not None:
            status, reason = unsendable
            return _fail_all(item, Outcome.FAILED, status, reason, session.host)
        core = session.core
        timeouts = self.settings.timeouts
        pipelining = core.extensions is not None and "PIPELINING" in core.extensions
        binary = item.envelope.body is Body.BINARY_MIME
        mail = core.mail(item.envelope.mail_from or "", self._mail_params(session, item))
        rcpts = [
            (r.address, self._rcpt_params(session, frozenset(n.value for n in r.notify), r.orcpt))
            for r in item.recipients
        ]
        data_reply: Reply | None = None
        if pipelining:  # RFC 2920 3.1: MAIL, every RCPT and DATA in one write
            batch = mail + b"".join(core.rcpt(a, p) for a, p in rcpts)
            batch += b"" if binary else core.data()
            await session.send(batch, timeouts.command)
            mail_reply = (await session.reply(timeouts.command)).reply
            rcpt_replies = [(await session.reply(timeouts.command)).reply for _ in rcpts]
            if not binary:
                data_reply = (await session.reply(timeouts.data_init)).reply
        else:
            mail_reply = await session.command(mail, timeouts.command)
            rcpt_replies = []
            if mail_reply.code == 250:
                for address, params in rcpts:
                    reply = await session.command(core.rcpt(address, params), timeouts.command)
                    rcpt_replies.append(reply)
        host = session.host
        if mail_reply.code // 100 != 2:
            await self._abandon(session, data_reply)
            return [_result(r.address, mail_reply, host) for r in item.recipients]
        accepted = [reply.code // 100 == 2 for reply in rcpt_replies]
        if not any(accepted):
            await self._abandon(session, data_reply)
            return [_result(a, r, host) for (a, _), r in zip(rcpts, rcpt_replies, strict=True)]
        if binary:  # RFC 3030 3: BINARYMIME content goes in BDAT, never DATA
            final = await session.command(core.bdat(item.content, last=True), timeouts.data_end)
        else:
            if data_reply is None:
                data_reply = await session.command(core.data(), timeouts.data_init)
            if data_reply.code != 354:
                await self._abandon(session, None)
                final = data_reply
            else:
                await session.send(core.message(item.content), timeouts.data_block)
                final = (await session.reply(timeouts.data_end)).reply
        return [
            _result(address, final if ok else reply, host)
            for (address, _), reply, ok in zip(rcpts, rcpt_replies, accepted, strict=True)
        ]

    async def _abandon(self, session: _Session, data_reply: Reply | None) -> None:
        """End a transaction that will not carry a message (RFC 2920 3.1: a 354 given to a
        pipelined DATA after every RCPT failed gets an empty message), then RSET."""
        if data_reply is not None and data_reply.code == 354:
            await session.send(session.core.message(b""), self.settings.timeouts.data_block)
            await session.reply(self.settings.timeouts.data_end)
        reply = await session.command(session.core.rset(), self.settings.timeouts.command)
        if reply.code != 250:
            raise _SessionError(f"{session.host}: RSET: {reply.code} {reply.text}")
