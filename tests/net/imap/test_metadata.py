"""METADATA (RFC 5464) against a running server with small limits: server and mailbox
annotations, /private and /shared, NIL removes, MAXSIZE and DEPTH, the limits' response
codes, annotations following RENAME and going with DELETE, RFC 6154 /private/specialuse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.imap.test_auth import exchange, raw_session

ALICE = "alice@example.test"
BOB = "bob@example.test"
LIMITS = "[imap]\nmetadata_max_value = 1024\nmetadata_max_entries = 10\nmetadata_max_total = 10240"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("imap-metadata"), extra=LIMITS)
    srv.add_user(ALICE)
    srv.add_user(BOB)
    srv.start()
    yield srv
    srv.stop()


class Session:
    def __init__(self, server: MailServer, user: str = ALICE) -> None:
        self.sock = raw_session(server)
        self.sock.recv(4096)
        self.n = 0
        self.login = self(b'LOGIN "%s" "%s"' % (user.encode(), PASSWORD.encode()))

    def __call__(self, line: bytes) -> bytes:
        self.n += 1
        tag = b"m%d" % self.n
        return exchange(self.sock, tag + b" " + line, tag)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def alice(server: MailServer) -> Iterator[Session]:
    s = Session(server)
    yield s
    s.close()


def test_capability_and_rfc_examples(alice: Session) -> None:
    assert b" METADATA" in alice.login
    out = alice(b'SETMETADATA "" (/shared/comment "Shared comment")')
    assert out.endswith(b"OK SETMETADATA completed\r\n")
    out = alice(b'GETMETADATA "" /shared/comment')
    assert out.startswith(b'* METADATA "" (/shared/comment "Shared comment")\r\n')
    # RFC 5464 4.3: a multi-line value in a literal, then two entries at once
    value = b"My new comment across\r\ntwo lines.\r\n"
    alice(b"SETMETADATA INBOX (/private/comment {%d+}\r\n" % len(value) + value + b")")
    alice(b'SETMETADATA INBOX (/shared/comment "This one is for you!")')
    out = alice(b'GETMETADATA "INBOX" (/shared/comment /Private/Comment)')
    assert out.startswith(
        b'* METADATA "INBOX" (/private/comment {%d}\r\n' % len(value)
        + value
        + b' /shared/comment "This one is for you!")\r\n'
    ), out
    # server and mailbox annotations are apart
    out = alice(b'GETMETADATA "" /private/comment')
    assert b"* METADATA" not in out and b"OK" in out
    # NIL removes
    alice(b"SETMETADATA INBOX (/private/comment NIL)")
    out = alice(b"GETMETADATA INBOX (/private/comment /shared/comment)")
    assert b"/private/comment" not in out and b"/shared/comment" in out


def test_depth_and_maxsize(alice: Session) -> None:
    alice(b"CREATE Filters")
    alice(
        b'SETMETADATA Filters (/private/filters/values/small "SMALLER 5000" '
        b'/private/filters/values/boss "FROM \\"boss@example.com\\"" '
        b'/private/filters/values/boss/deeper "x" /private/filters "top")'
    )
    out = alice(b"GETMETADATA (DEPTH 1) Filters (/private/filters/values)")
    assert b"/private/filters/values/small" in out and b"/private/filters/values/boss " in out
    assert b"deeper" not in out
    out = alice(b"GETMETADATA (DEPTH infinity) Filters /private")
    assert b"deeper" in out and b'/private/filters "top"' in out
    out = alice(b"GETMETADATA Filters /private/filters/values")  # DEPTH 0: itself only
    assert b"* METADATA" not in out
    out = alice(
        b"GETMETADATA (MAXSIZE 10) Filters (/private/filters/values/small /private/filters)"
    )
    assert b'/private/filters "top"' in out and b"small" not in out
    assert b"OK [METADATA LONGENTRIES 12] " in out  # len("SMALLER 5000")


def test_limits(alice: Session) -> None:
    alice(b"CREATE Limits")
    out = alice(b'SETMETADATA Limits (/shared/a "x" /shared/big {1025+}\r\n' + b"y" * 1025 + b")")
    assert b"NO [METADATA MAXSIZE 1024]" in out
    out = alice(b"GETMETADATA Limits /shared/a")
    assert b"* METADATA" not in out  # nothing of the failed command was set (RFC 5464 4.3)
    entries = b" ".join(b'/shared/e%d "v"' % i for i in range(11))
    out = alice(b"SETMETADATA Limits (" + entries + b")")
    assert b"NO [METADATA TOOMANY]" in out
    # 1024-octet values in several mailboxes until the user's 10 KiB total is reached
    refused = b""
    for i in range(12):
        alice(b"CREATE Limits/m%d" % i)
        out = alice(b"SETMETADATA Limits/m%d (/shared/v {1024+}\r\n" % i + b"z" * 1024 + b")")
        if b"OK" not in out.split(b"\r\n")[-2]:
            refused = out
            break
    assert b"NO [LIMIT]" in refused, refused


def test_private_specialuse_and_read_only(alice: Session) -> None:
    out = alice(b"GETMETADATA Sent /private/specialuse")
    assert b'* METADATA "Sent" (/private/specialuse "\\\\Sent")' in out
    out = alice(b"GETMETADATA INBOX /private/specialuse")
    assert b"* METADATA" not in out
    out = alice(b'SETMETADATA Sent (/private/specialuse "\\\\Junk")')
    assert b"NO [NOPERM]" in out
    out = alice(b'SETMETADATA "" (/shared/admin "mailto:x@example.test")')
    assert b"NO [NOPERM]" in out


def test_annotations_follow_rename_and_go_with_delete(alice: Session) -> None:
    alice(b"CREATE Project")
    alice(b'SETMETADATA Project (/private/comment "keep me")')
    assert b"OK" in alice(b"RENAME Project Archive/Project")
    out = alice(b"GETMETADATA Archive/Project /private/comment")
    assert b'"keep me"' in out
    alice(b"DELETE Archive/Project")
    out = alice(b"GETMETADATA Archive/Project /private/comment")
    assert b"NO [NONEXISTENT]" in out
    alice(b"CREATE Archive/Project")
    out = alice(b"GETMETADATA Archive/Project /private/comment")
    assert b"* METADATA" not in out  # a new mailbox of the same name starts empty
    out = alice(b'SETMETADATA Nowhere (/private/comment "x")')
    assert b"NO [NONEXISTENT]" in out


def test_users_are_apart_and_bad_names_are_bad(server: MailServer, alice: Session) -> None:
    alice(b'SETMETADATA "" (/private/vendor/example/setting "alice only")')
    bob = Session(server, BOB)
    try:
        out = bob(b'GETMETADATA (DEPTH infinity) "" (/private /shared)')
        assert b"alice only" not in out and b"Shared comment" not in out
        for bad in (b"/comment", b"/shared/*", b"/shared//x", b"/shared/x/", b"private/x"):
            out = bob(b'GETMETADATA "" ' + bad)
            assert b" BAD " in out, (bad, out)
        out = bob(b"GETMETADATA")
        assert b" BAD " in out
        out = bob(b"NOOP")
        assert b"OK" in out  # the session goes on
    finally:
        bob.close()


def test_metadata_needs_login(server: MailServer) -> None:
    sock = raw_session(server)
    try:
        sock.recv(4096)
        out = exchange(sock, b'a1 GETMETADATA "" /shared/comment', b"a1")
        assert out.startswith(b"a1 BAD")
    finally:
        sock.close()
