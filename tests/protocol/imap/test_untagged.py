"""Untagged responses in the shapes the RFCs' own examples show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailkeep.protocol.imap import untagged as u
from mailkeep.protocol.imap.encoder import encode
from mailkeep.protocol.imap.fetch import FetchBody, Section
from mailkeep.protocol.imap.responses import Data
from mailkeep.protocol.imap.values import Atom, Literal, Raw

PDT = timezone(-timedelta(hours=7))


@pytest.mark.parametrize(
    ("response", "wire"),
    [
        (
            u.capability(["IMAP4rev1", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"]),
            b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n",  # RFC 3501 6.1.1
        ),
        (u.enabled(["CONDSTORE"]), b"* ENABLED CONDSTORE\r\n"),
        (u.exists(172), b"* 172 EXISTS\r\n"),
        (u.recent(1), b"* 1 RECENT\r\n"),
        (u.expunge(3), b"* 3 EXPUNGE\r\n"),
        (u.vanished("405,407,410,425"), b"* VANISHED 405,407,410,425\r\n"),  # RFC 7162
        (u.vanished("41,43:116", earlier=True), b"* VANISHED (EARLIER) 41,43:116\r\n"),
        (
            u.flags(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]),
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
        ),
        (
            u.list_mailbox(["\\Noselect"], "/", "~/Mail/foo"),
            b'* LIST (\\Noselect) "/" "~/Mail/foo"\r\n',
        ),
        (u.list_mailbox([], None, "foo"), b'* LIST () NIL "foo"\r\n'),
        (
            u.list_mailbox(["\\HasChildren"], "/", "台北", command="LSUB"),
            b'* LSUB (\\HasChildren) "/" "&U,BTFw-"\r\n',
        ),
        (
            u.list_mailbox([], "/", "Foo", ["CHILDINFO", ["SUBSCRIBED"]]),
            b'* LIST () "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))\r\n',  # RFC 5258 4
        ),
        (
            u.status("blurdybloop", [("MESSAGES", 231), ("UIDNEXT", 44292)]),
            b'* STATUS "blurdybloop" (MESSAGES 231 UIDNEXT 44292)\r\n',  # RFC 3501 6.3.10
        ),
        (u.search([2, 84, 882]), b"* SEARCH 2 84 882\r\n"),
        (u.search([]), b"* SEARCH\r\n"),
        (u.search([2, 5], modseq=917162500), b"* SEARCH 2 5 (MODSEQ 917162500)\r\n"),
        (u.sort([2, 84]), b"* SORT 2 84\r\n"),
        (
            u.esearch("A282", False, minimum=2, count=3),
            b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n',  # RFC 4731 3.1
        ),
        (
            u.esearch("A283", True, all_="2,10:11"),
            b'* ESEARCH (TAG "A283") UID ALL 2,10:11\r\n',
        ),
        (u.esearch("A284", False, all_=""), b'* ESEARCH (TAG "A284")\r\n'),
        (u.namespace([("", "/")]), b'* NAMESPACE (("" "/")) NIL NIL\r\n'),  # RFC 2342
        (u.namespace(None), b"* NAMESPACE NIL NIL NIL\r\n"),
        (
            u.id_response([("name", "mailkeep"), ("support-url", None)]),
            b'* ID ("name" "mailkeep" "support-url" NIL)\r\n',
        ),
        (u.id_response(None), b"* ID NIL\r\n"),
        (u.quota("", [("STORAGE", 10, 512)]), b'* QUOTA "" (STORAGE 10 512)\r\n'),
        (u.quotaroot("INBOX", [""]), b'* QUOTAROOT "INBOX" ""\r\n'),
        # RFC 5464 4.4.1; a multi-line value is a literal, one with NUL a literal8
        (
            u.metadata("", [("/shared/comment", b"My comment")]),
            b'* METADATA "" (/shared/comment "My comment")\r\n',
        ),
        (
            u.metadata("INBOX", [("/private/comment", b"a\r\nb"), ("/shared/x", b"\x00")]),
            b'* METADATA "INBOX" (/private/comment {4}\r\na\r\nb /shared/x ~{1}\r\n\x00)\r\n',
        ),
        # RFC 9208 4.2.2: a mailbox without a quota root
        (u.quotaroot("comp.mail.mime", []), b'* QUOTAROOT "comp.mail.mime"\r\n'),
        # RFC 9208 4.1.3: two resources in one root
        (
            u.quota("#user/alice", [("STORAGE", 54, 111), ("MESSAGE", 42, 1000)]),
            b'* QUOTA "#user/alice" (STORAGE 54 111 MESSAGE 42 1000)\r\n',
        ),
        (
            u.fetch(
                12,
                [
                    Atom("FLAGS"),
                    [Atom("\\Seen")],
                    Atom("INTERNALDATE"),
                    u.internal_date(datetime(1996, 7, 17, 2, 44, 25, tzinfo=PDT)),
                    Atom("RFC822.SIZE"),
                    4286,
                ],
            ),
            b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
            b"RFC822.SIZE 4286)\r\n",  # RFC 3501 8
        ),
        (
            u.fetch(
                12,
                [Raw(FetchBody(Section(), peek=True).response_name()), Literal(b"hi\r\n")],
            ),
            b"* 12 FETCH (BODY[] {4}\r\nhi\r\n)\r\n",
        ),
    ],
)
def test_shapes(response: Data, wire: bytes) -> None:
    assert encode(response) == wire


def test_thread_shapes() -> None:
    T = u.ThreadNode
    tree = [T(2), T(3, (T(6, (T(4, (T(23),)), T(44, (T(7, (T(96),)),)))),))]
    assert encode(u.thread(tree)) == b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"  # RFC 5256 4
    assert encode(u.thread([T(None, (T(3), T(5)))])) == b"* THREAD ((3)(5))\r\n"
    assert encode(u.thread([])) == b"* THREAD\r\n"


def test_utf8_sessions_send_utf8_names() -> None:
    assert encode(u.list_mailbox([], "/", "台北"), utf8=True) == '* LIST () "/" "台北"\r\n'.encode()


def test_internal_date() -> None:
    assert u.internal_date(datetime(2020, 1, 5, 9, 0, 0, tzinfo=UTC)) == (
        "05-Jan-2020 09:00:00 +0000"
    )
    east = timezone(timedelta(hours=5, minutes=30))
    assert u.internal_date(datetime(2020, 12, 31, 23, 59, 59, tzinfo=east)).endswith("+0530")
    with pytest.raises(ValueError, match="aware"):
        u.internal_date(datetime(2020, 1, 1))
