"""One client connection as protocol servers see it: read, write, STARTTLS, close.

RFC 3207 4.2, RFC 2595 3.1, RFC 9051 6.2.1 (after STARTTLS, forget what was received before).

Implementation notes:

- ``Connection`` is the only object a protocol server touches; it never sees a socket,
  transport or SSL object. It is driven by ``StreamProtocol``, a plain asyncio.Protocol
  with its own buffer, so mailkeep controls exactly which bytes arrived before STARTTLS.
- ``start_tls`` throws away every byte buffered before the handshake (plaintext pipelined
  after the STARTTLS command is an injection attack, RFC 3207 4.2) and asks the certificate
  manager for the context at that moment, so certificate reloads reach new handshakes.
- Implicit-TLS listeners let the event loop do the handshake at accept (the listening
  socket holds a context whose SNI callback picks the manager's current one); the
  connection is made only once TLS is up, so ``tls`` is already set when the handler runs.
- Reads take a timeout (the protocol's idle limit). While the server shuts down, a read that
  would wait raises ``ShuttingDown`` so the handler can say goodbye; a handler in the middle
  of a transaction passes ``stop_on_shutdown=False`` to finish it within the grace time.
- Writes wait for the peer to take the data (flow control) at most ``write_timeout``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from typing import Protocol, cast

from mailkeep.certs.contexts import TLSProfile
from mailkeep.errors import LocalProtocolError

log = logging.getLogger(__name__)

# Read buffer high and low water marks: reading pauses while this much is unread.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


class ConnectionClosed(Exception):
    """The peer went away (or stopped reading for longer than the write timeout)."""


class ReadTimeout(TimeoutError):
    """No data arrived within the timeout given to ``Connection.read``."""


class ShuttingDown(Exception):
    """The server is stopping: say goodbye and return (raised by an idle ``read``)."""


class HandshakeFailed(Exception):
    """The TLS handshake failed or timed out; the connection is closed."""


class ContextSource(Protocol):
    """Where a connection gets the TLS context for a handshake starting now."""

    def context(self, profile: TLSProfile, server_name: str | None = None) -> ssl.SSLContext:
        """The current context for ``profile``."""
        ...


@dataclass(frozen=True, slots=True)
class Address:
    """An IP address and port; shown as ``192.0.2.1:25`` or ``[2001:db8::1]:25``."""

    host: str
    port: int

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.host.partition("%")[0])

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TLSInfo:
    """The negotiated TLS parameters, e.g. for a Received header (RFC 8314 4.3)."""

    version: str
    """Protocol version as OpenSSL names it: "TLSv1.3"."""
    cipher: str
    """Cipher suite: "TLS_AES_256_GCM_SHA384"."""
    bits: int
    """Secret bits of the cipher."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Connection-level limits from the config."""

    handshake: float
    """Seconds a TLS handshake may take (tls.handshake_timeout_seconds)."""
    write: float
    """Seconds the peer may take to accept what we write (server.write_timeout_seconds)."""


def _tls_info(transport: asyncio.BaseTransport) -> TLSInfo:
    ssl_object = transport.get_extra_info("ssl_object")
    cipher = transport.get_extra_info("cipher") or ("", "", 0)
    version = ssl_object.version() if ssl_object is not None else None
    return TLSInfo(version=str(version or ""), cipher=str(cipher[0]), bits=int(cipher[2]))


def _address(value: object) -> Address:
    if isinstance(value, tuple) and len(value) >= 2:
        return Address(str(value[0]), int(value[1]))
    return Address(str(value), 0)


