"""SORT, UID SORT, ESORT (RFC 5256, 5957, 5267) and THREAD (RFC 5256) against the running
server, driven by imapclient's sort()/thread() and by imaplib for the raw responses."""

from __future__ import annotations

import imaplib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from imapclient import IMAPClient

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, tls_context

Connect = Callable[..., imaplib.IMAP4_SSL]
BOX = "sort-box"


def mail(
    subject: bytes, sender: bytes, to: bytes, date: bytes | None, mid: int, refs: bytes = b""
) -> bytes:
    head = b"From: " + sender + b"\r\nTo: " + to + b"\r\nSubject: " + subject + b"\r\n"
    head += b"Message-ID: <%d@sort.example>\r\n" % mid
    if date is not None:
        head += b"Date: " + date + b"\r\n"
    if refs:
        head += b"References: " + refs + b"\r\nIn-Reply-To: " + refs.split()[-1] + b"\r\n"
    return head + b"\r\n" + b"body %d\r\n" % mid + b"x" * (mid * 500) + b"\r\n"


# UID = position + 1; internal dates increase with the UID
MESSAGES = [
    # 1: the thread starter
    mail(
        b"Plans",
        b"Zed <zed@example.org>",
        b"amy@example.test",
        b"Mon, 2 Nov 2026 10:00:00 +0000",
        1,
    ),
    # 2: a reply (encoded-word subject), in another zone: 09:30 UTC, before 1
    mail(
        b"=?utf-8?q?Re=3A_plans?=",
        b"=?utf-8?q?=C3=89mile?= <emile@example.org>",
        b"bob@example.test",
        b"Mon, 2 Nov 2026 11:30:00 +0200",
        2,
        b"<1@sort.example>",
    ),
    # 3: no Date header: its internal date (2026-11-20) is its sent date
    mail(b"[list] Fwd: agenda", b"anna@example.org", b"Carl <carl@example.test>", None, 3),
    # 4: a reply to 2
    mail(
        b"Re: Re: plans",
        b"bob@example.org",
        b"zed@example.org",
        b"Tue, 3 Nov 2026 08:00:00 +0000",
        4,
        b"<1@sort.example> <2@sort.example>",
    ),
    # 5: same base subject as 3, no references
    mail(b"agenda (fwd)", b"Carl <carl@example.org>", b"", b"Wed, 4 Nov 2026 08:00:00 +0000", 5),
]
INTERNAL = [datetime(2026, 11, 20 + i, tzinfo=UTC) for i in range(len(MESSAGES))]


@pytest.fixture(scope="module")
def filled(server: MailServer) -> MailServer:
    with IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    ) as client:
        client.login(BOB, PASSWORD)
        client.create_folder(BOX)
        for raw, when in zip(MESSAGES, INTERNAL, strict=True):
            client.append(BOX, raw, msg_time=when)
    return server


@pytest.fixture
def imapclient(filled: MailServer) -> Iterator[IMAPClient]:
    with IMAPClient(
        "localhost", port=filled.ports["imaps"], ssl_context=tls_context(filled), timeout=20
    ) as client:
        client.login(BOB, PASSWORD)
        client.select_folder(BOX, readonly=True)
        yield client


@pytest.fixture
def raw(filled: MailServer, connect: Connect) -> imaplib.IMAP4_SSL:
    client = connect(BOB)
    assert client.select(BOX, readonly=True)[0] == "OK"
    return client


