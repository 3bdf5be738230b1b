"""SMTP MX, submission and submissions seen from outside: Python's smtplib and raw sockets
against a real ``mailkeep serve``; every accepted message is read back from the store."""

from __future__ import annotations

import asyncio
import json
import random
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.app import store_root
from mailkeep.config.load import load_config
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX
from tests.mailserver import PASSWORD, MailServer, make_server

# Remote recipients stay in the spool for the tests to read: the queue worker's DNS
# lookups go to a closed port, so every attempt is a temporary failure.
# The MX's sender checks get temperror from that DNS too: bounded to 1 s, recorded only.
SETTINGS = (
    "[smtp]\ngreet_pause_seconds = 0\n[smtp_limits]\nmax_errors = 5\n"
    '[dns]\nnameservers = ["127.0.0.1:9"]\n'
    '[mailauth]\ncheck_timeout_seconds = 1\ndmarc_policy = "record"\n'
)
USERS = (
    "alice", "bob", "carol", "dave", "erin", "full", "subm", "tls", "bdat", "lock", "spoolfail"
)  # fmt: skip


def addr(name: str) -> str:
    return f"{name}@example.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("smtp"), SETTINGS)
    add_users(srv, USERS, quotas={"full": 1})
    srv.cli("alias", "add", addr("team"), addr("carol"), addr("dave"), "outside@remote.example")
    srv.cli("alias", "add", addr("split"), addr("spoolfail"), "far@remote.example")
    srv.start()
    yield srv
    srv.stop()


def add_users(server: MailServer, names: Iterable[str], quotas: dict[str, int]) -> None:
    """Users made in-process (one process start instead of one per user);
    ``quotas`` gives message-count limits."""
    with Directory(server.data_dir / DATABASE_NAME) as directory:
        for name in names:
            directory.add_user(addr(name), PASSWORD, quota_messages=quotas.get(name, 0))


def mailbox(server: MailServer, address: str) -> list[bytes]:
    """Every message in the user's INBOX, as stored, oldest first."""
    user_id = server.user_id(address)

    async def run() -> list[bytes]:
        store = DiskStore(store_root(load_config(server.config)))
        try:
            snapshot = await store.select(user_id, INBOX)
            return [
                await store.read_message(user_id, snapshot.status.id, uid) for uid in snapshot.uids
            ]
        finally:
            await store.close()

    return asyncio.run(run())


def strip_trace(stored: bytes) -> bytes:
    """The message without the fields the server put on top: Return-Path, Received, and
    the MX's Authentication-Results and X-DNSBL or submission's DKIM-Signature fields."""
    pattern = re.compile(
        rb"\A(?:Return-Path: [^\r\n]*\r\n)?(?:Received: [^\r\n]*\r\n(?:\t[^\r\n]*\r\n)*)"
        rb"(?:(?:Authentication-Results|X-DNSBL|DKIM-Signature): [^\r\n]*\r\n"
        rb"(?:[ \t][^\r\n]*\r\n)*)*"
    )
    match = pattern.match(stored)
    assert match is not None, stored[:300]
    return stored[match.end() :]


def spooled(server: MailServer) -> list[dict[str, object]]:
    envelopes = sorted((server.data_dir / "queue" / "envelopes").glob("*.json"))
    return [json.loads(p.read_bytes()) for p in envelopes]


def tls_context(server: MailServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def mx(server: MailServer) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10)


def submission(server: MailServer, user: str) -> smtplib.SMTP:
    client = smtplib.SMTP("localhost", server.ports["submission"], timeout=10)
    client.starttls(context=tls_context(server))
    client.login(addr(user), PASSWORD)
    return client


def message(subject: str, sender: str = "someone@example.org", body: bytes = b"Hello.") -> bytes:
    return (
        f"From: {sender}\r\nTo: somebody\r\nSubject: {subject}\r\n"
        "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\n".encode()
        + body
        + b"\r\n.a line with a leading dot\r\n"
    )


