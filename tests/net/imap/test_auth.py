"""Greeting, CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE PLAIN (SASL-IR), ID, ENABLE, LOGOUT."""

from __future__ import annotations

import base64
import imaplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from mailkeep.config.load import load_config
from mailkeep.errors import ConfigError
from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.imap.conftest import ALICE, imaps, tls_context


def plain(server: MailServer) -> imaplib.IMAP4:
    return imaplib.IMAP4("localhost", server.ports["imap"], timeout=20)


def test_plaintext_port_disables_login_until_starttls(server: MailServer) -> None:
    client = plain(server)
    try:
        caps = client.capabilities
        assert "LOGINDISABLED" in caps and "STARTTLS" in caps
        assert not any(c.startswith("AUTH=") for c in caps)
        typ, data = client._simple_command("LOGIN", ALICE, '"' + PASSWORD + '"')  # type: ignore[attr-defined]
        assert typ == "NO" and data[0].startswith(b"[PRIVACYREQUIRED]")
    finally:
        client.shutdown()


def test_starttls_then_login(server: MailServer) -> None:
    client = plain(server)
    try:
        client.starttls(tls_context(server))
        assert "LOGINDISABLED" not in client.capabilities
        assert "AUTH=PLAIN" in client.capabilities
        typ, _ = client.login(ALICE, PASSWORD)
        assert typ == "OK"
        typ, data = client.capability()
        assert b"IDLE" in data[0] and b"UIDPLUS" in data[0]
    finally:
        client.logout()


def test_starttls_twice_is_bad(server: MailServer) -> None:
    client = plain(server)
    try:
        client.starttls(tls_context(server))
        with pytest.raises(imaplib.IMAP4.error, match="TLS is already active"):
            client._simple_command("STARTTLS")  # type: ignore[attr-defined]
    finally:
        client.logout()


def test_wrong_password_is_authenticationfailed(server: MailServer) -> None:
    client = imaps(server, None)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login(ALICE, "wrong")
        typ, _ = client.login(ALICE, PASSWORD)  # the session goes on
        assert typ == "OK"
    finally:
        client.logout()


def test_authenticate_plain_with_challenge(server: MailServer) -> None:
    client = imaps(server, None)
    try:
        token = f"\0{ALICE}\0{PASSWORD}".encode()
        typ, _data = client.authenticate("PLAIN", lambda _challenge: token)
        assert typ == "OK"
        assert client.state == "AUTH"
    finally:
        client.logout()


def raw_session(server: MailServer) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=20)
    return tls_context(server).wrap_socket(sock, server_hostname="localhost")


def exchange(sock: ssl.SSLSocket, line: bytes, tag: bytes) -> bytes:
    sock.sendall(line + b"\r\n")
    out = b""
    while not any(ln.startswith(tag + b" ") for ln in out.split(b"\r\n")):
        chunk = sock.recv(65536)
        assert chunk, out
        out += chunk
    return out


def test_authenticate_plain_sasl_ir_and_id_enable(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        greeting = sock.recv(4096)
        assert greeting.startswith(b"* OK [CAPABILITY ") and b"SASL-IR" in greeting
        out = exchange(sock, b"a1 ID NIL", b"a1")
        assert b'* ID ("name" "mailkeep"' in out
        ir = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode())
        out = exchange(sock, b"a2 AUTHENTICATE PLAIN " + ir, b"a2")
        assert out.startswith(b"a2 OK [CAPABILITY IMAP4rev1 IMAP4rev2"), out
        out = exchange(sock, b"a3 ENABLE IMAP4rev2", b"a3")
        assert b"* ENABLED IMAP4rev2\r\n" in out
        out = exchange(sock, b"a4 SELECT INBOX", b"a4")
        assert b"RECENT" not in out  # IMAP4rev2 has no \Recent
        assert b'* LIST () "/" "INBOX"' in out or b'* LIST () "/" INBOX' in out
        out = exchange(sock, b"a5 SEARCH ALL", b"a5")
        assert b'* ESEARCH (TAG "a5") ALL 1' in out  # RFC 9051 answers with ESEARCH
        out = exchange(sock, b"a6 LOGOUT", b"a6")
        assert b"* BYE" in out and b"a6 OK" in out
    finally:
        sock.close()


