"""Bad input through the real server: every malformed command gets a tagged BAD or NO with
a reason and the session goes on; an oversized literal is refused before it is sent;
names that try to leave the user's tree are refused; other sessions are not disturbed."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable

import pytest

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB
from tests.net.imap.test_auth import exchange, raw_session

Connect = Callable[..., imaplib.IMAP4_SSL]

MALFORMED = [
    b"FETCH 1 (FLAGS",
    b"FETCH 0 FLAGS",
    b"FETCH 1:* (BODY[1.2.X])",
    b"FETCH 1 (BODY[]<5.0>)",
    b"UID FETCH * (NOSUCHITEM)",
    b"SEARCH FROB",
    b"SEARCH OR SEEN",
    b"SEARCH BEFORE 31-Foo-2020",
    b"SEARCH (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((ALL",
    b"STORE 1 +FLAGS (\\Seen",
    b"STORE 1 FROBFLAGS (\\Seen)",
    b'SELECT "unterminated',
    b'CREATE "a\x01b"',
    b"CREATE a//b",
    b"CREATE ../../etc",
    b'RENAME INBOX "a\x7fb"',
    b"LIST",
    b'LIST "" "*" RETURN (NOSUCH)',
    b"STATUS INBOX (NOSUCH)",
    b'APPEND INBOX (\\Seen) "not a date"',
    b"COPY 1:* ../x",
    b"MOVE abc INBOX",
    b"UID EXPUNGE",
    b"ENABLE",
    b"\xff\xfe binary junk",
]


@pytest.mark.parametrize("start", range(0, len(MALFORMED), 15))  # max_bad_commands is 20
def test_malformed_commands_get_a_reason_and_the_session_goes_on(
    server: MailServer, start: int
) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        exchange(sock, f'a LOGIN {BOB} "{PASSWORD}"'.encode(), b"a")
        exchange(sock, b"b SELECT INBOX", b"b")
        for i, line in enumerate(MALFORMED[start : start + 15], start=start):
            tag = b"m%d" % i
            out = exchange(sock, tag + b" " + line, tag)
            last = out.rstrip(b"\r\n").split(b"\r\n")[-1]
            assert re.match(rb"m%d (BAD|NO) \S" % i, last), (line, out)
            assert b"SERVERBUG" not in last, (line, out)
        assert exchange(sock, b"z NOOP", b"z").endswith(b"z OK NOOP completed\r\n")
    finally:
        sock.close()


def test_oversized_literal_is_refused_before_upload(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        out = exchange(sock, b"a LOGIN {99999999}", b"a")
        assert out.startswith(b"a BAD") and b"+ " not in out
        out = exchange(sock, f'b LOGIN {BOB} "{PASSWORD}"'.encode(), b"b")
        assert out.startswith(b"b OK")
    finally:
        sock.close()


def test_a_broken_session_does_not_disturb_others(connect: Connect, server: MailServer) -> None:
    steady = connect(BOB)
    steady.select("INBOX")
    sock = raw_session(server)
    sock.recv(4096)
    sock.sendall(b"x" * 200_000 + b"\r\n" + b"y LOGIN {5+}\r\nab")  # junk, then cut off
    sock.close()
    assert steady.noop()[0] == "OK"
    assert steady.list()[0] == "OK"
