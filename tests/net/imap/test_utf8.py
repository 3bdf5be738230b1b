"""UTF-8 in IMAP against the running server: UTF8=ACCEPT (RFC 6855) and IMAP4rev2 (RFC
9051) sessions use UTF-8 mailbox names, IMAP4rev1 sessions modified UTF-7 (RFC 3501
5.1.3), the same mailbox seen both ways; APPEND UTF8 (...), 8-bit header fields stored as
they are before ENABLE, SEARCH CHARSET refused after it; names that try to leave the user's
store."""

from __future__ import annotations

import os
from pathlib import Path

from imapclient import IMAPClient

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, tls_context
from tests.net.imap.test_auth import exchange, raw_session

NAME = "Gr\u00f6\u00dfe/\u65e5\u672c"  # "Größe/日本"
NAME_UTF8 = NAME.encode()
NAME_MUTF7 = b"Gr&APYA3w-e/&ZeVnLA-"
HEADER_8BIT = (
    "Subject: Gr\u00fc\u00dfe aus K\u00f6ln\r\nFrom: j\u00f6rg@example.test\r\n\r\nHallo\r\n"
)


class Raw:
    """A raw IMAPS session logged in as ``user``, numbering its own tags."""

    def __init__(self, server: MailServer, user: str = BOB, enable: bytes = b"") -> None:
        self.sock = raw_session(server)
        self.sock.recv(4096)
        self.n = 0
        self.ok(b'LOGIN "%s" "%s"' % (user.encode(), PASSWORD.encode()))
        if enable:
            assert b"* ENABLED " + enable in self.ok(b"ENABLE " + enable)

    def cmd(self, line: bytes) -> bytes:
        self.n += 1
        tag = b"t%d" % self.n
        out = exchange(self.sock, tag + b" " + line, tag)
        self.status = out.rsplit(b"\r\n" + tag + b" ", 1)[-1].removeprefix(tag + b" ")[:3]
        return out

    def ok(self, line: bytes) -> bytes:
        out = self.cmd(line)
        assert self.status == b"OK ", out
        return out

    def close(self) -> None:
        self.sock.close()


def test_utf8_accept_is_offered_and_enabled(server: MailServer) -> None:
    s = Raw(server)
    try:
        assert b" UTF8=ACCEPT" in s.ok(b"CAPABILITY")
        out = s.ok(b"ENABLE UTF8=ACCEPT")
        assert b"* ENABLED UTF8=ACCEPT\r\n" in out
        out = s.ok(b"ENABLE UTF8=ACCEPT")  # already on: not listed again (RFC 5161 3.1)
        assert b"* ENABLED\r\n" in out
    finally:
        s.close()


def test_utf8_name_seen_in_modified_utf7_and_back(server: MailServer) -> None:
    utf8 = Raw(server, enable=b"UTF8=ACCEPT")
    rev2 = Raw(server, enable=b"IMAP4rev2")
    rev1 = Raw(server)
    try:
        utf8.ok(b'CREATE "' + NAME_UTF8 + b'"')
        # an IMAP4rev1 session sees modified UTF-7, parent included (RFC 3501 5.1.3)
        out = rev1.ok(b'LIST "" "Gr*"')
        assert b'"/" "' + NAME_MUTF7 + b'"' in out and b'"/" "Gr&APYA3w-e"' in out
        assert b"\xc3" not in out
        rev1.ok(b'SELECT "' + NAME_MUTF7 + b'"')
        # the rev1 spelling is not a name in a UTF-8 session, the UTF-8 one not in rev1
        rev2.cmd(b'STATUS "' + NAME_MUTF7 + b'" (MESSAGES)')
        assert rev2.status == b"NO "
        rev1.cmd(b'STATUS "' + NAME_UTF8 + b'" (MESSAGES)')
        assert rev1.status == b"BAD"  # 8-bit is not modified UTF-7
        # a mailbox made in modified UTF-7 is UTF-8 to the others
        rev1.ok(b'CREATE "Caf&AOk-/&AMk-t&AOk-"')
        out = rev2.ok(b'LIST "" "Caf*"')
        assert '"/" "Caf\u00e9/\u00c9t\u00e9"'.encode() in out
        out = utf8.ok(b'STATUS "Caf\xc3\xa9/\xc3\x89t\xc3\xa9" (MESSAGES)')
        assert '* STATUS "Caf\u00e9/\u00c9t\u00e9" (MESSAGES 0)'.encode() in out
        # "&" is itself in UTF-8 sessions and "&-" in modified UTF-7
        rev2.ok(b'CREATE "R&D"')
        assert b'"/" "R&-D"' in rev1.ok(b'LIST "" "R*"')
        # a literal carries a UTF-8 name too
        rev2.ok(b"RENAME R&D {%d+}\r\n" % len(NAME_UTF8 + b"2") + NAME_UTF8 + b"2")
        assert b'"/" "' + NAME_MUTF7 + b'2"' in rev1.ok(b'LIST "" "Gr*"')
    finally:
        for s in (utf8, rev2, rev1):
            s.close()