class RawSession:
    """A line-level SMTP client over a plain socket, for what smtplib will not send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def reply(self) -> tuple[int, list[bytes]]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: bytes) -> tuple[int, list[bytes]]:
        self.send(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


# --- MX ------------------------------------------------------------------------------------


def test_mx_delivers_the_bytes_with_trace_fields(server: MailServer) -> None:
    raw = message("mx plain")
    with mx(server) as client:
        client.ehlo("client.example.org")
        assert client.sendmail("x@example.org", [addr("alice")], raw) == {}
    [stored] = mailbox(server, addr("alice"))
    assert stored.startswith(b"Return-Path: <x@example.org>\r\nReceived: from client.example.org")
    assert b"\tfor <alice@example.test>;" in stored
    assert b"with ESMTP id " in stored
    assert strip_trace(stored) == raw


def test_mx_over_starttls_names_the_cipher(server: MailServer) -> None:
    raw = message("mx tls")
    with smtplib.SMTP("localhost", server.ports["smtp"], timeout=10) as client:
        client.starttls(context=tls_context(server))
        assert client.sendmail("x@example.org", [addr("tls")], raw) == {}
    [stored] = mailbox(server, addr("tls"))
    assert b"with ESMTPS id" in stored
    assert re.search(rb"\ttls TLS_\w+ \(TLSv1\.[23] \d+ bits\);", stored)
    assert strip_trace(stored) == raw


@pytest.mark.parametrize(
    ("rcpt", "code", "enhanced"),
    [
        ("nobody@example.test", 550, b"5.1.1"),
        ("someone@remote.example", 550, b"5.7.1"),
        ("alice@[127.0.0.1]", 550, b"5.7.1"),
        ('"someone@remote.example"@example.test', 550, b"5.1.1"),
        ("someone%remote.example@example.test", 550, b"5.1.1"),
        ("remote.example!someone@example.test", 550, b"5.1.1"),
        ("@example.test:someone@remote.example", 550, b"5.7.1"),
    ],
)
def test_mx_refuses_unknown_users_and_relaying(
    server: MailServer, rcpt: str, code: int, enhanced: bytes
) -> None:
    with mx(server) as client:
        client.ehlo()
        client.mail("x@example.org")
        got, text = client.rcpt(f"<{rcpt}>" if rcpt.startswith("@") else rcpt)
        assert (got, text[:5]) == (code, enhanced)
        assert not any(e["mail_from"] == "x@example.org" for e in spooled(server))


def test_mx_alias_reaches_local_users_and_spools_the_remote_target(server: MailServer) -> None:
    raw = message("alias")
    with mx(server) as client:
        client.ehlo()
        client.mail("list-sender@example.org")
        client.rcpt(addr("team"), ["NOTIFY=FAILURE,DELAY"])
        client.rcpt("bob+tag@example.test")
        code, _ = client.data(raw)
        assert code == 250
    for name in ("carol", "dave", "bob"):
        [stored] = mailbox(server, addr(name))
        assert strip_trace(stored) == raw
    [envelope] = [e for e in spooled(server) if e["mail_from"] == "list-sender@example.org"]
    recipients = envelope["recipients"]
    assert isinstance(recipients, list)
    assert [r["address"] for r in recipients] == ["outside@remote.example"]
    assert recipients[0]["notify"] == ["DELAY", "FAILURE"]
    assert recipients[0]["orcpt"] == ["rfc822", "team@example.test"]
    # The spooled copy has our Received field but no Return-Path (not final delivery).
    spooled_bytes = (server.data_dir / "queue" / "messages" / f"{envelope['id']}.eml").read_bytes()
    assert spooled_bytes.startswith(b"Received: ")
    assert strip_trace(spooled_bytes) == raw


def test_a_spool_failure_gets_451_and_the_retry_delivers_once(server: MailServer) -> None:
    """The queue spool's directory is broken (a real write failure) while a message for a
    local and a remote recipient arrives: 451, and the client's retry makes one copy."""
    raw = message("spool failure")
    messages = server.data_dir / "queue" / "messages"
    away = messages.with_name("messages.away")
    messages.rename(away)
    messages.write_bytes(b"")
    try:
        with mx(server) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("retrying@example.org", [addr("split")], raw)
            assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (451, b"4.3.0")
    finally:
        messages.unlink()
        away.rename(messages)
    assert mailbox(server, addr("spoolfail")) == []
    with mx(server) as client:
        assert client.sendmail("retrying@example.org", [addr("split")], raw) == {}
    [stored] = mailbox(server, addr("spoolfail"))
    assert strip_trace(stored) == raw
    [envelope] = [e for e in spooled(server) if e["mail_from"] == "retrying@example.org"]
    assert [r["address"] for r in envelope["recipients"]] == ["far@remote.example"]  # type: ignore[union-attr]