class StreamProtocol(asyncio.Protocol):
    """Buffers what arrives and tells the Connection; flow control both ways."""

    def __init__(self, tls: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost = False
        self.tls = tls
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self.wake()

    def eof_received(self) -> bool:
        self.eof = True
        self.wake()
        # Plain TCP: stay half-open so a last reply can go out. TLS cannot be half-open.
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        self.wake()
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self.reading_paused and len(self.buffer) < _LOW_WATER and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data


class Connection:
    """A client connection: what every protocol server (ConnectionHandler) works with."""

    def __init__(
        self,
        protocol: StreamProtocol,
        *,
        conn_id: str,
        listener: str,
        tls_profile: TLSProfile,
        contexts: ContextSource,
        timeouts: Timeouts,
    ) -> None:
        assert protocol.transport is not None
        self._protocol = protocol
        self.id = conn_id
        """Short id carried by every log line about this connection."""
        self.listener = listener
        """The listener's config key: "smtp", "submission", "imaps", ..."""
        self.peer = _address(protocol.transport.get_extra_info("peername"))
        """The client's address."""
        self.local = _address(protocol.transport.get_extra_info("sockname"))
        """Our address the client connected to."""
        self.tls: TLSInfo | None = _tls_info(protocol.transport) if protocol.tls else None
        """Set once TLS is up (implicit TLS: before the handler runs)."""
        self._tls_profile = tls_profile
        self._contexts = contexts
        self._timeouts = timeouts
        self._shutting_down = False

    @property
    def shutting_down(self) -> bool:
        """True once the server has begun to stop: finish the transaction, say goodbye."""
        return self._shutting_down

    async def read(
        self,
        timeout: float,  # noqa: ASYNC109 - every read has a timeout, by design (DESIGN 3.12)
        max_bytes: int = 65536,
        *,
        stop_on_shutdown: bool = True,
    ) -> bytes:
        """Return what has arrived (at most ``max_bytes``), waiting up to ``timeout``
        seconds; ``b""`` at EOF.

        Raises ReadTimeout when nothing came in time, and ShuttingDown when the server
        stops while this read waits (unless ``stop_on_shutdown`` is False).
        """
        protocol = self._protocol
        while True:
            if protocol.buffer:
                return protocol.take(max_bytes)
            if protocol.eof:
                return b""
            if stop_on_shutdown and self._shutting_down:
                raise ShuttingDown
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.waiter
            except TimeoutError:
                raise ReadTimeout(f"no data for {timeout:g} seconds") from None
            finally:
                protocol.waiter = None

    async def write(self, data: bytes) -> None:
        """Send ``data`` and wait until the peer takes it (at most the write timeout).

        Raises ConnectionClosed when the peer has gone or does not read.
        """
        protocol = self._protocol
        transport = protocol.transport
        if protocol.lost or transport is None or transport.is_closing():
            raise ConnectionClosed("connection already closed")
        transport.write(data)
        if not protocol.writing_paused:
            return
        protocol.drain_waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._timeouts.write):
                await protocol.drain_waiter
        except TimeoutError:
            transport.abort()
            raise ConnectionClosed(
                f"peer did not read for {self._timeouts.write:g} seconds"
            ) from None
        finally:
            protocol.drain_waiter = None
        if protocol.lost:
            raise ConnectionClosed("peer closed the connection")

    async def start_tls(self) -> TLSInfo:
        """Upgrade this connection to TLS as the server (STARTTLS, STLS, implicit TLS).

        Bytes received before the handshake are discarded (RFC 3207 4.2). Raises
        HandshakeFailed (the connection is then closed).
        """
        protocol = self._protocol
        transport = protocol.transport
        if self.tls is not None or transport is None:
            raise LocalProtocolError("start_tls on a connection that is already TLS")
        if protocol.lost:
            raise HandshakeFailed("connection closed before the handshake")
        if protocol.buffer:
            log.info(
                "discarded plaintext sent before the tls handshake",
                extra={"bytes": len(protocol.buffer)},
            )
            protocol.buffer.clear()
        protocol.reading_paused = False
        protocol.tls = True
        context = self._contexts.context(self._tls_profile)
        loop = asyncio.get_running_loop()
        try:
            new_transport = await loop.start_tls(
                transport,
                protocol,
                context,
                server_side=True,
                ssl_handshake_timeout=self._timeouts.handshake,
            )
        except (OSError, TimeoutError, EOFError) as exc:
            # ssl.SSLError is an OSError; a timeout is ConnectionAbortedError or TimeoutError.
            transport.abort()
            protocol.connection_lost(exc)
            raise HandshakeFailed(str(exc) or type(exc).__name__) from None
        if new_transport is None:
            transport.abort()
            protocol.connection_lost(None)
            raise HandshakeFailed("peer closed the connection during the handshake")
        protocol.transport = new_transport
        self.tls = _tls_info(new_transport)
        return self.tls

    async def close(self) -> None:
        """Flush what was written (sending TLS close_notify) and close; abort if the peer
        does not let that finish within the write timeout."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or protocol.lost:
            return
        if not transport.is_closing():
            transport.close()
        try:
            async with asyncio.timeout(self._timeouts.write):
                await asyncio.shield(protocol.closed)
        except TimeoutError:
            transport.abort()

    def abort(self) -> None:
        """Close at once, dropping anything not yet sent."""
        transport = self._protocol.transport
        if transport is not None:
            transport.abort()

    def begin_shutdown(self) -> None:
        """Called by the listener when the server begins to stop."""
        self._shutting_down = True
        self._protocol.wake()


class ConnectionHandler(Protocol):
    """A protocol server: serves one connection until the session ends.

    The listener has already done the TLS handshake for implicit-TLS listeners and will
    close the connection when this returns or raises. Exceptions are logged with their
    traceback and affect no other connection; ConnectionClosed, ReadTimeout and
    ShuttingDown may be left to propagate.
    """

    async def __call__(self, conn: Connection) -> None:
        """Serve ``conn``."""
        ...