def test_imapclient_folders_both_ways(server: MailServer) -> None:
    """imapclient encodes folder names in modified UTF-7 itself (folder_encode)."""
    with IMAPClient("localhost", port=server.ports["imaps"], ssl_context=tls_context(server)) as c:
        c.login(BOB, PASSWORD)
        c.create_folder("\u0420\u0430\u0431\u043e\u0442\u0430")  # "Работа"
        names = {f[2] for f in c.list_folders()}
        assert "\u0420\u0430\u0431\u043e\u0442\u0430" in names and NAME in names
        c.select_folder(NAME)
        assert c.folder_status("Caf\u00e9/\u00c9t\u00e9", ["MESSAGES"])[b"MESSAGES"] == 0


def test_append_utf8_form_and_8bit_headers(server: MailServer) -> None:
    raw = HEADER_8BIT.encode()
    rev1 = Raw(server)
    utf8 = Raw(server, enable=b"UTF8=ACCEPT")
    rev2 = Raw(server, enable=b"IMAP4rev2")
    try:
        rev1.ok(b"CREATE utf8-append")
        # 8-bit header fields without ENABLE: stored as they are (decision 0012)
        rev1.ok(b"APPEND utf8-append {%d+}\r\n" % len(raw) + raw)
        # the UTF8 form is BAD before ENABLE UTF8=ACCEPT
        out = rev1.cmd(b"APPEND utf8-append UTF8 (~{%d+}\r\n" % len(raw) + raw + b")")
        assert rev1.status == b"BAD", out
        # after ENABLE UTF8=ACCEPT: the UTF8 (literal8) form, with flags and a date
        out = utf8.ok(
            b'APPEND utf8-append (\\Seen) "01-Feb-2026 10:00:00 +0100" UTF8 (~{%d+}\r\n' % len(raw)
            + raw
            + b")"
        )
        assert b"[APPENDUID " in out
        # MULTIAPPEND mixing both forms
        utf8.ok(
            b"APPEND utf8-append UTF8 (~{%d+}\r\n" % len(raw)
            + raw
            + b") {%d+}\r\n" % len(raw)
            + raw
        )
        # IMAP4rev2 includes UTF-8 header fields (plain literal)
        rev2.ok(b"APPEND utf8-append {%d+}\r\n" % len(raw) + raw)
        out = rev2.ok(b"EXAMINE utf8-append")
        assert b"* 5 EXISTS" in out
        out = rev2.ok(b"FETCH 1:5 (BODY.PEEK[] FLAGS)")
        assert out.count(b"{%d}\r\n" % len(raw) + raw) == 5  # bytes as appended
        assert b"\\Seen" in out
        # the stored UTF-8 Subject is searchable by its UTF-8 text
        out = rev2.ok('SEARCH SUBJECT "Gr\u00fc\u00dfe"'.encode())
        assert b"ALL 1:5" in out
    finally:
        for s in (rev1, utf8, rev2):
            s.close()


def test_search_charset_refused_after_utf8_accept(server: MailServer) -> None:
    s = Raw(server)
    try:
        s.ok(b"SELECT INBOX")
        s.ok(b"SEARCH CHARSET UTF-8 ALL")  # fine before ENABLE
        s.ok(b"ENABLE UTF8=ACCEPT")
        s.ok(b"SELECT INBOX")
        s.cmd(b"SEARCH CHARSET UTF-8 ALL")
        assert s.status == b"BAD"  # RFC 6855 3
        s.ok('SEARCH SUBJECT "\u00e9t\u00e9"'.encode())
    finally:
        s.close()


def _tree(root: Path) -> set[str]:
    """Every directory and file name under ``root`` (relative), to see what a command made."""
    found = set()
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(base, name), root))
    return found


def test_names_never_leave_the_users_store(server: MailServer) -> None:
    """Names are rows in the user's database, never paths; still, every trick is refused
    and nothing new appears anywhere outside what a CREATE normally touches."""
    before = {p for p in _tree(server.root) if "/msg/" not in p and not p.endswith("-wal")}
    tricks = [
        b'"../../etc"',
        b'"a/../../b"',
        b'"/etc/passwd"',
        b'"./x"',
        b'"a//b"',
        b'"wild*"',
        b"{6+}\r\nnul\x00ab",
        b"{9+}\r\nctrl\x01char",
        b'"line\xe2\x80\xa8sep"',  # U+2028 (RFC 6855 3)
        b"{6+}\r\nc1\xc2\x85ab",  # U+0085, a C1 control
    ]
    for enable in (b"", b"UTF8=ACCEPT"):
        s = Raw(server, enable=enable)
        try:
            for name in tricks:
                out = s.cmd(b"CREATE " + name)
                assert s.status in (b"NO ", b"BAD"), (name, out)
                out = s.cmd(b"RENAME INBOX " + name)
                assert s.status in (b"NO ", b"BAD"), (name, out)
            out = s.ok(b'LIST "" "*"')
            for bad in (b"etc", b"passwd", b"..", b"ctrl", b"sep", b"nul"):
                assert bad not in out, (bad, out)
        finally:
            s.close()
    after = {p for p in _tree(server.root) if "/msg/" not in p and not p.endswith("-wal")}
    new = {p for p in after - before if not p.endswith(("-shm", "-journal"))}
    assert not any("etc" in p or "passwd" in p or ".." in p for p in new), new