def test_mx_quota_full_is_a_temporary_refusal(server: MailServer) -> None:
    with mx(server) as client:
        assert client.sendmail("x@example.org", [addr("full")], message("first")) == {}
        client.mail("x@example.org")
        code, text = client.rcpt(addr("full"))
        assert (code, text[:5]) == (452, b"4.2.2")
    assert len(mailbox(server, addr("full"))) == 1


def test_mx_does_not_offer_auth(server: MailServer) -> None:
    with mx(server) as client:
        client.ehlo()
        assert not client.has_extn("auth")


# --- submission ------------------------------------------------------------------------------


def test_submission_delivers_locally_and_spools_remote_with_dsn(server: MailServer) -> None:
    raw = message("submitted", sender=addr("subm"))
    with submission(server, "subm") as client:
        client.mail(addr("subm"), ["RET=HDRS", "ENVID=env-42"])
        assert client.rcpt(addr("erin"))[0] == 250
        assert client.rcpt("friend@remote.example", ["NOTIFY=SUCCESS"])[0] == 250
        code, text = client.data(raw)
        assert code == 250, text
    [stored] = mailbox(server, addr("erin"))
    assert b"with ESMTPSA id" in stored
    assert strip_trace(stored) == raw
    [envelope] = [e for e in spooled(server) if e["mail_from"] == addr("subm")]
    assert envelope["ret"] == "HDRS"
    assert envelope["envid"] == "env-42"
    assert envelope["authenticated_as"] == addr("subm")
    recipients = envelope["recipients"]
    assert isinstance(recipients, list)
    assert [(r["address"], r["notify"]) for r in recipients] == [
        ("friend@remote.example", ["SUCCESS"])
    ]


def test_submission_adds_date_and_message_id_when_missing(server: MailServer) -> None:
    raw = f"From: {addr('subm')}\r\nSubject: bare\r\n\r\nno date\r\n".encode()
    with submission(server, "subm") as client:
        assert client.sendmail(addr("subm"), [addr("subm")], raw) == {}
    [stored] = [m for m in mailbox(server, addr("subm")) if b"Subject: bare" in m]
    body = strip_trace(stored)
    assert re.match(rb"Date: [^\r\n]+\r\nMessage-ID: <[0-9a-f]+@mail\.example\.test>\r\n", body)
    assert body.endswith(raw)


def test_submission_refuses_a_sender_the_user_does_not_own(server: MailServer) -> None:
    with submission(server, "subm") as client:
        code, text = client.mail(addr("alice"))
        assert (code, text[:5]) == (550, b"5.7.1")
        assert b"subm@example.test may send as" in text
        assert client.mail(addr("subm"))[0] == 250
        client.rcpt(addr("erin"))
        code, text = client.data(message("forged", sender=addr("alice")))
        assert (code, text[:5]) == (550, b"5.7.1")
        assert b"From header address alice@example.test" in text


