"""Listening sockets, one task per connection, and a graceful stop.

Implementation notes:

- ``Listeners.bind`` opens every configured socket before anything is served; if one fails
  the ones already open are closed and a one-line UserError names the listener, the problem
  and the fix. Only after that may the process drop privileges.
- Every accepted connection runs in its own task, with ``log.conn_id`` and ``log.peer`` set in
  the task's context so every line logged while serving it carries them. Any exception a
  handler raises is logged with its traceback there and goes no further.
- Implicit-TLS listeners have the event loop complete the handshake (bounded by the
  handshake timeout) before the connection exists; the context given to the socket is only
  a front: its SNI callback (certs.manager) switches each handshake to the current context,
  so reloads reach implicit TLS too. (Pausing a plain transport and calling start_tls is
  not an option: uvloop starts reading right after connection_made, so the ClientHello
  could land in the plaintext buffer.) Failed implicit-TLS handshakes never reach mailkeep
  code and are not logged.
- ``shutdown``: stop accepting at once, tell every connection (idle reads raise
  ShuttingDown), wait up to the grace time for handlers to finish, cancel the rest.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mailkeep import log as logctx
from mailkeep.certs.contexts import TLSProfile
from mailkeep.errors import UserError
from mailkeep.net.connection import (
    Connection,
    ConnectionClosed,
    ConnectionHandler,
    ContextSource,
    HandshakeFailed,
    ReadTimeout,
    ShuttingDown,
    StreamProtocol,
    Timeouts,
)

log = logging.getLogger(__name__)

# Pending connections the kernel queues per socket before accept (listen(2) backlog).
BACKLOG = 128


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One configured listener."""

    name: str
    """Its config key, e.g. "imaps"; used in logs and error messages."""
    address: str
    """"host:port" or "[v6]:port" as written in the config."""
    implicit_tls: bool
    """TLS from the first byte (RFC 8314): the handshake runs before the handler."""
    tls_profile: TLSProfile
    """Which TLS context the handshake (implicit or STARTTLS) uses."""
    handler: ConnectionHandler
    """The protocol server."""


def split_address(address: str) -> tuple[str, int]:
    """``"[::1]:25"`` → ``("::1", 25)``; ``"0.0.0.0:25"`` → ``("0.0.0.0", 25)``."""
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _bind_error(spec: ListenerSpec, exc: OSError) -> UserError:
    where = f"listen.{spec.name} = {spec.address!r}"
    if exc.errno == errno.EADDRINUSE:
        fix = "the port is in use by another program: stop it or choose another port"
    elif exc.errno == errno.EADDRNOTAVAIL:
        fix = "that address is not on this machine: use one of its addresses, or 0.0.0.0"
    elif exc.errno == errno.EACCES:
        fix = "permission denied: ports below 1024 need root (mailkeep drops privileges)"
    elif isinstance(exc, socket.gaierror):
        fix = f"the host does not resolve ({exc.strerror})"
    else:
        fix = exc.strerror or str(exc)
    return UserError(f"cannot listen on {where}: {fix}")


