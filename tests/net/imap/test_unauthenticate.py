"""UNAUTHENTICATE (RFC 8437) against the running server: back to not authenticated with
nothing of the previous login left (ENABLEd UTF-8, the saved search result, the selected
mailbox), pipelined re-login, and the switch that turns it off (RFC 8437 8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.imap.conftest import ALICE, BOB
from tests.net.imap.test_auth import exchange, raw_session


def login(user: str) -> bytes:
    return b'LOGIN "%s" "%s"' % (user.encode(), PASSWORD.encode())


def test_unauthenticate_resets_everything_but_tls(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        greeting = sock.recv(4096)
        assert b"UNAUTHENTICATE" not in greeting  # RFC 8437 3: offered after login
        out = exchange(sock, b"a1 " + login(ALICE), b"a1")
        assert b" UNAUTHENTICATE" in out
        out = exchange(sock, b"a2 ENABLE IMAP4rev2 UTF8=ACCEPT", b"a2")
        assert b"* ENABLED IMAP4rev2 UTF8=ACCEPT\r\n" in out
        exchange(sock, 'a3 CREATE "Unauth-\u00e9t\u00e9"'.encode(), b"a3")
        exchange(sock, b"a4 SELECT INBOX", b"a4")
        out = exchange(sock, b"a5 SEARCH RETURN (SAVE) ALL", b"a5")
        assert b"a5 OK" in out
        out = exchange(sock, b"a6 FETCH $ (UID)", b"a6")
        assert b"* 1 FETCH" in out  # alice's saved result holds her messages
        # RFC 8437 3: UNAUTHENTICATE may be pipelined with the next login
        out = exchange(sock, b"a7 UNAUTHENTICATE\r\na8 " + login(BOB), b"a8")
        assert b"a7 OK " in out and b"a8 OK " in out
        assert b"EXPUNGE" not in out  # no expunge event for the deselected mailbox
        # the new login starts afresh: IMAP4rev1, modified UTF-7, no saved result
        out = exchange(sock, b'a9 LIST "" "*"', b"a9")
        assert "\u00e9".encode() not in out
        exchange(sock, b"b1 SELECT INBOX", b"b1")
        out = exchange(sock, b"b2 FETCH $ (UID)", b"b2")
        assert b"FETCH (" not in out and b"b2 OK" in out
        out = exchange(sock, b"b3 SEARCH ALL", b"b3")
        assert b"* SEARCH" in out and b"ESEARCH" not in out  # rev1 form again
        # UNAUTHENTICATE from the selected state, then commands of the old login are
        # refused as they are before any login
        out = exchange(sock, b"b4 UNAUTHENTICATE", b"b4")
        assert out == b"b4 OK UNAUTHENTICATE completed\r\n"
        out = exchange(sock, b"b5 SELECT INBOX", b"b5")
        assert out.startswith(b"b5 BAD")
        out = exchange(sock, b"b6 UNAUTHENTICATE", b"b6")
        assert out.startswith(b"b6 BAD")  # not allowed before login
        out = exchange(sock, b"b7 CAPABILITY", b"b7")
        assert b"UNAUTHENTICATE" not in out and b"AUTH=PLAIN" in out
        out = exchange(sock, b"b8 " + login(ALICE), b"b8")
        assert b"b8 OK" in out
        out = exchange(sock, b'b9 LIST "" "Unauth-*"', b"b9")
        assert b'"Unauth-&AOk-t&AOk-"' in out  # her mailbox, in modified UTF-7 now
    finally:
        sock.close()


def test_logins_are_counted_once_per_session(server: MailServer) -> None:
    """Each UNAUTHENTICATE releases the login's per-user slot, so re-logins on one
    connection never add up to the per-user limit (30 by default)."""
    sock = raw_session(server)
    try:
        sock.recv(4096)
        for i in range(40):
            out = exchange(sock, b"l%d " % i + login(BOB), b"l%d" % i)
            assert b"l%d OK" % i in out, out
            out = exchange(sock, b"u%d UNAUTHENTICATE" % i, b"u%d" % i)
            assert b"u%d OK" % i in out
    finally:
        sock.close()


@pytest.fixture(scope="module")
def switched_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    root: Path = tmp_path_factory.mktemp("imap-no-unauth")
    srv = make_server(root, extra="[imap]\nunauthenticate = false")
    srv.add_user(ALICE)
    srv.start()
    yield srv
    srv.stop()


def test_unauthenticate_can_be_switched_off(switched_off: MailServer) -> None:
    sock = raw_session(switched_off)
    try:
        sock.recv(4096)
        out = exchange(sock, b"a1 " + login(ALICE), b"a1")
        assert b"a1 OK" in out and b"UNAUTHENTICATE" not in out
        out = exchange(sock, b"a2 UNAUTHENTICATE", b"a2")
        assert out.startswith(b"a2 BAD")
        out = exchange(sock, b"a3 SELECT INBOX", b"a3")
        assert b"a3 OK" in out  # still logged in
    finally:
        sock.close()