def test_commands_need_login(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        out = exchange(sock, b"x1 SELECT INBOX", b"x1")
        assert out.startswith(b"x1 BAD")
        out = exchange(sock, b"x2 NOOP", b"x2")
        assert out.startswith(b"x2 OK")
    finally:
        sock.close()


def test_bad_commands_keep_the_session(connect: Callable[..., imaplib.IMAP4_SSL]) -> None:
    client = connect()
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        client.xatom("FROBNICATE")
    assert client.noop()[0] == "OK"


def test_commands_pipelined_after_starttls_are_dropped(server: MailServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=20)
    try:
        sock.recv(4096)
        sock.sendall(b"s1 STARTTLS\r\ns2 LOGIN alice@example.test x\r\n")
        assert sock.recv(4096).startswith(b"s1 OK")
        tls = tls_context(server).wrap_socket(sock, server_hostname="localhost")
        out = exchange(tls, b"s3 NOOP", b"s3")
        assert b"s2" not in out and out.startswith(b"s3 OK")
        tls.close()
    finally:
        sock.close()


def test_authenticate_cancelled_then_login(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        sock.sendall(b"c1 AUTHENTICATE PLAIN\r\n")
        assert sock.recv(4096).startswith(b"+")
        out = exchange(sock, b"*", b"c1")
        assert out.startswith(b"c1 BAD")
        out = exchange(sock, f'c2 LOGIN {ALICE} "{PASSWORD}"'.encode(), b"c2")
        assert out.startswith(b"c2 OK")
    finally:
        sock.close()


def test_unauthenticate_then_login_as_another_user(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        exchange(sock, f'u1 LOGIN {ALICE} "{PASSWORD}"'.encode(), b"u1")
        exchange(sock, b"u2 SELECT INBOX", b"u2")
        out = exchange(sock, b"u3 UNAUTHENTICATE", b"u3")
        assert out.startswith(b"u3 OK")
        assert exchange(sock, b'u4 LIST "" *', b"u4").startswith(b"u4 BAD")
        out = exchange(sock, b'u5 LOGIN bob@example.test "' + PASSWORD.encode() + b'"', b"u5")
        assert out.startswith(b"u5 OK")
        out = exchange(sock, b"u6 STATUS INBOX (MESSAGES)", b"u6")
        assert b"u6 OK" in out
    finally:
        sock.close()


def test_plaintext_login_from_a_trusted_network(tmp_path: Path) -> None:
    """imap.plaintext_login_networks lets loopback clients (a webmail on the host) log in
    without STARTTLS; other networks in the list change nothing for the rest."""
    srv = make_server(tmp_path, '[imap]\nplaintext_login_networks = ["10.0.0.0/8", "127.0.0.1"]\n')
    srv.add_user(ALICE)
    srv.start()
    try:
        client = plain(srv)
        assert "LOGINDISABLED" not in client.capabilities
        assert "AUTH=PLAIN" in client.capabilities and "STARTTLS" in client.capabilities
        typ, _ = client.login(ALICE, PASSWORD)
        assert typ == "OK"
        typ, data = client.select("INBOX")
        assert typ == "OK" and data == [b"0"]
        client.logout()
    finally:
        srv.stop()


def test_plaintext_login_networks_must_be_networks(tmp_path: Path) -> None:
    path = tmp_path / "mailkeep.toml"
    path.write_text('[imap]\nplaintext_login_networks = ["localhost"]\n')
    with pytest.raises(ConfigError, match=r"imap\.plaintext_login_networks.*is not a network"):
        load_config(path)
