"""POP3 and POP3S seen from outside: Python's poplib against a real ``mailkeep serve``."""

from __future__ import annotations

import asyncio
import poplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailkeep.app import store_root
from mailkeep.config.load import load_config
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX
from tests.mailserver import PASSWORD, MailServer, make_server

ALICE = "alice@example.test"
BOB = "bob@example.test"


def message(i: int, body_lines: int = 3) -> bytes:
    body = b"".join(b"line %d of message %d\r\n" % (n, i) for n in range(body_lines))
    return (
        b"From: carol@example.org\r\nTo: alice@example.test\r\n"
        b"Subject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\n.leading dot\r\n" % (i, i)
    ) + body


MESSAGES = [message(i) for i in range(5)] + [b"Subject: big\r\n\r\n" + b"x" * 100 + b"\r\n" * 1]
BIG = b"Subject: large\r\n\r\n" + (b"0123456789" * 7 + b"\r\n") * 30000  # ~2.1 MB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("pop3"))
    srv.add_user(ALICE)
    srv.add_user(BOB)
    srv.deliver_offline(ALICE, [*MESSAGES, BIG])
    srv.start()
    yield srv
    srv.stop()


def tls_context(server: MailServer) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    return context


def pop3s(server: MailServer, user: str = ALICE) -> poplib.POP3_SSL:
    """A logged-in POP3S client; waits briefly for a just-closed session to be let go."""
    for _ in range(50):
        try:
            return _login(server, user)
        except poplib.error_proto as exc:
            if b"IN-USE" not in exc.args[0]:
                raise
            time.sleep(0.05)
    return _login(server, user)


def _login(server: MailServer, user: str) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL(
        "localhost", server.ports["pop3s"], context=tls_context(server), timeout=10
    )
    try:
        client.user(user)
        client.pass_(PASSWORD)
    except poplib.error_proto:
        client.close()
        raise
    return client


def inbox_uids(server: MailServer, address: str) -> list[int]:
    user_id = server.user_id(address)

    async def run() -> list[int]:
        store = DiskStore(store_root(load_config(server.config)))
        try:
            return list((await store.select(user_id, INBOX)).uids)
        finally:
            await store.close()

    return asyncio.run(run())


def test_list_uidl_and_retr_return_the_delivered_bytes(server: MailServer) -> None:
    client = pop3s(server)
    try:
        count, size = client.stat()
        assert count == len(MESSAGES) + 1
        assert size == sum(map(len, MESSAGES)) + len(BIG)
        _, listing, _ = client.list()
        assert [int(line.split()[1]) for line in listing] == [len(m) for m in [*MESSAGES, BIG]]
        _, uidls, _ = client.uidl()
        ids = [line.split()[1] for line in uidls]
        assert len(set(ids)) == len(ids)
        for number, expected in enumerate([*MESSAGES, BIG], 1):
            _, lines, _ = client.retr(number)
            assert b"\r\n".join(lines) + b"\r\n" == expected
        _, top, _ = client.top(1, 1)
        assert top[-2:] == [b"", b".leading dot"]
    finally:
        client.quit()


def test_uidl_is_stable_across_sessions(server: MailServer) -> None:
    first = pop3s(server)
    _, one, _ = first.uidl()
    first.quit()
    second = pop3s(server)
    _, two, _ = second.uidl()
    second.quit()
    assert one == two


def test_plaintext_port_requires_stls(server: MailServer) -> None:
    client = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=10)
    try:
        assert "STLS" in client.capa()
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.user(ALICE)
        client.stls(tls_context(server))
        assert "STLS" not in client.capa()
        client.user(ALICE)
        client.pass_(PASSWORD)
        assert client.stat()[0] >= 1
    finally:
        client.quit()


def test_wrong_password_and_unknown_user(server: MailServer) -> None:
    client = poplib.POP3_SSL(
        "localhost", server.ports["pop3s"], context=tls_context(server), timeout=10
    )
    try:
        client.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.pass_("wrong")
        client.user("nobody@example.test")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.pass_(PASSWORD)
    finally:
        client.quit()


def test_second_session_is_in_use_until_the_first_quits(server: MailServer) -> None:
    first = pop3s(server)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        _login(server, ALICE)
    first.quit()
    pop3s(server).quit()


def test_dele_takes_effect_only_at_quit(server: MailServer) -> None:
    delivered = [message(100 + i) for i in range(3)]
    # bob's mailbox is only used here
    server.stop()
    server.deliver_offline(BOB, delivered)
    server.start()
    before = inbox_uids(server, BOB)
    assert len(before) == 3

    dropped = pop3s(server, BOB)
    dropped.dele(1)
    dropped.close()  # connection dropped without QUIT: nothing deleted
    client = pop3s(server, BOB)
    assert client.stat()[0] == 3
    client.dele(1)
    client.dele(3)
    client.quit()
    assert inbox_uids(server, BOB) == [before[1]]
    client = pop3s(server, BOB)
    _, lines, _ = client.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == delivered[1]
    client.quit()


def test_bad_commands_get_err_and_the_session_goes_on(server: MailServer) -> None:
    client = pop3s(server)
    try:
        for command in ("FROB", "LIST abc", "RETR 999", "TOP 1", "DELE 0"):
            with pytest.raises(poplib.error_proto, match="-ERR"):
                client._shortcmd(command)
        assert client.noop().startswith(b"+OK")
    finally:
        client.quit()


def test_ca_file_is_the_served_certificate(server: MailServer) -> None:
    assert Path(server.ca_file).is_file()


def test_uidl_survives_a_restart(server: MailServer) -> None:
    client = pop3s(server)
    _, before, _ = client.uidl()
    client.quit()
    server.stop()
    server.start()
    client = pop3s(server)
    _, after, _ = client.uidl()
    client.quit()
    assert before == after


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(
        tmp_path_factory.mktemp("pop3-limits"),
        "lockout_after_failures = 3\n[pop3]\nmax_connections_per_ip = 3\n",
    )
    srv.add_user(ALICE)
    srv.add_user(BOB)
    srv.start()
    yield srv
    srv.stop()


def test_repeated_failures_lock_the_user_out(strict_server: MailServer) -> None:
    for _ in range(3):
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client = poplib.POP3_SSL(
                "localhost",
                strict_server.ports["pop3s"],
                context=tls_context(strict_server),
                timeout=10,
            )
            try:
                client.user(BOB)
                client.pass_("wrong")
            finally:
                client.close()
    # now even the right password is refused, without being checked
    with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\] too many failed logins"):
        _login(strict_server, BOB)


def test_connections_per_ip_are_limited(strict_server: MailServer) -> None:
    # (after the lockout test this IP may not log in: open sessions are enough here)
    open_sessions = [
        poplib.POP3_SSL(
            "localhost", strict_server.ports["pop3s"], context=tls_context(strict_server)
        )
        for _ in range(3)
    ]
    try:
        context = tls_context(strict_server)
        with (
            socket.create_connection(("127.0.0.1", strict_server.ports["pop3s"]), 10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.recv(200).startswith(b"-ERR [SYS/TEMP] too many connections")
    finally:
        for session in open_sessions:
            session.close()
