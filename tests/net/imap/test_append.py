"""APPEND and MULTIAPPEND: flags, internal date, APPENDUID, TRYCREATE, APPENDLIMIT."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, message
from tests.net.imap.test_auth import exchange, raw_session

Connect = Callable[..., imaplib.IMAP4_SSL]


def test_append_with_flags_and_date(connect: Connect) -> None:
    client = connect(BOB)
    client.create("app-a")
    date = imaplib.Time2Internaldate(1700000000)
    typ, data = client.append("app-a", "(\\Seen $Label1)", date, message(1))
    assert typ == "OK" and data[0].startswith(b"[APPENDUID ")  # type: ignore[union-attr]
    assert bytes(data[0]).split()[2] == b"1]"  # type: ignore[arg-type]
    client.select("app-a")
    _, data = client.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert b"\\Seen" in bytes(data[0][0]) and b"$Label1" in bytes(data[0][0])  # type: ignore[index]
    assert b"14-Nov-2023" in bytes(data[0][0])  # type: ignore[index]
    assert data[0][1] == message(1)  # type: ignore[index]


def test_append_to_missing_mailbox_says_trycreate(connect: Connect) -> None:
    client = connect(BOB)
    typ, data = client.append("nowhere", None, None, message(1))
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")  # type: ignore[union-attr]


def test_append_8bit_and_binary_bytes_round_trip(connect: Connect) -> None:
    client = connect(BOB)
    client.create("app-8bit")
    # 8-bit octets in the body; in the header only after ENABLE (RFC 6855 4, test_utf8.py)
    raw = b"Subject: cafe\r\n\r\ncaf\xc3\xa9 \xff\xfe bytes \x01\r\n"
    assert client.append("app-8bit", None, None, raw)[0] == "OK"
    client.select("app-8bit")
    _, data = client.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == raw  # type: ignore[index]


def test_multiappend_and_appendlimit(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        out = exchange(sock, b"a1 LOGIN " + BOB.encode() + b' "' + PASSWORD.encode() + b'"', b"a1")
        assert b"APPENDLIMIT=" in out
        exchange(sock, b"a2 CREATE multi", b"a2")
        first, second = message(1), message(2)
        line = (
            b"a3 APPEND multi (\\Seen) {%d+}\r\n" % len(first)
            + first
            + b" {%d+}\r\n" % len(second)
            + second
        )
        out = exchange(sock, line, b"a3")
        assert b"a3 OK [APPENDUID " in out and b" 1:2] " in out
        out = exchange(sock, b"a4 APPEND multi {999999999999}", b"a4")
        assert b"a4 NO [TOOBIG]" in out or b"a4 BAD [TOOBIG]" in out
        out = exchange(sock, b"a5 STATUS multi (MESSAGES)", b"a5")
        assert b"(MESSAGES 2)" in out
    finally:
        sock.close()
