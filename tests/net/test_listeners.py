"""Listeners and connections in process, on both event loops, with real TLS clients.

The handlers here are small line protocols written for the tests; they use the Connection
API exactly as the SMTP, IMAP and POP3 servers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography import x509

from mailkeep.certs.contexts import TLSProfile
from mailkeep.certs.manager import CertificateManager
from mailkeep.errors import UserError
from mailkeep.net.connection import Connection, ConnectionClosed, ShuttingDown, Timeouts
from mailkeep.net.listeners import Listeners, ListenerSpec
from tests.certs.pairs import install_pair
from tests.net.conftest import Run
from tests.tools import require_tool


class LineReader:
    """Splits what a Connection delivers into CRLF lines (the protocol cores' job)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending = b""

    async def line(self, **kwargs: Any) -> bytes:
        while b"\r\n" not in self.pending:
            data = await self.conn.read(5, **kwargs)
            if not data:
                return b""
            self.pending += data
        line, _, self.pending = self.pending.partition(b"\r\n")
        return line


async def echo(conn: Connection) -> None:
    """``hello``; echo every line; STARTTLS upgrades; ``crash`` raises; goodbye at shutdown;
    ``data`` starts a transaction that runs to ``.`` even while shutting down."""
    lines = LineReader(conn)
    await conn.write(b"hello\r\n")
    try:
        while line := await lines.line():
            if line == b"crash":
                raise RuntimeError("handler bug")
            if line == b"STARTTLS":
                await asyncio.sleep(0.2)  # let pipelined plaintext arrive first
                await conn.write(b"ready\r\n")
                lines.pending = b""  # RFC 3207 4.2, the core's own buffer
                tls = await conn.start_tls()
                await conn.write(b"tls " + tls.version.encode() + b"\r\n")
            elif line == b"data":
                while (part := await lines.line(stop_on_shutdown=False)) != b".":
                    assert part
                await conn.write(b"stored\r\n")
            else:
                await conn.write(b"echo " + line + b"\r\n")
    except ShuttingDown:
        await conn.write(b"bye\r\n")


async def smtp_like(conn: Connection) -> None:
    """Just enough SMTP for ``openssl s_client -starttls smtp``."""
    lines = LineReader(conn)
    await conn.write(b"220 mail.example.test ESMTP\r\n")
    while line := await lines.line():
        verb = line.split(b" ")[0].upper()
        if verb == b"EHLO":
            await conn.write(b"250-mail.example.test\r\n250 STARTTLS\r\n")
        elif verb == b"STARTTLS":
            await conn.write(b"220 2.0.0 go ahead\r\n")
            lines.pending = b""
            await conn.start_tls()
        elif verb == b"QUIT":
            await conn.write(b"221 2.0.0 bye\r\n")
            return
        else:
            await conn.write(b"250 ok\r\n")


@contextlib.asynccontextmanager
async def serving(
    certificates: CertificateManager, *specs: ListenerSpec, write_timeout: float = 5
) -> AsyncIterator[Listeners]:
    listeners = Listeners(certificates, Timeouts(handshake=2, write=write_timeout))
    await listeners.bind(specs)
    await listeners.start()
    try:
        yield listeners
    finally:
        await listeners.shutdown(0)


def spec(
    handler: Any,
    *,
    implicit_tls: bool = False,
    profile: TLSProfile = TLSProfile.CLIENT,
    name: str = "test",
    address: str = "127.0.0.1:0",
) -> ListenerSpec:
    return ListenerSpec(name, address, implicit_tls, profile, handler)


def port_of(listeners: Listeners, index: int = 0) -> int:
    return listeners.addresses[index][1][1]


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def expect(reader: asyncio.StreamReader, line: bytes) -> None:
    assert await asyncio.wait_for(reader.readline(), 5) == line + b"\r\n"


def test_connections_get_ids_and_a_crash_stays_in_its_connection(
    run: Run[None], certificates: CertificateManager, log_lines: io.StringIO
) -> None:
    async def main() -> None:
        async with serving(certificates, spec(echo)) as listeners:
            port = port_of(listeners)
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            await expect(r1, b"hello")
            await expect(r2, b"hello")
            w1.write(b"crash\r\n")
            assert await asyncio.wait_for(r1.read(), 5) == b""  # that one is closed
            w2.write(b"still there?\r\n")
            await expect(r2, b"echo still there?")
            w1.close()
            w2.close()

    run(main())
    lines = log_lines.getvalue().splitlines()
    crash = [line for line in lines if "connection handler crashed" in line]
    assert len(crash) == 1
    assert "RuntimeError: handler bug" in crash[0] and "Traceback" in crash[0]
    conn_ids = {part for line in lines for part in line.split() if part.startswith("conn=")}
    assert len(conn_ids) == 2
    for line in lines:
        if "connection opened" in line or "connection closed" in line:
            assert "conn=" in line and "peer=127.0.0.1:" in line


def test_starttls_discards_plaintext_sent_before_the_handshake(
    run: Run[None], certificates: CertificateManager, log_lines: io.StringIO
) -> None:
    async def upgrade_after_exactly_one_command(conn: Connection) -> None:
        # Take exactly "STARTTLS\r\n" so the rest stays in the connection's own buffer.
        command = b""
        while len(command) < 10:
            command += await conn.read(5, max_bytes=10 - len(command))
        assert command == b"STARTTLS\r\n"
        await conn.write(b"ready\r\n")
        await conn.start_tls()
        await echo(conn)

    async def main() -> None:
        handler = spec(upgrade_after_exactly_one_command)
        async with serving(certificates, handler) as listeners:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(listeners))
            # RFC 3207 4.2: the command pipelined after STARTTLS must not be seen after TLS.
            writer.write(b"STARTTLS\r\nINJECTED\r\n")
            await expect(reader, b"ready")
            await writer.start_tls(client_context())
            await expect(reader, b"hello")
            writer.write(b"after\r\n")
            await expect(reader, b"echo after")
            writer.close()

    run(main())
    assert "discarded plaintext sent before the tls handshake" in log_lines.getvalue()
    assert "bytes=10" in log_lines.getvalue()