def test_capabilities(imapclient: IMAPClient) -> None:
    caps = set(imapclient.capabilities())
    wanted = {b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=ORDEREDSUBJECT", b"THREAD=REFERENCES"}
    assert wanted <= caps


def test_imapclient_sort_every_key(imapclient: IMAPClient) -> None:
    def sort(*keys: str) -> list[int]:
        return list(imapclient.sort(list(keys), "ALL", "UTF-8"))

    assert sort("ARRIVAL") == [1, 2, 3, 4, 5]
    assert sort("REVERSE ARRIVAL") == [5, 4, 3, 2, 1]
    assert sort("DATE") == [2, 1, 4, 5, 3]  # 2 is earlier in UTC; 3 has no Date header
    assert sort("SIZE") == [1, 2, 3, 4, 5]
    assert sort("SUBJECT") == [3, 5, 1, 2, 4]  # agenda before plans; ties by number
    assert sort("SUBJECT", "REVERSE DATE") == [3, 5, 4, 1, 2]
    assert sort("FROM") == [3, 4, 5, 2, 1]  # anna bob carl emile zed
    assert sort("TO") == [5, 1, 2, 3, 4]  # no To header first
    assert sort("CC") == [1, 2, 3, 4, 5]  # nobody has Cc: all equal, mailbox order
    # anna@ bob@ Carl Émile Zed: É decomposes to E + accent (RFC 5051)
    assert sort("DISPLAYFROM") == [3, 4, 5, 2, 1]
    assert sort("DISPLAYTO") == [5, 1, 2, 3, 4]
    assert list(imapclient.sort(["DATE"], ["FROM", "example.org", "NOT", "UID", "1"])) == [
        2,
        4,
        5,
        3,
    ]


def test_imapclient_thread(imapclient: IMAPClient) -> None:
    # 3 and 5 are both forwards with one base subject: siblings under a dummy (step 5.C)
    assert imapclient.thread("REFERENCES", "ALL", "UTF-8") == ((1, 2, 4), ((5,), (3,)))
    # by subject then date: (2 1 4) starts earliest; later messages are children of the first
    assert imapclient.thread("ORDEREDSUBJECT", "ALL", "UTF-8") == ((2, (1,), (4,)), (5, 3))
    assert imapclient.thread("REFERENCES", ["FROM", "zed"], "US-ASCII") == ((1,),)
    assert imapclient.thread("REFERENCES", ["FROM", "nobody"], "US-ASCII") == ()


def test_sequence_numbers_and_esort(raw: imaplib.IMAP4_SSL) -> None:
    typ, data = raw.sort("(REVERSE SIZE)", "US-ASCII", "2:4")
    assert typ == "OK" and data == [b"4 3 2"]
    typ, data = raw.uid("SORT", "RETURN", "(MIN MAX COUNT ALL)", "(DATE)", "UTF-8", "ALL")
    assert typ == "OK"
    esearch = raw.untagged_responses.pop("ESEARCH", [data[0]])[-1]
    # RFC 5267 3.1: MIN and MAX are the first and last in sort order; ALL keeps the order
    assert b"UID MIN 2 MAX 3 COUNT 5 ALL 2,1,4:5,3" in bytes(esearch)  # type: ignore[arg-type]


def test_thread_wire_format(raw: imaplib.IMAP4_SSL) -> None:
    typ, _ = raw._simple_command("UID", "THREAD", "REFERENCES", "UTF-8", "ALL")
    assert typ == "OK"
    assert raw.untagged_responses.pop("THREAD") == [b"(1 2 4)((5)(3))"]


def test_errors_say_why(raw: imaplib.IMAP4_SSL) -> None:
    with pytest.raises(imaplib.IMAP4.error, match="unknown sort key BOGUS"):
        raw.sort("(BOGUS)", "UTF-8", "ALL")
    typ, data = raw.sort("(DATE)", "KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in bytes(data[0])  # type: ignore[arg-type]
    with pytest.raises(imaplib.IMAP4.error, match="unknown threading algorithm"):
        raw._simple_command("THREAD", "BOGUS", "UTF-8", "ALL")
    typ, data = raw._simple_command("THREAD", "REFERENCES", "X-NONE", "ALL")
    assert typ == "NO" and b"BADCHARSET" in bytes(data[0])  # type: ignore[arg-type]
    with pytest.raises(imaplib.IMAP4.error, match="no sort criteria"):
        raw.sort("()", "UTF-8", "ALL")
    assert raw.noop()[0] == "OK"  # the session goes on


def test_numbers_after_expunge_and_new_mail_between_sorts(
    filled: MailServer, connect: Connect
) -> None:
    client = connect(BOB)
    client.create("sort-seq")
    for i in (3, 1, 2):
        client.append("sort-seq", None, None, MESSAGES[i])
    client.select("sort-seq")
    client.store("1", "+FLAGS", "(\\Deleted)")
    client.expunge()  # UIDs 2 and 3 are now messages 1 and 2
    assert client.sort("(SUBJECT)", "UTF-8", "ALL") == ("OK", [b"2 1"])
    assert client.uid("SORT", "(SUBJECT)", "UTF-8", "ALL") == ("OK", [b"3 2"])
    typ, _ = client._simple_command("THREAD", "REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and client.untagged_responses.pop("THREAD") == [b"(1)(2)"]
    client.append("sort-seq", None, None, MESSAGES[4])  # read only by the next SORT
    client.noop()
    assert client.sort("(SUBJECT)", "UTF-8", "ALL") == ("OK", [b"2 3 1"])
    assert client.sort("(REVERSE SIZE)", "UTF-8", "1:2") == ("OK", [b"2 1"])
