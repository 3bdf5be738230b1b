"""Connection details: addresses, bounded buffering, writes to a peer that left, misuse."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from mailkeep.certs.manager import CertificateManager
from mailkeep.errors import LocalProtocolError
from mailkeep.net.connection import (
    Address,
    Connection,
    ConnectionClosed,
    HandshakeFailed,
)
from mailkeep.net.listeners import split_address
from tests.net.conftest import Run
from tests.net.test_listeners import client_context, port_of, serving, spec


def test_addresses_print_as_in_logs_and_config() -> None:
    assert str(Address("192.0.2.1", 25)) == "192.0.2.1:25"
    assert str(Address("2001:db8::1", 25)) == "[2001:db8::1]:25"
    assert Address("fe80::1%eth0", 993).ip == ipaddress.ip_address("fe80::1")
    assert split_address("[::1]:2525") == ("::1", 2525)
    assert split_address("0.0.0.0:25") == ("0.0.0.0", 25)
    assert split_address("localhost:143") == ("localhost", 143)


def test_a_client_that_floods_is_buffered_only_up_to_the_high_water_mark(
    run: Run[None], certificates: CertificateManager
) -> None:
    seen: list[int] = []

    async def slow_reader(conn: Connection) -> None:
        await asyncio.sleep(0.5)
        seen.append(len(conn._protocol.buffer))
        total = 0
        while data := await conn.read(5):
            total += len(data)
        seen.append(total)

    async def main() -> None:
        async with serving(certificates, spec(slow_reader)) as listeners:
            _, writer = await asyncio.open_connection("127.0.0.1", port_of(listeners))
            writer.write(b"x" * 8_000_000)
            await writer.drain()
            writer.close()
            for _ in range(100):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.1)

    run(main())
    buffered, total = seen
    assert buffered < 1_000_000  # pause_reading at 256 KiB; the kernel holds the rest
    assert total == 8_000_000  # and nothing is lost when reading resumes


def test_writing_to_a_peer_that_left_raises_connection_closed(
    run: Run[None], certificates: CertificateManager
) -> None:
    outcome: list[str] = []

    async def writes_late(conn: Connection) -> None:
        assert await conn.read(5) == b""  # the client closed at once
        await asyncio.sleep(0.1)
        try:
            for _ in range(100):
                await conn.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        except ConnectionClosed:
            outcome.append("closed")
            raise

    async def main() -> None:
        async with serving(certificates, spec(writes_late)) as listeners:
            _, writer = await asyncio.open_connection("127.0.0.1", port_of(listeners))
            writer.close()
            for _ in range(100):
                if outcome:
                    break
                await asyncio.sleep(0.05)

    run(main())
    assert outcome == ["closed"]


def test_start_tls_on_tls_is_our_bug_and_a_failed_handshake_is_reported(
    run: Run[None], certificates: CertificateManager
) -> None:
    errors: list[str] = []

    async def upgrade(conn: Connection) -> None:
        try:
            await conn.start_tls()
        except (HandshakeFailed, LocalProtocolError) as exc:
            errors.append(f"{conn.listener} {type(exc).__name__}")
            raise

    async def main() -> None:
        implicit = spec(upgrade, implicit_tls=True, name="implicit")
        async with serving(certificates, implicit, spec(upgrade, name="plain")) as listeners:
            _, w = await asyncio.open_connection(
                "127.0.0.1", port_of(listeners, 0), ssl=client_context()
            )
            await asyncio.sleep(0.3)
            w.close()
            _, w = await asyncio.open_connection("127.0.0.1", port_of(listeners, 1))
            await asyncio.sleep(0.1)  # the handshake starts before the garbage arrives
            w.write(b"this is not a ClientHello\r\n")
            await asyncio.sleep(0.3)
            w.close()

    run(main())
    assert sorted(errors) == ["implicit LocalProtocolError", "plain HandshakeFailed"]


@pytest.mark.parametrize("text", ["[::1]:0", "127.0.0.1:0"])
def test_listeners_report_their_bound_addresses(
    run: Run[None], certificates: CertificateManager, text: str
) -> None:
    async def main() -> None:
        async with serving(certificates, spec(lambda conn: asyncio.sleep(0), address=text)) as ls:
            ((name, (host, port)),) = ls.addresses
            assert name == "test" and host == split_address(text)[0] and port > 0

    run(main())
