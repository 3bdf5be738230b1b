"""A real ``mailkeep serve`` delivering submitted mail to remote MX hosts: DNS from a real
server on loopback, Postfix's smtp-sink as the remote MX on 127.0.0.2 (the [outbound] port).
Covers success, 4xx then success, a 5xx bounce to the local sender, the delay warning and
the expiry bounce (the queued message aged on disk), and kill -9 in the middle of a queue
run."""

from __future__ import annotations

import dataclasses
import email
import email.message
import json
import signal
import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailkeep.queue.spool import Spool
from tests.dns.server import Zones, dns_server
from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.outbound_peers import smtp_sink
from tests.net.test_smtp_server import mailbox
from tests.process.server import free_port

pytestmark = [pytest.mark.interop, pytest.mark.slow]

ALICE = "alice@example.test"


def wait_until(check: object, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def zones() -> Iterator[tuple[Zones, str]]:
    with dns_server() as served:
        zones, _ = served
        zones.add_mx("b.test", 10, "mx.b.test")
        zones.add_a("mx.b.test", "127.0.0.2")
        yield served


def start(tmp_path: Path, nameserver: str, port: int, extra: str = "") -> MailServer:
    settings = (
        f'[dns]\nnameservers = ["{nameserver}"]\n'
        f"[outbound]\nport = {port}\nscan_interval_seconds = 0.2\n"
        "retry_first_seconds = 1\nretry_max_seconds = 1\nipv6 = false\n" + extra
    )
    (tmp_path / "a").mkdir(exist_ok=True)
    server = make_server(tmp_path / "a", settings)
    server.add_user(ALICE)
    server.start()
    return server


def submit(server: MailServer, rcpts: list[str], subject: str, count: int = 1) -> None:
    client = smtplib.SMTP("localhost", server.ports["submission"], timeout=10)
    try:
        client.starttls(context=ssl.create_default_context(cafile=str(server.ca_file)))
        client.login(ALICE, PASSWORD)
        for n in range(count):
            body = (
                f"From: {ALICE}\r\nTo: {rcpts[0]}\r\nSubject: {subject} {n}\r\n\r\n"
                "Hello from the queue.\r\n"
            )
            client.sendmail(ALICE, rcpts, body.encode())
    finally:
        client.quit()


def envelopes(server: MailServer) -> list[dict[str, object]]:
    paths = sorted((server.data_dir / "queue" / "envelopes").glob("*.json"))
    found = []
    for path in paths:
        try:
            found.append(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError):
            continue
    return found


def sink_files(dump: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(dump.iterdir())] if dump.exists() else []


def test_success(tmp_path: Path, zones: tuple[Zones, str]) -> None:
    port = free_port()
    server = start(tmp_path, zones[1], port)
    try:
        with smtp_sink("127.0.0.2", port, tmp_path / "dump"):
            submit(server, ["x@b.test", "y@b.test"], "hello")
            wait_until(lambda: not envelopes(server), what="the spool to empty")
        (dumped,) = sink_files(tmp_path / "dump")
        assert b"X-Rcpt-Args: <x@b.test> ORCPT=rfc822;x@b.test\nX-Rcpt-Args: <y@b.test>" in dumped
        assert b"Subject: hello 0" in dumped
        server.served.wait_for(r"msg=\"queue attempt\" .*outcome=delivered")  # type: ignore[union-attr]
    finally:
        server.stop()


def test_4xx_then_success(tmp_path: Path, zones: tuple[Zones, str]) -> None:
    port = free_port()
    server = start(tmp_path, zones[1], port)
    try:
        with smtp_sink("127.0.0.2", port, None, "-r", "RCPT"):
            submit(server, ["x@b.test"], "later")
            wait_until(
                lambda: any(
                    r["attempts"] >= 1  # type: ignore[index]
                    for e in envelopes(server)
                    for r in e["recipients"]  # type: ignore[attr-defined]
                ),
                what="a deferred attempt",
            )
        (envelope,) = envelopes(server)
        assert "450" in str(envelope["recipients"][0]["last_error"])  # type: ignore[index]
        with smtp_sink("127.0.0.2", port, tmp_path / "dump"):
            wait_until(lambda: not envelopes(server), what="the retry")
        assert len(sink_files(tmp_path / "dump")) == 1
    finally:
        server.stop()


def start_with_own_mx(tmp_path: Path, zones: tuple[Zones, str], port: int) -> MailServer:
    """A server whose notifications to alice@example.test come back to its own MX."""
    zones[0].add_mx("example.test", 10, "mail.example.test")
    zones[0].add_a("mail.example.test", "127.0.0.1")
    server = start(tmp_path, zones[1], port)
    # Our own MX listens on its own port; point the domain's relay at it.
    server.stop()
    config = server.config.read_text() + (
        f'domain_relays = {{ "example.test" = "127.0.0.1:{server.ports["smtp"]}" }}\n'
        'relay_tls = "encrypt"\n'
    )
    server.config.write_text(config)
    server.start()
    return server


def test_5xx_bounces_to_the_local_sender(tmp_path: Path, zones: tuple[Zones, str]) -> None:
    """The bounce goes to alice@example.test, whose MX is this server itself."""
    port = free_port()
    server = start_with_own_mx(tmp_path, zones, port)
    try:
        with smtp_sink("127.0.0.2", port, None, "-f", "RCPT"):
            submit(server, ["x@b.test"], "refused")
            wait_until(lambda: not envelopes(server), what="the bounce to be delivered")
        served = server.served
        assert served is not None
        served.wait_for(r"queue notification")
        server.stop()
        (bounce,) = mailbox(server, ALICE)
        assert b"Content-Type: multipart/report; report-type=delivery-status" in bounce
        assert b"Final-Recipient: rfc822;x@b.test" in bounce
        assert b"Action: failed" in bounce and b"Diagnostic-Code: smtp;500 5.3.0" in bounce
        assert b"Subject: refused 0" in bounce  # the original's header section
    finally:
        server.stop()


def test_kill_9_in_the_middle_of_a_run(tmp_path: Path, zones: tuple[Zones, str]) -> None:
    port = free_port()
    server = start(tmp_path, zones[1], port, "max_connections_per_domain = 1\n")
    count = 8
    try:
        # smtp-sink waits 1 s before answering each DATA: the run takes ~8 s.
        with smtp_sink("127.0.0.2", port, tmp_path / "dump", "-w", "1") as live:
            submit(server, ["x@b.test"], "crash", count)
            wait_until(lambda: len(sink_files(live)) >= 2, what="some deliveries")
            served = server.served
            assert served is not None
            served.signal(signal.SIGKILL)
            served.exit_status()
            served.close()
            before = len(sink_files(live))
            server.start()
            wait_until(lambda: not envelopes(server), timeout=60, what="the rest")
        subjects = [
            line
            for data in sink_files(tmp_path / "dump")
            for line in data.splitlines()
            if line.startswith(b"Subject: crash")
        ]
        assert set(subjects) == {f"Subject: crash {n}".encode() for n in range(count)}
        # At most the one message in flight at the kill is sent twice.
        assert len(subjects) - count <= 1, (before, len(subjects))
    finally:
        server.stop()


def age_queue(server: MailServer, seconds: float) -> None:
    """With the server stopped: make every queued message ``seconds`` old (on disk)."""
    spool = Spool(server.data_dir / "queue")
    for spool_id in spool.list_ids():
        envelope = spool.load_sync(spool_id)
        spool.update_sync(dataclasses.replace(envelope, created=time.time() - seconds))


def report_parts(raw: bytes) -> dict[str, email.message.Message]:
    """The parts of a multipart/report notification, by content type."""
    parsed = email.message_from_bytes(raw)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    return {part.get_content_type(): part for part in parsed.get_payload()}  # type: ignore[union-attr]


def test_delay_warning_then_expiry_bounce(tmp_path: Path, zones: tuple[Zones, str]) -> None:
    """Nothing listens at b.test's MX, so every attempt is deferred. With the defaults
    (warning after 4 hours, failure after 5 days), the message is aged on disk past each
    limit in turn; the running worker sends the delay notification, then gives up and
    sends the failure, and both arrive in the sender's mailbox."""
    port = free_port()  # nobody listens there
    server = start_with_own_mx(tmp_path, zones, port)
    try:
        submit(server, ["x@b.test"], "stuck")
        wait_until(
            lambda: any(
                r["attempts"] >= 1  # type: ignore[index]
                for e in envelopes(server)
                for r in e["recipients"]  # type: ignore[attr-defined]
            ),
            what="a deferred attempt",
        )
        server.stop()
        assert mailbox(server, ALICE) == []
        age_queue(server, 4 * 3600 + 60)
        server.start()
        wait_until(
            lambda: [e["extra"] for e in envelopes(server)] == [{"warned": "1"}],
            what="the warning to be sent and delivered",
        )
        server.stop()
        (warning,) = mailbox(server, ALICE)
        parts = report_parts(warning)
        status = parts["message/delivery-status"].as_bytes()
        assert b"Final-Recipient: rfc822;x@b.test" in status
        assert b"Action: delayed" in status and b"Will-Retry-Until:" in status
        assert b"Status: 4." in status and b"connect failed" in status
        headers = parts["text/rfc822-headers"].as_bytes()
        assert b"Subject: stuck 0" in headers and b"Hello from the queue" not in headers

        age_queue(server, 5 * 86400 + 60)
        server.start()
        wait_until(lambda: not envelopes(server), what="the failure to be sent and delivered")
        served = server.served
        assert served is not None
        served.wait_for(r"msg=\"queue attempt\" .*rcpt=x@b.test outcome=deferred")
        server.stop()
        first, failure = mailbox(server, ALICE)
        assert first == warning
        parts = report_parts(failure)
        status = parts["message/delivery-status"].as_bytes()
        assert b"Final-Recipient: rfc822;x@b.test" in status
        assert b"Action: failed" in status and b"Status: 5.4.7" in status
        assert b"gave up after" in status
        assert b"Subject: stuck 0" in parts["text/rfc822-headers"].as_bytes()
    finally:
        server.stop()