def test_submission_requires_tls_and_auth(server: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        code, text = client.mail(addr("subm"))
        assert (code, text[:5]) == (530, b"5.7.0")
        client.starttls(context=tls_context(server))
        client.ehlo()
        code, _ = client.mail(addr("subm"))
        assert code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(addr("subm"), "wrong password")


def test_submissions_implicit_tls(server: MailServer) -> None:
    raw = message("implicit", sender=addr("subm"))
    context = tls_context(server)
    with smtplib.SMTP_SSL("localhost", server.ports["submissions"], context=context) as client:
        client.login(addr("subm"), PASSWORD)
        assert client.sendmail(addr("subm"), [addr("erin")], raw) == {}
    stored = [m for m in mailbox(server, addr("erin")) if b"Subject: implicit" in m]
    assert [strip_trace(m) for m in stored] == [raw]


# --- BDAT and attacks over a real socket -------------------------------------------------------


def test_bdat_chunks_are_delivered_whole(server: MailServer) -> None:
    raw = message("chunked", body=b"binary-ish \x01\x02 body\r\n" * 100)
    session = RawSession(server.ports["smtp"])
    try:
        assert session.reply()[0] == 220
        assert session.command(b"EHLO c.example")[0] == 250
        session.send(
            b"MAIL FROM:<x@example.org> BODY=BINARYMIME\r\nRCPT TO:<bdat@example.test>\r\n"
        )
        assert session.reply()[0] == 250
        assert session.reply()[0] == 250
        half = len(raw) // 2
        session.send(b"BDAT %d\r\n" % half + raw[:half])
        assert session.reply()[0] == 250
        session.send(b"BDAT %d LAST\r\n" % (len(raw) - half) + raw[half:])
        assert session.reply()[0] == 250
        assert session.command(b"QUIT")[0] == 221
    finally:
        session.close()
    [stored] = mailbox(server, addr("bdat"))
    assert strip_trace(stored) == raw
    assert server.served is not None
    server.served.wait_for(r"msg=\"message accepted\".* chunked=True")


def test_starttls_injection_is_never_executed(server: MailServer) -> None:
    session = RawSession(server.ports["smtp"])
    try:
        session.reply()
        session.command(b"EHLO c.example")
        # Commands pipelined after STARTTLS in the same packet (RFC 3207 5 attack).
        session.send(
            b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@example.test>\r\n"
        )
        assert session.reply()[0] == 220
        context = tls_context(server)
        tls = context.wrap_socket(session.sock, server_hostname="localhost")
        tls_file = tls.makefile("rb")
        tls.sendall(b"RCPT TO:<alice@example.test>\r\n")
        line = tls_file.readline()
        assert line.startswith(b"503"), line  # no MAIL was ever executed
        tls.sendall(b"QUIT\r\n")
        tls_file.close()
        tls.close()
    finally:
        session.file.close()


@pytest.mark.parametrize(
    "smuggled",
    [
        b"\n.\nMAIL FROM:<evil@example.org>\n",
        b"\r\n.\nMAIL FROM:<evil@example.org>\r\n",
        b"\n.\r\nMAIL FROM:<evil@example.org>\r\n",
        b"\r.\r\nMAIL FROM:<evil@example.org>\r\n",
    ],
)
def test_smuggling_cannot_end_data_or_start_a_second_message(
    server: MailServer, smuggled: bytes
) -> None:
    session = RawSession(server.ports["smtp"])
    before = len(mailbox(server, addr("alice")))
    try:
        session.reply()
        session.command(b"EHLO c.example")
        session.command(b"MAIL FROM:<x@example.org>")
        session.command(b"RCPT TO:<alice@example.test>")
        assert session.command(b"DATA")[0] == 354
        session.send(
            b"Subject: smuggle\r\n\r\nfirst" + smuggled + b"RCPT TO:<alice@example.test>\r\n"
        )
        session.send(b"DATA\r\nSubject: second\r\n\r\nx\r\n.\r\n")
        code, lines = session.reply()
        assert (code, lines[0][4:9]) == (554, b"5.6.0")
        assert session.command(b"NOOP")[0] == 250  # the session goes on
    finally:
        session.close()
    assert len(mailbox(server, addr("alice"))) == before


def test_error_limit_closes_with_421(server: MailServer) -> None:
    session = RawSession(server.ports["smtp"])
    try:
        session.reply()
        codes = [session.command(b"BOGUS")[0] for _ in range(5)]
        assert codes == [500] * 5
        session.send(b"NOOP\r\n")
        assert session.reply()[0] == 421
        try:  # closed; a reset when our side closed with the NOOP still unread
            assert session.file.readline() == b""
        except ConnectionResetError:
            pass
    finally:
        session.close()


def test_header_injection_through_the_envelope_is_refused(server: MailServer) -> None:
    session = RawSession(server.ports["smtp"])
    try:
        session.reply()
        session.command(b"EHLO c.example")
        code, _ = session.command(b"MAIL FROM:<x@example.org\rX-Injected: 1>")
        assert code == 501
    finally:
        session.close()


def test_failed_logins_lock_out(tmp_path: Path) -> None:
    # make_server's extra text continues its [logins] table.
    srv = make_server(tmp_path, "lockout_after_failures = 2\n[smtp]\ngreet_pause_seconds = 0\n")
    add_users(srv, ["lock"], {})
    srv.start()
    try:
        with smtplib.SMTP("localhost", srv.ports["submission"], timeout=10) as client:
            client.starttls(context=tls_context(srv))
            for _ in range(2):  # smtplib tries PLAIN, then LOGIN: two failures each
                with pytest.raises(smtplib.SMTPAuthenticationError):
                    client.login(addr("lock"), "wrong")
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.login(addr("lock"), PASSWORD)
            assert refused.value.smtp_code == 454
    finally:
        srv.stop()


def test_nul_in_data_refuses_the_message_only(server: MailServer) -> None:
    session = RawSession(server.ports["smtp"])
    before = len(mailbox(server, addr("alice")))
    try:
        session.reply()
        session.command(b"EHLO c.example")
        session.command(b"MAIL FROM:<x@example.org>")
        session.command(b"RCPT TO:<alice@example.test>")
        assert session.command(b"DATA")[0] == 354
        code, lines = session.command(b"Subject: nul\r\n\r\na\x00b\r\n.")
        assert (code, lines[0][4:9]) == (554, b"5.6.0")
        assert session.command(b"NOOP")[0] == 250
    finally:
        session.close()
    assert len(mailbox(server, addr("alice"))) == before


def test_declared_size_over_the_limit_is_refused(server: MailServer) -> None:
    with mx(server) as client:
        client.ehlo()
        code, text = client.mail("x@example.org", ["SIZE=999999999999"])
        assert (code, text[:5]) == (552, b"5.3.4")


def test_helo_session_gets_plain_smtp_trace(server: MailServer) -> None:
    raw = b"Subject: helo\r\n\r\nold client\r\n"
    session = RawSession(server.ports["smtp"])
    try:
        session.reply()
        assert session.command(b"HELO old.example")[0] == 250
        session.command(b"MAIL FROM:<x@example.org>")
        session.command(b"RCPT TO:<dave@example.test>")
        session.command(b"DATA")
        assert session.command(raw + b".")[0] == 250
    finally:
        session.close()
    stored = [m for m in mailbox(server, addr("dave")) if m.endswith(raw)]
    assert len(stored) == 1
    assert b"Received: from old.example ([127.0.0.1])\r\n" in stored[0]
    assert b"\twith SMTP id " in stored[0]


def test_a_failed_starttls_handshake_closes_only_that_connection(server: MailServer) -> None:
    session = RawSession(server.ports["smtp"])
    try:
        session.reply()
        session.command(b"EHLO c.example")
        assert session.command(b"STARTTLS")[0] == 220
        session.send(b"this is not a TLS ClientHello\r\n" * 4)
        assert session.file.read() == b""  # closed, nothing sent in clear
    finally:
        session.close()
    with mx(server) as client:  # the server goes on
        assert client.noop()[0] == 250


def test_random_bytes_never_break_the_server(server: MailServer) -> None:
    rng = random.Random(25)
    assert server.served is not None
    mark = len(server.served.lines)
    pieces = [b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<alice@example.test>\r\n", b"DATA\r\n",
              b"BDAT 5\r\n", b"\r\n.\r\n", b"\x00", b"\xff\xfe", b"AUTH PLAIN\r\n", b"=\r\n",
              b"EHLO x\r\n", b"STARTTLS\r\n", b"\n", b"\r"]  # fmt: skip
    for _ in range(30):
        junk = b"".join(
            rng.choice(pieces) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 40))
            for _ in range(rng.randint(1, 30))
        )
        with socket.create_connection(("127.0.0.1", server.ports["smtp"]), timeout=10) as sock:
            sock.sendall(b"EHLO fuzz\r\n" + junk)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
    with mx(server) as client:
        assert client.noop()[0] == 250
    errors = [line for line in server.served.lines[mark:] if "level=error" in line]
    assert errors == []
