"""SMTP session limits end to end on a real ``mailkeep serve``: early talkers, connections
per IP, message rates, idle timeout, and a SIGTERM in the middle of DATA."""

from __future__ import annotations

import signal
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.test_smtp_server import RawSession, add_users, addr, mailbox, strip_trace

LIMITS = (
    "[smtp]\ngreet_pause_seconds = 0.5\nmax_connections_per_ip = 3\n"
    "messages_per_minute_per_ip = 3\ncommand_timeout_seconds = 10\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("smtp-sessions"), LIMITS)
    add_users(srv, ["alice"], {})
    srv.start()
    yield srv
    srv.stop()


def test_early_talker_on_the_mx_is_refused(server: MailServer) -> None:
    with socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=5) as sock:
        sock.sendall(b"EHLO bot.example\r\n")  # before the greeting
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    # No enhanced code before EHLO (RFC 2034 3).
    assert data.startswith(b"554 ") and data.count(b"\r\n") == 1


def test_a_polite_client_gets_the_greeting_after_the_pause(server: MailServer) -> None:
    started = time.monotonic()
    session = RawSession(server.ports["smtp"])
    try:
        code, _ = session.reply()
        assert code == 220
        assert time.monotonic() - started >= 0.45
    finally:
        session.close()


def test_connections_per_ip_are_limited(server: MailServer) -> None:
    open_sessions = [RawSession(server.ports["submission"]) for _ in range(3)]
    try:
        for session in open_sessions:
            assert session.reply()[0] == 220
        extra = RawSession(server.ports["submission"])
        try:
            code, lines = extra.reply()
            assert code == 421 and b"Too many connections" in lines[0]
        finally:
            extra.close()
    finally:
        for session in open_sessions:
            session.close()


def test_messages_per_minute_per_ip_are_limited(server: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as client:
        client.ehlo()
        codes = []
        for _ in range(4):
            code, text = client.mail("x@example.org")
            codes.append((code, text[:5]))
            client.rset()
    assert codes[3] == (451, b"4.7.1")
    assert [code for code, _ in codes[:3]] == [250, 250, 250]


def test_idle_session_times_out_with_421(server: MailServer) -> None:
    session = RawSession(server.ports["submission"])
    try:
        assert session.reply()[0] == 220
        session.sock.settimeout(30)
        started = time.monotonic()
        code, lines = session.reply()  # nothing sent: the server gives up
        assert code == 421 and b"Timeout" in lines[0]
        assert 9 <= time.monotonic() - started < 20
    finally:
        session.close()


def test_sigterm_during_data_lets_the_transaction_finish(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    srv = make_server(tmp_path_factory.mktemp("smtp-sigterm"), "[smtp]\ngreet_pause_seconds = 0\n")
    add_users(srv, ["alice"], {})
    served = srv.start()
    raw = b"Subject: in flight\r\n\r\n" + b"line\r\n" * 1000
    session = RawSession(srv.ports["smtp"])
    try:
        session.reply()
        session.command(b"EHLO c.example")
        session.command(b"MAIL FROM:<x@example.org>")
        session.command(b"RCPT TO:<alice@example.test>")
        assert session.command(b"DATA")[0] == 354
        session.send(raw[:100])
        mark = len(served.lines)
        served.signal(signal.SIGTERM)
        served.wait_for(r"msg=\"shutting down\"", start=mark)
        session.send(raw[100:] + b".\r\n")
        code, _ = session.reply()
        assert code == 250
        # Between transactions the stopping server says goodbye.
        code, _ = session.command(b"MAIL FROM:<x@example.org>")
        assert code == 421
    finally:
        session.close()
        assert served.exit_status() == 0
        served.close()
    srv.served = None
    [stored] = mailbox(srv, addr("alice"))
    assert strip_trace(stored) == raw


def test_auth_on_the_mx_relays_and_user_rate_is_limited(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    srv = make_server(
        tmp_path_factory.mktemp("smtp-auth-mx"),
        "[smtp]\ngreet_pause_seconds = 0\nmessages_per_minute_per_user = 3\n"
        '[smtp_limits]\nauth_on_mx = true\n[dns]\nnameservers = ["127.0.0.1:9"]\n',
    )
    add_users(srv, ["alice"], {})
    srv.start()
    try:
        context = ssl.create_default_context(cafile=str(srv.ca_file))
        with smtplib.SMTP("localhost", srv.ports["smtp"], timeout=10) as client:
            client.ehlo()
            client.mail("x@example.org")
            assert client.rcpt("far@remote.example")[0] == 550
            client.rset()
            client.starttls(context=context)
            client.login(addr("alice"), PASSWORD)
            raw = f"From: {addr('alice')}\r\nSubject: relayed\r\n\r\nhi\r\n".encode()
            # Logged in: the submission policy, so relaying is allowed...
            assert client.sendmail(addr("alice"), ["far@remote.example"], raw) == {}
            # ...and the sender is checked.
            code, _ = client.mail(addr("bob"))
            assert code == 550
            client.rset()
            # Every MAIL counts, refused or not: this is the third this minute.
            assert client.mail(addr("alice"))[0] == 250
            client.rset()
            code, text = client.mail(addr("alice"))
            assert (code, text[:5]) == (451, b"4.7.1")
    finally:
        srv.stop()
    envelopes = list((srv.data_dir / "queue" / "envelopes").glob("*.json"))
    assert any(b"far@remote.example" in p.read_bytes() for p in envelopes)