def test_implicit_tls_serves_a_reloaded_certificate_and_open_connections_keep_working(
    run: Run[None], certificates: CertificateManager
) -> None:
    async def serial(writer: asyncio.StreamWriter) -> int:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number

    async def main() -> None:
        async with serving(certificates, spec(echo, implicit_tls=True)) as listeners:
            port = port_of(listeners)
            r1, w1 = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
            await expect(r1, b"hello")
            old = await serial(w1)
            new = install_pair(certificates.files.cert, certificates.files.key)
            assert certificates.reload("test")
            r2, w2 = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
            await expect(r2, b"hello")
            assert await serial(w2) == new != old
            w1.write(b"old one\r\n")
            await expect(r1, b"echo old one")
            w1.close()
            w2.close()

    run(main())


def test_shutdown_says_goodbye_lets_transactions_finish_and_cancels_the_rest(
    run: Run[None], certificates: CertificateManager
) -> None:
    cancelled = []

    async def stuck(conn: Connection) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.append(conn.id)

    async def main() -> None:
        listeners = Listeners(certificates, Timeouts(handshake=2, write=2))
        await listeners.bind([spec(echo), spec(stuck)])
        await listeners.start()
        echo_port, stuck_port = port_of(listeners, 0), port_of(listeners, 1)
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", echo_port)
        busy_r, busy_w = await asyncio.open_connection("127.0.0.1", echo_port)
        _, stuck_w = await asyncio.open_connection("127.0.0.1", stuck_port)
        await expect(idle_r, b"hello")
        await expect(busy_r, b"hello")
        busy_w.write(b"data\r\nline 1\r\n")
        await asyncio.sleep(0.1)
        assert listeners.connection_count == 3
        started = time.monotonic()
        stopping = asyncio.ensure_future(listeners.shutdown(grace=1.5))
        await expect(idle_r, b"bye")  # the idle one is told at once
        assert await asyncio.wait_for(idle_r.read(), 5) == b""
        with pytest.raises(OSError):  # no new connections
            await asyncio.open_connection("127.0.0.1", echo_port)
        busy_w.write(b"line 2\r\n.\r\n")  # the transaction in flight finishes
        await expect(busy_r, b"stored")
        await expect(busy_r, b"bye")
        await stopping
        elapsed = time.monotonic() - started
        assert 1.4 < elapsed < 4, elapsed  # waited the grace time for the stuck one only
        assert len(cancelled) == 1
        for w in (idle_w, busy_w, stuck_w):
            w.close()

    run(main())


def test_idle_timeout_and_a_peer_that_does_not_read(
    run: Run[None], certificates: CertificateManager, log_lines: io.StringIO
) -> None:
    async def idle(conn: Connection) -> None:
        await conn.read(0.2)

    async def flood(conn: Connection) -> None:
        chunk = b"x" * 65536
        with pytest.raises(ConnectionClosed):
            for _ in range(2000):  # far more than the socket buffers hold
                await conn.write(chunk)
        raise ConnectionClosed("as expected")

    async def main() -> None:
        async with serving(certificates, spec(idle), spec(flood), write_timeout=0.3) as listeners:
            r, w = await asyncio.open_connection("127.0.0.1", port_of(listeners, 0))
            assert await asyncio.wait_for(r.read(), 5) == b""
            w.close()
            s = socket.create_connection(("127.0.0.1", port_of(listeners, 1)))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await asyncio.sleep(1.5)
            s.close()

    run(main())
    text = log_lines.getvalue()
    assert 'outcome="idle timeout"' in text
    assert 'outcome="peer went away"' in text


