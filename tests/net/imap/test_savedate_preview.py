"""SAVEDATE (RFC 8514) and PREVIEW (RFC 8970) against the running server: FETCH values
compared with what was stored, SEARCH SAVEDBEFORE/SAVEDON/SAVEDSINCE/SAVEDATESUPPORTED, a
COPY's new save date, previews of plain, HTML, 8-bit and text-less messages."""

from __future__ import annotations

import imaplib
import re
from datetime import UTC, datetime, timedelta

from imapclient import IMAPClient

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, imaps, message, tls_context
from tests.net.imap.test_auth import exchange, raw_session

_DATE = re.compile(rb'SAVEDATE "([^"]+)"')


def _savedate(data: bytes) -> datetime:
    m = _DATE.search(data)
    assert m is not None, data
    return datetime.strptime(m.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d-%b-%Y")


def test_savedate_is_when_stored_not_the_internal_date(server: MailServer) -> None:
    c = imaps(server, BOB)
    try:
        assert "SAVEDATE" in bytes(c.capability()[1][0]).decode().split()  # type: ignore[index]
        c.create("saved-a")
        c.create("saved-b")
        before = datetime.now(UTC).replace(microsecond=0)
        old = imaplib.Time2Internaldate(1_500_000_000)  # 14-Jul-2017
        c.append("saved-a", None, old, message(1))
        after = datetime.now(UTC)
        c.select("saved-a")
        _, data = c.fetch("1", "(INTERNALDATE SAVEDATE)")
        line = bytes(data[0])  # type: ignore[arg-type]
        assert b"14-Jul-2017" in line
        saved = _savedate(line)
        assert before <= saved <= after
        # COPY gives the copy its own save date; the source keeps its own (RFC 8514 3)
        c.copy("1", "saved-b")
        _, data = c.fetch("1", "(SAVEDATE)")
        assert _savedate(bytes(data[0])) == saved  # type: ignore[arg-type]
        c.select("saved-b")
        _, data = c.fetch("1", "(INTERNALDATE SAVEDATE)")
        copied = bytes(data[0])  # type: ignore[arg-type]
        assert b"14-Jul-2017" in copied and _savedate(copied) >= saved
    finally:
        c.logout()


def test_search_saved_keys(server: MailServer) -> None:
    c = imaps(server, BOB)
    try:
        c.create("saved-search")
        c.append("saved-search", None, imaplib.Time2Internaldate(1_500_000_000), message(2))
        c.select("saved-search")
        _, data = c.fetch("1", "(SAVEDATE)")
        day = _savedate(bytes(data[0]))  # type: ignore[arg-type]
        today, tomorrow = _day(day), _day(day + timedelta(days=1))

        def search(*criteria: str) -> bytes:
            typ, result = c.search(None, *criteria)
            assert typ == "OK"
            return bytes(result[0])  # type: ignore[arg-type]

        assert search("SAVEDON", today) == b"1"
        assert search("SAVEDSINCE", today) == b"1"
        assert search("SAVEDBEFORE", today) == b""
        assert search("SAVEDBEFORE", tomorrow) == b"1"
        assert search("SAVEDSINCE", tomorrow) == b""
        assert search("SAVEDATESUPPORTED") == b"1"
        # the internal date is another thing: 2017
        assert search("ON", "14-Jul-2017") == b"1" and search("SAVEDON", "14-Jul-2017") == b""
    finally:
        c.logout()


HTML = (
    b"From: a@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><head><style>p {color: red}</style></head>"
    b"<body><p>Hello <b>there</b>,</p>\r\n<p>see you   soon</p></body></html>\r\n"
)
EIGHT_BIT = (
    b"From: a@example.org\r\nSubject: latin\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"Caf\xc3\xa9 au lait\r\n\r\n  tomorrow?\r\n"
)
NO_TEXT = (
    b"From: a@example.org\r\nSubject: image\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
)
LONG = b"Subject: long\r\n\r\n" + b"word " * 400 + b"\r\n"


def test_preview_values(server: MailServer) -> None:
    with IMAPClient("localhost", port=server.ports["imaps"], ssl_context=tls_context(server)) as c:
        c.login(BOB, PASSWORD)
        assert b"PREVIEW" in c.capabilities()
        c.create_folder("previews")
        for raw in (message(3), HTML, EIGHT_BIT, NO_TEXT, LONG):
            c.append("previews", raw)
        c.select_folder("previews")
        got = c.fetch([1, 2, 3, 4, 5], ["PREVIEW"])
        previews = {uid: got[uid][b"PREVIEW"] for uid in got}
        assert previews[1] == b"line 0 of message 3 line 1 of message 3 line 2 of message 3"
        # markup and the style sheet are gone, white space collapsed
        assert previews[2].startswith(b"Hello there") and previews[2].endswith(b"see you soon")
        assert b"<" not in previews[2] and b"color" not in previews[2]
        assert previews[3].decode("utf-8") == "Café au lait tomorrow?"
        assert previews[4] == b""  # no text: the empty string, never NIL (RFC 8970 3.2)
        assert len(previews[5].decode("utf-8")) <= 256  # RFC 8970 3.3
        assert previews[5].startswith(b"word word")
        # LAZY gets the cached preview as well; PREVIEW mixes with other items
        lazy = c.fetch([1, 2, 3, 4, 5], ["UID", "PREVIEW (LAZY)", "FLAGS"])
        assert {uid: lazy[uid][b"PREVIEW"] for uid in lazy} == previews


def test_preview_raw_forms(server: MailServer) -> None:
    """The exact bytes: 8-bit text is a literal in an IMAP4rev1 session and a quoted UTF-8
    string once IMAP4rev2 is enabled; the empty preview is "" and not NIL."""
    sock = raw_session(server)
    try:
        sock.recv(4096)
        exchange(sock, b'a1 LOGIN "%s" "%s"' % (BOB.encode(), PASSWORD.encode()), b"a1")
        exchange(sock, b"a2 EXAMINE previews", b"a2")
        out = exchange(sock, b"a3 FETCH 3:4 (PREVIEW)", b"a3")
        assert b"* 3 FETCH (PREVIEW {23}\r\nCaf\xc3\xa9 au lait tomorrow?)\r\n" in out
        assert b'* 4 FETCH (PREVIEW "")\r\n' in out
        exchange(sock, b"a4 ENABLE IMAP4rev2", b"a4")
        exchange(sock, b"a5 EXAMINE previews", b"a5")
        out = exchange(sock, b"a6 FETCH 3 (PREVIEW (LAZY))", b"a6")
        assert b'* 3 FETCH (PREVIEW "Caf\xc3\xa9 au lait tomorrow?")\r\n' in out
    finally:
        sock.close()
