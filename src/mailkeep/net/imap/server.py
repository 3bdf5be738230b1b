"""The IMAP and IMAPS listeners: the asyncio adapter around protocol.imap.

It reads, feeds the core, writes what the core and the command handlers produce, and runs
the session's timers and limits. No IMAP syntax is handled here; each command group lives
in its own module (auth, mailboxes, select, fetch, search, flags, copymove, append, idle).

Implementation notes (invariants):
- One command at a time (the core frames the next only after the tagged response).
  Before every tagged response the change feed is drained and the untagged updates RFC
  9051 7.4.1 allows for that command are sent (no EXPUNGE during FETCH/STORE/SEARCH).
- Timers: ``login_timeout`` before login, ``autologout`` (>= 30 min, RFC 9051 5.4) after;
  expiry sends BYE. Limits: connections per IP (at accept) and per user (at login),
  commands before login, bad commands; each ends the session with BYE.
- Any unexpected exception in a handler is logged with its traceback and answered with
  NO [SERVERBUG]; the session and every other session go on (DESIGN 3.4).
- STARTTLS: the tagged OK is written, then the handshake; the core drops whatever the
  client pipelined after STARTTLS (RFC 9051 6.2.1). COMPRESS: the tagged OK is written
  and flushed, then reads are inflated and writes deflated (net/imap/compress.py); a
  corrupt compressed stream ends that session alone with BYE.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mailkeep.net.connection import (
    Connection,
    ConnectionClosed,
    HandshakeFailed,
    ReadTimeout,
    ShuttingDown,
)
from mailkeep.net.imap import (
    append,
    auth,
    condstore,
    copymove,
    fetch,
    flags,
    idle,
    mailboxes,
    metadata,
    quota,
    search,
    select,
    sort,
)
from mailkeep.net.imap.capability import capabilities
from mailkeep.net.imap.compress import CompressionError, Deflate
from mailkeep.net.imap.session import Services, Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.connection import IMAPLimits, IMAPServerConnection
from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.events import (
    CommandInvalid,
    CommandReceived,
    IdleDone,
    SaslResponse,
    Write,
)
from mailkeep.protocol.imap.events import (
    ConnectionClosed as CoreClosed,
)
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.sequencemap import expunge_allowed
from mailkeep.protocol.imap.values import Atom
from mailkeep.store.errors import StoreTemporaryError

log = logging.getLogger(__name__)

Handler = Callable[[Session, Any], Awaitable[StatusResponse]]

BYE_TOO_MANY_CONNECTIONS = r.StatusResponse(r.Status.BYE, "too many connections from your address")
BYE_TOO_MANY_COMMANDS = r.StatusResponse(r.Status.BYE, "too many commands before login")
SERVER_ID = (("name", "mailkeep"), ("vendor", "mailkeep"))
OK_COMPRESS = r.ok("DEFLATE active")
BAD_COMPRESSION_ACTIVE = r.bad("compression is already active")  # RFC 4978 3
BAD_COMPRESSION_MECHANISM = r.bad("the only compression mechanism is DEFLATE")
BYE_UNAUTHENTICATE_COMPRESSED = r.StatusResponse(
    r.Status.BYE, "UNAUTHENTICATE with COMPRESS active: please reconnect"
)
BYE_BAD_COMPRESSION = r.StatusResponse(r.Status.BYE, "compressed data is corrupt")


async def _capability(session: Session, command: c.Capability) -> StatusResponse:
    await session.send(untagged.capability(capabilities(session)))
    return r.ok("CAPABILITY completed")


async def _noop(session: Session, command: c.Noop | c.Check) -> StatusResponse:
    return r.ok("NOOP completed")


async def _logout(session: Session, command: c.Logout) -> StatusResponse:
    await session.send(r.BYE_LOGOUT)
    return r.OK_LOGOUT


async def _id(session: Session, command: c.Id) -> StatusResponse:
    await session.send(untagged.id_response(SERVER_ID))  # RFC 2971 3.2
    return r.ok("ID completed")


async def _enable(session: Session, command: c.Enable) -> StatusResponse:
    """ENABLE (RFC 5161): IMAP4rev2 (RFC 9051 6.3.1) and UTF8=ACCEPT (RFC 6855 3) both
    switch mailbox names and strings to UTF-8; CONDSTORE (RFC 7162 3.1), and QRESYNC,
    which implies it (RFC 7162 3.2.3). Only newly enabled names are listed."""
    done = []
    for name in command.capabilities:
        if name == "IMAP4REV2" and not session.rev2:
            session.rev2 = True
            done.append("IMAP4rev2")
        elif name == "UTF8=ACCEPT" and not session.utf8_accept:
            session.utf8_accept = True
            done.append("UTF8=ACCEPT")
        elif name == "CONDSTORE" and not session.condstore:
            await condstore.enable(session)
            done.append("CONDSTORE")
        elif name == "QRESYNC" and not session.qresync:
            await condstore.enable(session)
            session.qresync = True
            done.append("QRESYNC")
    if session.rev2 or session.utf8_accept:
        session.core.enable_utf8()  # UTF-8 names from now on
    await session.send(untagged.enabled(done))
    return r.ok("ENABLE completed")


async def _login(session: Session, command: c.Login) -> StatusResponse:
    return await auth.login(session, command)


HANDLERS: dict[type, Handler] = {
    c.Capability: _capability,
    c.Noop: _noop,
    c.Check: _noop,
    c.Logout: _logout,
    c.Id: _id,
    c.Enable: _enable,
    c.Login: _login,
    c.Unauthenticate: auth.unauthenticate,
    c.Namespace: mailboxes.namespace,
    c.List: mailboxes.list_mailboxes,
    c.Lsub: mailboxes.lsub,
    c.Status: mailboxes.status,
    c.Create: mailboxes.create,
    c.Delete: mailboxes.delete,
    c.Rename: mailboxes.rename,
    c.Subscribe: mailboxes.subscribe,
    c.Unsubscribe: mailboxes.subscribe,
    c.Select: select.select,
    c.Close: select.close,
    c.Unselect: select.unselect,
    c.Expunge: select.expunge,
    c.Fetch: fetch.fetch,
    c.Search: search.search,
    c.Sort: sort.sort,
    c.Thread: sort.thread,
    c.Store: flags.store,
    c.Copy: copymove.copy_or_move,
    c.Move: copymove.copy_or_move,
    c.Append: append.append,
    c.GetQuota: quota.getquota,
    c.GetQuotaRoot: quota.getquotaroot,
    c.SetQuota: quota.setquota,
    c.GetMetadata: metadata.getmetadata,
    c.SetMetadata: metadata.setmetadata,
}
NO_NOT_SUPPORTED = r.bad("command not supported by this server")


class IMAPServer:
    """The ConnectionHandler for the imap and imaps listeners."""

    def __init__(self, services: Services, limits: IMAPLimits) -> None:
        self.services = services
        self.limits = limits
        self._per_ip: collections.Counter[str] = collections.Counter()

    async def __call__(self, conn: Connection) -> None:
        ip = conn.peer.host
        core = IMAPServerConnection(self.limits)
        if self._per_ip[ip] >= self.services.settings.max_connections_per_ip:
            await conn.write(core.send(BYE_TOO_MANY_CONNECTIONS))
            return
        self._per_ip[ip] += 1
        session = Session(conn, core, self.services)
        try:
            await self._serve(session)
        except (ConnectionClosed, HandshakeFailed) as exc:
            log.info("imap connection ended", extra={"reason": str(exc)})
        finally:
            auth.end_session(session)
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]

    async def _serve(self, session: Session) -> None:
        core = session.core
        caps = tuple(Atom(cap) for cap in capabilities(session))
        greeting = r.ok(f"{self.services.hostname} IMAP ready", Code("CAPABILITY", caps))
        await session.send(greeting)
        settings = self.services.settings
        while True:
            event = core.next_event()
            if isinstance(event, Write):
                await session.send_raw(event.data)
            elif isinstance(event, CommandReceived):
                await self._command(session, event.command)
            elif isinstance(event, CommandInvalid):
                session.sasl = None  # a cancelled AUTHENTICATE ("*") or a bad IDLE line
                session.idle_tag = None  # ends the exchange (RFC 9051 6.2.2, RFC 2177)
                await session.send(event.error.reply)
                if core.bad_commands >= settings.max_bad_commands:
                    await self._bye(session, r.BYE_TOO_MANY_ERRORS)
                    return
            elif isinstance(event, SaslResponse):
                tag = session.sasl[0] if session.sasl else event.tag
                result = await auth.sasl_response(session, event.data)
                if result is not None:
                    await session.send(result.tagged(tag))
            elif isinstance(event, IdleDone):
                session.idle_tag = None
                await self._finish(session, "IDLE", r.ok("IDLE terminated").tagged(event.tag))
            elif isinstance(event, CoreClosed):
                await session.flush()
                return
            else:  # NEED_DATA
                await session.flush()
                if not await self._read(session):
                    return

    async def _read(self, session: Session) -> bool:
        """Feed the core; False when the session must end (BYE already sent)."""
        settings = self.services.settings
        timeout = settings.autologout if session.user is not None else settings.login_timeout
        deflate = session.deflate
        while True:
            try:
                if deflate is not None and deflate.pending:
                    data = b""  # inflate what is left of the last read first
                elif session.idle_tag is not None:
                    data = await idle.read_while_idle(session, session.conn, timeout)
                else:
                    data = await session.conn.read(timeout)
                if deflate is not None and (data or deflate.pending):
                    data = deflate.decompress(data)
                    if not data:
                        continue  # the input ended inside a compressed block
            except ReadTimeout:
                await self._bye(session, r.BYE_AUTOLOGOUT)
                return False
            except ShuttingDown:
                await self._bye(session, r.BYE_SHUTDOWN)
                return False
            except CompressionError as exc:
                log.info("imap compressed input is corrupt", extra={"reason": str(exc)})
                await self._bye(session, BYE_BAD_COMPRESSION)
                return False
            session.core.receive_data(data)
            return True

    async def _bye(self, session: Session, bye: StatusResponse) -> None:
        session.core.close()
        await session.send(bye)
        await session.flush()

    async def _command(self, session: Session, tagged: c.TaggedCommand) -> None:
        command = tagged.command
        session.tag = tagged.tag
        settings = self.services.settings
        if session.user is None:
            session.commands_before_login += 1
            if session.commands_before_login > settings.max_commands_before_login:
                await self._bye(session, BYE_TOO_MANY_COMMANDS)
                return
        try:
            if isinstance(command, c.StartTLS):
                await self._starttls(session, tagged.tag)
                return
            if isinstance(command, c.Authenticate):
                result = await auth.authenticate(session, tagged.tag, command)
                if result is not None:
                    await session.send(result.tagged(tagged.tag))
                return
            if isinstance(command, c.Compress):
                await self._compress(session, tagged.tag, command)
                return
            if (
                isinstance(command, c.Unauthenticate)
                and session.deflate is not None
                and self.services.settings.unauthenticate
            ):
                # RFC 8437 4.1 would end COMPRESS on both sides at the OK; rather than
                # guess where the client's compressed stream stops, close (RFC 8437 3
                # allows a BYE when the state cannot be reset).
                await self._bye(session, BYE_UNAUTHENTICATE_COMPRESSED)
                return
            if isinstance(command, c.Idle):
                await idle.send_updates(session, allow_expunge=True)
                await idle.start(session, tagged.tag)
                return
            handler = HANDLERS.get(type(command))
            result = NO_NOT_SUPPORTED if handler is None else await handler(session, command)
        except CommandSyntaxError as exc:
            result = exc.reply
        except StoreTemporaryError:
            log.warning("imap store temporarily failed", exc_info=True)
            result = r.NO_UNAVAILABLE
        except (ConnectionClosed, HandshakeFailed):
            raise
        except Exception:
            log.exception("imap command failed", extra={"command": tagged.name})
            result = r.NO_SERVERBUG
        await self._finish(session, tagged.name, result.tagged(tagged.tag))

    async def _finish(self, session: Session, name: str, result: StatusResponse) -> None:
        """Send the updates allowed now, then the tagged response."""
        if session.user is not None:
            await idle.send_updates(session, allow_expunge=expunge_allowed(name))
        await session.send(result)
        if session.core.state.name != "SELECTED":
            session.selected = None

    async def _compress(self, session: Session, tag: str, command: c.Compress) -> None:
        """COMPRESS (RFC 4978 3): the OK goes out uncompressed, then both directions are."""
        if session.deflate is not None:
            await self._finish(session, "COMPRESS", BAD_COMPRESSION_ACTIVE.tagged(tag))
            return
        if command.mechanism != "DEFLATE":
            await self._finish(session, "COMPRESS", BAD_COMPRESSION_MECHANISM.tagged(tag))
            return
        await self._finish(session, "COMPRESS", OK_COMPRESS.tagged(tag))
        await session.flush()
        deflate = session.deflate = Deflate()
        pipelined = session.core.compression_started()
        if pipelined:
            try:
                data = deflate.decompress(pipelined)
            except CompressionError as exc:
                log.info("imap compressed input is corrupt", extra={"reason": str(exc)})
                await self._bye(session, BYE_BAD_COMPRESSION)
                return
            if data:
                session.core.receive_data(data)

    async def _starttls(self, session: Session, tag: str) -> None:
        if session.conn.tls is not None:
            await session.send(r.BAD_TLS_ACTIVE.tagged(tag))
            return
        await session.send(r.OK_STARTTLS.tagged(tag))
        await session.flush()
        await session.conn.start_tls()
        dropped = session.core.tls_started()
        if dropped:
            log.info("discarded bytes sent after starttls", extra={"bytes": dropped})
