"""The POP3 and POP3S listeners: the asyncio adapter around protocol.pop3.

It reads, feeds the core, writes what the core says, and answers the core's requests with
the accounts directory (login), the mail store (maildrop, RETR/TOP, deletions at QUIT) and
the TLS layer (STLS). No POP3 syntax is handled here.

Implementation notes:
- A user has at most one POP3 session in TRANSACTION state at a time (RFC 1939 8: the
  maildrop is locked); a second login gets ``-ERR [IN-USE]``. IMAP sessions are unaffected.
- The maildrop is INBOX as it was at login. UIDL values are "<uidvalidity>.<uid>": the same
  for a message across sessions and restarts, however it arrived.
- Deleted messages are flagged \\Deleted and expunged (only those UIDs) after QUIT, so IMAP
  sessions see ordinary expunges. A dropped connection changes nothing.
- Message bytes are read from the store in chunks and stuffed as they go: never whole.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

from mailkeep import log as logctx
from mailkeep.accounts.directory import Directory
from mailkeep.accounts.login import (
    LoginAttempt,
    ScramLogin,
    attempt_login,
    offered_mechanisms,
    sasl_mechanism,
)
from mailkeep.accounts.models import User
from mailkeep.accounts.throttle import LoginThrottle
from mailkeep.net.connection import Connection, ReadTimeout, ShuttingDown
from mailkeep.protocol.pop3 import responses as r
from mailkeep.protocol.pop3.events import (
    ConnectionClosed,
    Event,
    LoginRequested,
    RetrieveRequested,
    ScramFinished,
    ScramLookupRequested,
    StartTLSRequested,
    UpdateRequested,
    Write,
)
from mailkeep.protocol.pop3.multiline import DotStuffer
from mailkeep.protocol.pop3.server import MaildropEntry, POP3ServerConnection, POP3Settings
from mailkeep.protocol.sasl import Failure, ScramLookup, Success
from mailkeep.store.errors import MessageNotFound, StoreError
from mailkeep.store.interface import MailStore
from mailkeep.store.models import INBOX, Flag, FlagOp, UidSet

log = logging.getLogger(__name__)

CHUNK = 64 * 1024  # bytes read from the store per step of RETR
FETCH_BATCH = 2000  # UIDs per metadata fetch when building the maildrop


@dataclass(frozen=True, slots=True)
class POP3Limits:
    idle_timeout: float = 600.0  # RFC 1939 3: at least 10 minutes
    max_errors: int = 10
    max_line: int = 8192
    max_connections_per_ip: int = 20


PASSWORD_MECHANISMS = ("PLAIN",)  # SCRAM-SHA-256 comes first once every user has keys


@dataclass(slots=True)
class _Session:
    user: User | None = None
    mailbox_id: int = 0
    scram: ScramLogin | None = None


class POP3Server:
    """The ConnectionHandler for the pop3 and pop3s listeners."""

    def __init__(
        self,
        *,
        hostname: str,
        directory: Directory,
        store: MailStore,
        throttle: LoginThrottle,
        limits: POP3Limits,
    ) -> None:
        self.hostname = hostname
        self.directory = directory
        self.store = store
        self.throttle = throttle
        self.limits = limits
        self._locked_users: set[int] = set()
        self._per_ip: collections.Counter[str] = collections.Counter()

    async def __call__(self, conn: Connection) -> None:
        ip = conn.peer.host
        if self._per_ip[ip] >= self.limits.max_connections_per_ip:
            await conn.write(r.TOO_MANY_CONNECTIONS.encode())
            return
        self._per_ip[ip] += 1
        session = _Session()
        try:
            await self._serve(conn, session)
        finally:
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]
            if session.user is not None:
                self._locked_users.discard(session.user.id)

    async def _serve(self, conn: Connection, session: _Session) -> None:
        core = POP3ServerConnection(
            POP3Settings(
                hostname=self.hostname,
                tls_active=conn.tls is not None,
                tls_available=conn.tls is None,
                max_line=self.limits.max_line,
                max_errors=self.limits.max_errors,
                sasl_mechanisms=tuple(offered_mechanisms(self.directory, PASSWORD_MECHANISMS)),
            ),
            mechanisms=lambda name: sasl_mechanism(self.directory, name),
        )
        await conn.write(core.greeting())
        while True:
            event = core.next_event()
            if isinstance(event, Write):
                await conn.write(event.data)
            elif isinstance(event, ConnectionClosed):
                return
            elif isinstance(event, ScramLookupRequested):
                session.scram = ScramLogin(
                    self.directory, self.throttle, protocol="pop3", ip=conn.peer.host
                )
                lookup = ScramLookup(event.authzid, event.username)
                core.scram_keys(await session.scram.lookup(lookup))
            elif isinstance(
                event, (LoginRequested, ScramFinished, RetrieveRequested, StartTLSRequested)
            ):
                await self._answer(conn, core, session, event)
            elif isinstance(event, UpdateRequested):
                core.update_finished(await self._update(session, event.deleted_uids))
            else:  # NEED_DATA
                try:
                    data = await conn.read(self.limits.idle_timeout)
                except ReadTimeout:
                    await conn.write(r.IDLE_TIMEOUT.encode())
                    return
                except ShuttingDown:
                    await conn.write(r.SHUTTING_DOWN.encode())
                    return
                core.receive_data(data)

    async def _answer(
        self, conn: Connection, core: POP3ServerConnection, session: _Session, event: Event
    ) -> None:
        if isinstance(event, LoginRequested):
            await self._login(conn, core, session, event)
        elif isinstance(event, ScramFinished):
            scram, session.scram = session.scram, None
            if scram is None:  # failed before naming a user
                scram = ScramLogin(
                    self.directory, self.throttle, protocol="pop3", ip=conn.peer.host
                )
            outcome = (
                Success(event.authzid, event.username)
                if event.verified
                else Failure(event.reason, event.username)
            )
            await self._open(core, session, await scram.finish(outcome))
        elif isinstance(event, StartTLSRequested):
            if event.discarded_bytes:
                log.info("discarded bytes sent after stls", extra={"bytes": event.discarded_bytes})
            await conn.start_tls()
            core.tls_started()
        elif isinstance(event, RetrieveRequested):
            await self._retrieve(conn, session, event)

    async def _login(
        self,
        conn: Connection,
        core: POP3ServerConnection,
        session: _Session,
        event: LoginRequested,
    ) -> None:
        attempt = await attempt_login(
            self.directory,
            self.throttle,
            protocol="pop3",
            ip=conn.peer.host,
            login=event.username,
            password=event.password,
            authzid=event.authzid,
        )
        await self._open(core, session, attempt)

    async def _open(
        self, core: POP3ServerConnection, session: _Session, attempt: LoginAttempt
    ) -> None:
        """Lock and open the maildrop of a user who logged in, or refuse the login."""
        user = attempt.user
        if user is None:
            core.login_rejected(r.LOGIN_LOCKED if attempt.locked_out else r.LOGIN_FAILED)
            return
        if user.id in self._locked_users:
            core.login_rejected(r.ACCOUNT_IN_USE)
            return
        self._locked_users.add(user.id)
        session.user = user
        logctx.account.set(str(user.address))
        try:
            maildrop, session.mailbox_id = await self._maildrop(user.id)
        except StoreError:
            log.exception("pop3 maildrop unavailable")
            self._locked_users.discard(user.id)
            session.user = None
            core.login_rejected(r.LOGIN_TEMPFAIL)
            return
        log.info("pop3 login", extra={"messages": len(maildrop)})
        core.login_accepted(maildrop)

    async def _maildrop(self, user_id: int) -> tuple[list[MaildropEntry], int]:
        snapshot = await self.store.select(user_id, INBOX)
        status = snapshot.status
        entries: list[MaildropEntry] = []
        uids = snapshot.uids
        for start in range(0, len(uids), FETCH_BATCH):
            batch = UidSet.of(uids[start : start + FETCH_BATCH])
            for meta in await self.store.fetch(user_id, status.id, batch):
                entries.append(
                    MaildropEntry(meta.uid, meta.size, f"{status.uidvalidity}.{meta.uid}")
                )
        return entries, status.id

    async def _retrieve(
        self, conn: Connection, session: _Session, event: RetrieveRequested
    ) -> None:
        assert session.user is not None
        user_id, mailbox_id = session.user.id, session.mailbox_id
        stuffer = DotStuffer(event.top_lines)
        try:
            chunk = await self.store.read_message(user_id, mailbox_id, event.uid, 0, CHUNK)
        except MessageNotFound:
            await conn.write(r.MESSAGE_GONE.encode())
            return
        out = event.status + stuffer.feed(chunk)
        offset = len(chunk)
        while len(chunk) == CHUNK and not stuffer.done:
            await conn.write(out)
            try:
                chunk = await self.store.read_message(user_id, mailbox_id, event.uid, offset, CHUNK)
            except MessageNotFound:  # expunged while we read: end the response cleanly
                break
            offset += len(chunk)
            out = stuffer.feed(chunk)
        await conn.write(out + stuffer.finish())  # a small message: one write in all

    async def _update(self, session: _Session, uids: tuple[int, ...]) -> bool:
        assert session.user is not None
        user_id, mailbox_id = session.user.id, session.mailbox_id
        wanted = UidSet.of(uids)
        try:
            await self.store.store_flags(user_id, mailbox_id, wanted, FlagOp.ADD, Flag.DELETED)
            removed = await self.store.expunge(user_id, mailbox_id, wanted)
        except StoreError:
            log.exception("pop3 update failed")
            return False
        log.info("pop3 update", extra={"deleted": len(uids), "expunged": len(removed)})
        return True