class Listeners:
    """Every listening socket and every connection of the running server."""

    def __init__(self, contexts: ContextSource, timeouts: Timeouts) -> None:
        self._contexts = contexts
        self._timeouts = timeouts
        self._servers: list[tuple[ListenerSpec, asyncio.Server]] = []
        self._connections: dict[asyncio.Task[None], Connection] = {}
        self._accepting = False

    @property
    def addresses(self) -> list[tuple[str, tuple[str, int]]]:
        """(listener name, bound (host, port)) for every open socket."""
        result = []
        for spec, server in self._servers:
            for sock in server.sockets:
                name = sock.getsockname()
                result.append((spec.name, (str(name[0]), int(name[1]))))
        return result

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def bind(self, specs: Iterable[ListenerSpec]) -> None:
        """Open every listener, or none: raises UserError after closing what was opened."""
        loop = asyncio.get_running_loop()
        try:
            for spec in specs:
                host, port = split_address(spec.address)
                context = None
                handshake_timeout = None
                if spec.implicit_tls:
                    context = self._contexts.context(spec.tls_profile)
                    handshake_timeout = self._timeouts.handshake
                try:
                    server = await loop.create_server(
                        lambda spec=spec: self._accept(spec),
                        host,
                        port,
                        backlog=BACKLOG,
                        reuse_address=True,
                        start_serving=False,
                        ssl=context,
                        ssl_handshake_timeout=handshake_timeout,
                    )
                except OSError as exc:
                    raise _bind_error(spec, exc) from None
                self._servers.append((spec, server))
        except BaseException:
            self.close_sockets()
            raise

    async def start(self) -> None:
        """Begin accepting connections on every bound socket."""
        self._accepting = True
        for spec, server in self._servers:
            await server.start_serving()
            for sock in server.sockets:
                log.info(
                    "listening",
                    extra={"listener": spec.name, "address": _format(sock.getsockname())},
                )

    def close_sockets(self) -> None:
        """Stop accepting: close every listening socket (connections stay)."""
        self._accepting = False
        for _, server in self._servers:
            server.close()
        self._servers.clear()

    async def shutdown(self, grace: float) -> None:
        """Stop accepting; give connections ``grace`` seconds to finish; cancel the rest."""
        self.close_sockets()
        tasks = list(self._connections)
        log.info("shutting down", extra={"connections": len(tasks), "grace_seconds": grace})
        for conn in self._connections.values():
            conn.begin_shutdown()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                log.warning(
                    "grace time over, closing connections", extra={"connections": len(pending)}
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=5)

    def _accept(self, spec: ListenerSpec) -> asyncio.Protocol:
        return _AcceptedProtocol(self, spec)

    def _started(self, spec: ListenerSpec, protocol: StreamProtocol) -> None:
        conn = Connection(
            protocol,
            conn_id=secrets.token_hex(4),
            listener=spec.name,
            tls_profile=spec.tls_profile,
            contexts=self._contexts,
            timeouts=self._timeouts,
        )
        task = asyncio.get_running_loop().create_task(self._serve(spec, conn))
        self._connections[task] = conn
        task.add_done_callback(lambda done: self._connections.pop(done, None))
        if not self._accepting:
            # Accepted in the instant the sockets were closing: treat it like the rest.
            conn.begin_shutdown()

    async def _serve(self, spec: ListenerSpec, conn: Connection) -> None:
        logctx.conn_id.set(conn.id)
        logctx.peer.set(str(conn.peer))
        started = time.monotonic()
        log.info("connection opened", extra={"listener": spec.name, "local": str(conn.local)})
        outcome = "closed"
        try:
            if conn.tls is not None:
                tls = conn.tls
                log.info("tls established", extra={"version": tls.version, "cipher": tls.cipher})
            await spec.handler(conn)
        except HandshakeFailed as exc:
            outcome = "tls handshake failed"
            log.info("tls handshake failed", extra={"error": str(exc)})
        except ReadTimeout:
            outcome = "idle timeout"
        except ShuttingDown:
            outcome = "server shutting down"
        except ConnectionClosed:
            outcome = "peer went away"
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception:
            outcome = "handler crashed"
            log.exception("connection handler crashed", extra={"listener": spec.name})
        finally:
            try:
                if outcome in ("closed", "server shutting down"):
                    await _close_quietly(conn)
                else:
                    conn.abort()
            except OSError:
                pass
            finally:
                log.info(
                    "connection closed",
                    extra={"outcome": outcome, "seconds": round(time.monotonic() - started, 3)},
                )


async def _close_quietly(conn: Connection) -> None:
    try:
        await conn.close()
    except BaseException:  # OSError, or cancelled at the end of the grace time
        conn.abort()
        raise


def _format(sockname: object) -> str:
    if isinstance(sockname, tuple):
        host, port = sockname[0], sockname[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(sockname)


class _AcceptedProtocol(StreamProtocol):
    """A server-side stream protocol that starts its connection's task when made."""

    def __init__(self, listeners: Listeners, spec: ListenerSpec) -> None:
        super().__init__(tls=spec.implicit_tls)
        self._listeners: Listeners | None = listeners
        self._spec = spec

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._listeners is None:
            return  # made again by the TLS layer after STARTTLS
        listeners, self._listeners = self._listeners, None
        listeners._started(self._spec, self)
