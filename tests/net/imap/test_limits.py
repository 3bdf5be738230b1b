"""Session limits: connections per IP and per user, commands before login, bad commands,
the timer before login, failed-login throttling."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.imap.conftest import ALICE, tls_context
from tests.net.imap.test_auth import exchange

LIMITS = """
[imap]
max_connections_per_ip = 4
max_connections_per_user = 2
max_bad_commands = 3
max_commands_before_login = 6
login_timeout_seconds = 1
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("imap-limits"), LIMITS)
    srv.add_user(ALICE)
    srv.start()
    yield srv
    srv.stop()


def connect(server: MailServer) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=20)
    tls = tls_context(server).wrap_socket(sock, server_hostname="localhost")
    return tls


def read_all(sock: ssl.SSLSocket) -> bytes:
    out = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return out
        out += chunk


def login(sock: ssl.SSLSocket) -> bytes:
    sock.recv(4096)
    return exchange(sock, f'a LOGIN {ALICE} "{PASSWORD}"'.encode(), b"a")


def test_connections_per_ip(limited: MailServer) -> None:
    socks = [connect(limited) for _ in range(4)]
    try:
        for s in socks:
            assert s.recv(4096).startswith(b"* OK")
        extra = connect(limited)
        assert read_all(extra).startswith(b"* BYE too many connections")
        extra.close()
    finally:
        for s in socks:
            s.close()


def test_sessions_per_user(limited: MailServer) -> None:
    socks = [connect(limited) for _ in range(3)]
    try:
        assert login(socks[0]).startswith(b"a OK")
        assert login(socks[1]).startswith(b"a OK")
        assert login(socks[2]).startswith(b"a NO [LIMIT]")
    finally:
        for s in socks:
            s.close()


def test_bad_commands_end_the_session(limited: MailServer) -> None:
    sock = connect(limited)
    try:
        sock.recv(4096)
        for i in range(2):
            assert exchange(sock, b"b%d FROB" % i, b"b%d" % i).startswith(b"b%d BAD" % i)
        sock.sendall(b"b9 FROB\r\n")
        out = read_all(sock)
        assert b"b9 BAD" in out and b"* BYE too many bad commands" in out
    finally:
        sock.close()


def test_commands_before_login_are_bounded(limited: MailServer) -> None:
    sock = connect(limited)
    try:
        sock.recv(4096)
        for i in range(6):
            assert exchange(sock, b"n%d NOOP" % i, b"n%d" % i).startswith(b"n%d OK" % i)
        sock.sendall(b"n9 NOOP\r\n")
        assert b"* BYE too many commands before login" in read_all(sock)
    finally:
        sock.close()


def test_silence_before_login_times_out(limited: MailServer) -> None:
    sock = connect(limited)
    try:
        sock.recv(4096)
        assert b"* BYE autologout" in read_all(sock)
    finally:
        sock.close()
