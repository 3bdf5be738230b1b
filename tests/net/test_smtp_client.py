"""The outbound SMTP client against real peers on loopback: Postfix's smtp-sink (success,
4xx, 5xx, PIPELINING on and off, a drop at DATA, fallback to the next MX) and raw peers that
misbehave (garbage, a 1 MB reply line, a stall, a drop in the middle of the message)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType
from mailkeep.net.smtp_client import (
    ClientTimeouts,
    OutboundSettings,
    SMTPClientTransport,
    TLSLevel,
)
from mailkeep.protocol.smtp.grammar import Body, Notify
from mailkeep.queue.models import QueuedMessage, QueuedRecipient, RecipientStatus
from mailkeep.queue.spool import Spool, new_id
from mailkeep.queue.transport import OutboundMessage, Outcome, RecipientResult
from mailkeep.queue.worker import QueueWorker, WorkerSettings
from tests.net.outbound_peers import RawPeer, dumped, ehlo_then, smtp_sink
from tests.process.server import free_port

BODY = b"From: a@a.test\r\nTo: x@b.test\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n"


def resolver(*hosts: str) -> FakeResolver:
    """b.test with one MX per address, in the order given."""
    zone = FakeResolver()
    for index, address in enumerate(hosts):
        zone.add_mx("b.test", 10 * (index + 1), f"mx{index}.b.test")
        zone.add(f"mx{index}.b.test", RecordType.A, address)
    return zone


def message(*rcpts: str, content: bytes = BODY, **kw: object) -> OutboundMessage:
    envelope = QueuedMessage(
        id="0123abcd",
        mail_from="a@a.test",
        recipients=tuple(QueuedRecipient(r) for r in rcpts),
        created=0.0,
        size=len(content),
        **kw,  # type: ignore[arg-type]
    )
    return OutboundMessage(envelope, envelope.recipients, content)


def deliver(
    port: int,
    zone: FakeResolver,
    batch: Sequence[OutboundMessage],
    timeouts: ClientTimeouts | None = None,
) -> list[list[RecipientResult]]:
    settings = OutboundSettings(
        hostname="mx.a.test", port=port, timeouts=timeouts or ClientTimeouts(connect=2)
    )
    transport = SMTPClientTransport(settings, zone)
    got: dict[int, list[RecipientResult]] = {}

    async def sink(item: OutboundMessage, rows: list[RecipientResult]) -> None:
        assert id(item) not in got, "reported twice"
        got[id(item)] = rows

    asyncio.run(transport.deliver("b.test", batch, sink))
    return [got[id(item)] for item in batch]


def outcomes(rows: list[RecipientResult]) -> list[Outcome]:
    return [r.outcome for r in rows]


@pytest.mark.interop
@pytest.mark.parametrize("pipelining", [True, False])
def test_batch_over_one_connection(tmp_path: Path, pipelining: bool) -> None:
    port = free_port()
    options = () if pipelining else ("-p",)
    with smtp_sink("127.0.0.2", port, tmp_path / "dump", *options):
        batch = [message("x@b.test", "y@b.test"), message("z@b.test", content=BODY + b"two\r\n")]
        results = deliver(port, resolver("127.0.0.2"), batch)
    assert [outcomes(r) for r in results] == [[Outcome.DELIVERED] * 2, [Outcome.DELIVERED]]
    assert results[0][0].remote_mta == "mx0.b.test" and results[0][0].smtp_reply
    dumps = dumped(tmp_path / "dump")
    assert len(dumps) == 2
    # smtp-sink writes LF line ends; the leading dot arrived unstuffed
    assert all(b"hello\n.leading dot\n" in d for d in dumps)
    assert any(b"X-Rcpt-Args: <x@b.test>\nX-Rcpt-Args: <y@b.test>" in d for d in dumps)


@pytest.mark.interop
def test_4xx_defers_and_5xx_fails(tmp_path: Path) -> None:
    port = free_port()
    with smtp_sink("127.0.0.2", port, None, "-r", "RCPT"):
        (soft,) = deliver(port, resolver("127.0.0.2"), [message("x@b.test")])
    assert outcomes(soft) == [Outcome.DEFERRED] and soft[0].detail.startswith("450")
    with smtp_sink("127.0.0.2", port, None, "-f", "RCPT"):
        (hard,) = deliver(port, resolver("127.0.0.2"), [message("x@b.test")])
    assert outcomes(hard) == [Outcome.FAILED] and hard[0].status.startswith("5.")


@pytest.mark.interop
def test_drop_at_data_defers_and_next_mx_takes_the_rest(tmp_path: Path) -> None:
    port = free_port()
    with (
        smtp_sink("127.0.0.2", port, None, "-q", "DATA"),
        smtp_sink("127.0.0.3", port, tmp_path / "dump"),
    ):
        batch = [message("x@b.test"), message("y@b.test")]
        first, second = deliver(port, resolver("127.0.0.2", "127.0.0.3"), batch)
    # The first message's fate at mx0 is unknown: deferred, not re-sent at once.
    assert outcomes(first) == [Outcome.DEFERRED] and "closed" in first[0].detail
    assert outcomes(second) == [Outcome.DELIVERED] and second[0].remote_mta == "mx1.b.test"


@pytest.mark.interop
def test_unreachable_first_mx_is_skipped(tmp_path: Path) -> None:
    port = free_port()
    with smtp_sink("127.0.0.3", port, tmp_path / "dump"):
        (rows,) = deliver(port, resolver("127.0.0.2", "127.0.0.3"), [message("x@b.test")])
    assert outcomes(rows) == [Outcome.DELIVERED]


def test_nobody_listening_defers() -> None:
    (rows,) = deliver(free_port(), resolver("127.0.0.2"), [message("x@b.test")])
    assert outcomes(rows) == [Outcome.DEFERRED] and rows[0].status == "4.4.1"


def test_null_mx_fails_without_connecting() -> None:
    zone = FakeResolver()
    zone.add_mx("b.test", 0, ".")
    (rows,) = deliver(free_port(), zone, [message("x@b.test")])
    assert outcomes(rows) == [Outcome.FAILED] and rows[0].status == "5.1.10"


async def _misbehave(kind: str, port_box: list[int]) -> list[list[RecipientResult]]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if kind == "garbage":
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        elif kind == "long-line":
            writer.write(b"220 " + b"x" * 1_000_000 + b"\r\n")
        elif kind == "stall":
            await ehlo_then(reader, writer, ["PIPELINING"])
            await reader.read(1000)  # MAIL...: never answered
            await asyncio.sleep(30)
        elif kind == "drop-mid-data":
            await ehlo_then(reader, writer, ["PIPELINING", "SIZE 1000000"])
            await reader.readuntil(b"DATA\r\n")
            writer.write(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
            await writer.drain()
            await reader.read(10)
            writer.transport.abort()
            return
        await writer.drain()
        await asyncio.sleep(0.2)

    async with RawPeer("127.0.0.2", handler) as peer:
        port_box.append(peer.port)
        settings = OutboundSettings(
            hostname="mx.a.test",
            port=peer.port,
            timeouts=ClientTimeouts(connect=2, greeting=2, command=0.5, data_end=2),
        )
        transport = SMTPClientTransport(settings, resolver("127.0.0.2"))
        got: list[list[RecipientResult]] = []

        async def sink(item: OutboundMessage, rows: list[RecipientResult]) -> None:
            got.append(rows)

        await transport.deliver("b.test", [message("x@b.test", content=BODY * 200)], sink)
        return got


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("garbage", "not a reply line"),
        ("long-line", "reply line too long"),
        ("stall", "within 0.5 s"),
        ("drop-mid-data", "connection"),
    ],
)
def test_misbehaving_peers_defer_with_a_reason(kind: str, reason: str) -> None:
    ports: list[int] = []
    (rows,) = asyncio.run(_misbehave(kind, ports))
    assert outcomes(rows) == [Outcome.DEFERRED]
    assert reason in rows[0].detail, rows[0].detail


async def _limited(extensions: list[str], **kw: object) -> list[RecipientResult]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ehlo_then(reader, writer, extensions)
        while line := await reader.readline():
            writer.write(b"221 bye\r\n" if line.startswith(b"QUIT") else b"250 ok\r\n")
            await writer.drain()

    async with RawPeer("127.0.0.2", handler) as peer:
        transport = SMTPClientTransport(
            OutboundSettings(hostname="mx.a.test", port=peer.port), resolver("127.0.0.2")
        )
        got: list[list[RecipientResult]] = []

        async def sink(item: OutboundMessage, rows: list[RecipientResult]) -> None:
            got.append(rows)

        await transport.deliver("b.test", [message("x@b.test", **kw)], sink)
        return got[0]


@pytest.mark.parametrize(
    ("extensions", "kw", "status"),
    [
        (["SIZE 10"], {}, "5.3.4"),
        (["8BITMIME"], {"smtputf8": True}, "5.6.7"),
        ([], {"body": Body.EIGHT_BIT_MIME}, "5.6.3"),
        (["8BITMIME"], {"body": Body.BINARY_MIME}, "5.6.3"),
        (["REQUIRETLS"], {"requiretls": True}, "5.7.10"),
    ],
)
def test_a_message_the_peer_cannot_take_fails_saying_why(
    extensions: list[str], kw: dict[str, object], status: str
) -> None:
    (row,) = asyncio.run(_limited(extensions, **kw))
    assert row.outcome is Outcome.FAILED and row.status == status, row


def test_dsn_parameters_are_passed_on() -> None:
    seen: list[bytes] = []

    async def run() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await ehlo_then(reader, writer, ["DSN", "SIZE 0"])
            while line := await reader.readline():
                seen.append(line)
                reply = b"354 go\r\n" if line == b"DATA\r\n" else b"250 ok\r\n"
                if line.startswith(b"QUIT"):
                    reply = b"221 bye\r\n"
                if line == b"DATA\r\n":
                    writer.write(reply)
                    await writer.drain()
                    await reader.readuntil(b"\r\n.\r\n")
                    reply = b"250 queued\r\n"
                writer.write(reply)
                await writer.drain()

        async with RawPeer("127.0.0.2", handler) as peer:
            transport = SMTPClientTransport(
                OutboundSettings(hostname="mx.a.test", port=peer.port), resolver("127.0.0.2")
            )
            envelope = QueuedMessage(
                id="0123abcd",
                mail_from="a@a.test",
                recipients=(
                    QueuedRecipient(
                        "x@b.test",
                        notify=frozenset({Notify.SUCCESS, Notify.FAILURE}),
                        orcpt=("rfc822", "list+x@a.test"),
                    ),
                ),
                created=0.0,
                size=len(BODY),
                envid="env 1",
            )

            async def sink(item: OutboundMessage, rows: list[RecipientResult]) -> None:
                assert rows[0].outcome is Outcome.DELIVERED

            batch = [OutboundMessage(envelope, envelope.recipients, BODY)]
            await transport.deliver("b.test", batch, sink)

    asyncio.run(run())
    assert seen[0] == f"MAIL FROM:<a@a.test> SIZE={len(BODY)} ENVID=env+201\r\n".encode()
    assert seen[1] == b"RCPT TO:<x@b.test> NOTIFY=FAILURE,SUCCESS ORCPT=rfc822;list+2Bx@a.test\r\n"


async def _peer_behaviour(
    kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """The raw peers of the queue test below (each misbehaves in one way)."""
    if kind == "garbage":
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    elif kind == "long-line":
        writer.write(b"250-" + b"y" * 1_000_000 + b"\r\n")
    elif kind == "stall":
        await asyncio.sleep(30)  # never greets
    elif kind == "drop-mid-data":
        await ehlo_then(reader, writer, ["PIPELINING"])
        await reader.readuntil(b"DATA\r\n")
        writer.write(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
        await writer.drain()
        await reader.read(10)
        writer.transport.abort()
        return
    elif kind == "broken-certificate":  # offers STARTTLS, then answers the handshake with junk
        await ehlo_then(reader, writer, ["STARTTLS"])
        await reader.readline()
        writer.write(b"220 2.0.0 go ahead\r\n")
        await writer.drain()
        await reader.read(100)  # the ClientHello
        writer.write(b"-----BEGIN CERTIFICATE-----\r\nnot a certificate\r\n")
    await writer.drain()
    await asyncio.sleep(0.5)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("garbage", "not a reply line"),
        ("long-line", "reply line too long"),
        ("stall", "no GREETING reply within 0.5 s"),
        ("drop-mid-data", "connection"),
        ("broken-certificate", "TLS handshake failed"),
    ],
)
def test_a_misbehaving_peer_never_costs_a_queued_message(
    tmp_path: Path, kind: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The real worker and transport against each bad peer: the attempt is logged with its
    reason, the message stays queued for a retry, and the next pass runs normally."""
    spool = Spool(tmp_path / "queue")
    spool_id = new_id(time.time())
    envelope = QueuedMessage(
        id=spool_id,
        mail_from="a@a.test",
        recipients=(QueuedRecipient("x@b.test"),),
        created=time.time(),
        size=len(BODY),
    )
    spool.put_sync(envelope, BODY)

    async def run() -> tuple[int, int]:
        async with RawPeer("127.0.0.2", lambda r, w: _peer_behaviour(kind, r, w)) as peer:
            settings = OutboundSettings(
                hostname="mx.a.test",
                port=peer.port,
                timeouts=ClientTimeouts(connect=2, greeting=0.5, command=0.5, data_end=2),
                domain_tls={"b.test": TLSLevel.ENCRYPT} if kind == "broken-certificate" else {},
            )
            transport = SMTPClientTransport(settings, resolver("127.0.0.2"))
            worker = QueueWorker(spool, transport, WorkerSettings(hostname="mx.a.test"))
            first = await worker.run_once()
            again = spool.load_sync(spool_id)  # as `mailkeep queue retry` does: due now
            due = tuple(dataclasses.replace(r, next_attempt=0.0) for r in again.recipients)
            spool.update_sync(again.with_recipients(due))
            second = await worker.run_once()
            return first.deferred, second.messages

    with caplog.at_level(logging.INFO, logger="mailkeep.queue.worker"):
        deferred, retried = asyncio.run(run())
    assert deferred == 1
    (kept,) = [spool.load_sync(i) for i in spool.list_ids()]
    (rcpt,) = kept.recipients
    assert rcpt.status is RecipientStatus.PENDING and rcpt.attempts >= 1
    assert rcpt.last_error is not None and reason in rcpt.last_error, rcpt.last_error
    assert spool.read_message_sync(spool_id) == BODY
    attempts = [r for r in caplog.records if r.getMessage() == "queue attempt"]
    assert attempts and all(getattr(r, "outcome", None) == "deferred" for r in attempts)
    assert reason in str(getattr(attempts[0], "detail", ""))
    assert retried == 1  # the worker is still working