def test_binding_is_all_or_nothing_with_one_clear_line(
    run: Run[None], certificates: CertificateManager
) -> None:
    async def main() -> None:
        async with serving(certificates, spec(echo)) as listeners:
            taken = port_of(listeners)
            free = socket.socket()
            free.bind(("127.0.0.1", 0))
            free_port = free.getsockname()[1]
            free.close()
            other = Listeners(certificates, Timeouts(handshake=2, write=2))
            with pytest.raises(UserError) as info:
                await other.bind(
                    [
                        spec(echo, name="imap", address=f"127.0.0.1:{free_port}"),
                        spec(echo, name="smtp", address=f"127.0.0.1:{taken}"),
                    ]
                )
            message = str(info.value)
            assert "\n" not in message
            assert f"listen.smtp = '127.0.0.1:{taken}'" in message and "in use" in message
            assert other.addresses == []
            # The imap socket it had opened was closed again: the port is free.
            probe = socket.socket()
            probe.bind(("127.0.0.1", free_port))
            probe.close()
            with pytest.raises(UserError, match="not on this machine"):
                await other.bind([spec(echo, address="192.0.2.1:2525")])

    run(main())


def test_ipv6_listener(run: Run[None], certificates: CertificateManager) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def main() -> None:
        async with serving(certificates, spec(echo, address="[::1]:0")) as listeners:
            r, w = await asyncio.open_connection("::1", port_of(listeners))
            await expect(r, b"hello")
            w.close()

    run(main())


def _s_client(port: int, *args: str) -> tuple[int, str]:
    openssl = require_tool("openssl")
    done = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-brief", *args],
        input=b"QUIT\r\n",
        capture_output=True,
        timeout=20,
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


async def _s_client_async(port: int, *args: str) -> tuple[int, str]:
    return await asyncio.to_thread(_s_client, port, *args)


LEGACY = ("-cipher", "DEFAULT:@SECLEVEL=0")


def test_mx_starttls_prefers_strong_suites_and_accepts_old_clients(
    run: Run[None], certificates: CertificateManager
) -> None:
    require_tool("openssl")

    async def main() -> None:
        mx = spec(smtp_like, profile=TLSProfile.MX, name="smtp")
        submission = spec(smtp_like, name="submission")
        async with serving(certificates, mx, submission) as listeners:
            mx_port, sub_port = port_of(listeners, 0), port_of(listeners, 1)
            # OpenSSL's client lists AES256-GCM first; the server's order wins.
            code, out = await _s_client_async(mx_port, "-starttls", "smtp", "-tls1_2")
            assert code == 0, out
            assert "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256" in out, out
            for version, name in (("-tls1", "TLSv1"), ("-tls1_1", "TLSv1.1")):
                code, out = await _s_client_async(mx_port, "-starttls", "smtp", version, *LEGACY)
                assert code == 0, out
                assert f"Protocol version: {name}\n" in out, out
            code, out = await _s_client_async(mx_port, "-starttls", "smtp", "-tls1_3")
            assert code == 0 and "Protocol version: TLSv1.3" in out, out
            # Submission (client profile) STARTTLS refuses what the MX accepts.
            code, out = await _s_client_async(sub_port, "-starttls", "smtp", "-tls1_1", *LEGACY)
            assert code != 0, out
            code, out = await _s_client_async(sub_port, "-starttls", "smtp", "-tls1_2")
            assert code == 0 and "Protocol version: TLSv1.2" in out, out

    run(main())


def test_handshakes_that_stall_are_closed_after_the_handshake_timeout(
    run: Run[None], certificates: CertificateManager, log_lines: io.StringIO
) -> None:
    async def main() -> None:
        listeners = Listeners(certificates, Timeouts(handshake=0.3, write=2))
        await listeners.bind([spec(echo, implicit_tls=True), spec(echo)])
        await listeners.start()
        try:
            started = time.monotonic()
            r, w = await asyncio.open_connection("127.0.0.1", port_of(listeners, 0))
            assert await asyncio.wait_for(r.read(), 5) == b""  # no ClientHello ever sent
            w.close()
            r, w = await asyncio.open_connection("127.0.0.1", port_of(listeners, 1))
            await expect(r, b"hello")
            w.write(b"STARTTLS\r\n")
            await expect(r, b"ready")
            assert await asyncio.wait_for(r.read(), 5) == b""  # said STARTTLS, then nothing
            w.close()
            assert time.monotonic() - started < 4  # two 0.3 s timeouts, slack for load
        finally:
            await listeners.shutdown(0)

    run(main())
    assert 'outcome="tls handshake failed"' in log_lines.getvalue()
