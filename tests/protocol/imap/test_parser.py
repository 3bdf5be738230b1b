"""One row per command form: the wire text and the value the parser must produce."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import search as s
from mailkeep.protocol.imap.errors import ParseError
from mailkeep.protocol.imap.fetch import FetchAttr, FetchBody, Section, SectionText
from mailkeep.protocol.imap.parser import parse_command, read_tag
from mailkeep.protocol.imap.responses import Status
from mailkeep.protocol.imap.sequence import SequenceSet

from .drive import split_command

ALL_SEQ = SequenceSet(((1, None),))


def parse(wire: bytes, utf8: bool = False) -> c.TaggedCommand:
    lines, literals = split_command(wire)
    return parse_command(lines, literals, utf8=utf8)


CASES: list[tuple[bytes, str, c.Command]] = [
    (b"a CAPABILITY\r\n", "CAPABILITY", c.Capability()),
    (b"a noop\r\n", "NOOP", c.Noop()),
    (b"a LOGOUT\r\n", "LOGOUT", c.Logout()),
    (b"a STARTTLS\r\n", "STARTTLS", c.StartTLS()),
    (b"a AUTHENTICATE PLAIN\r\n", "AUTHENTICATE", c.Authenticate("PLAIN")),
    (
        b"a AUTHENTICATE plain AGpvZQBwdw==\r\n",  # RFC 4959 SASL-IR
        "AUTHENTICATE",
        c.Authenticate("PLAIN", b"\0joe\0pw"),
    ),
    (b"a AUTHENTICATE PLAIN =\r\n", "AUTHENTICATE", c.Authenticate("PLAIN", b"")),
    (b"a LOGIN SMITH SESAME\r\n", "LOGIN", c.Login("SMITH", "SESAME")),
    (b'a LOGIN "joe" {6}\r\nse"c r\r\n', "LOGIN", c.Login("joe", 'se"c r')),
    (b'a LOGIN "j\\"o\\\\e" p\r\n', "LOGIN", c.Login('j"o\\e', "p")),
    (b"a ID NIL\r\n", "ID", c.Id(None)),
    (
        b'a ID ("name" "sodr" "version" NIL)\r\n',
        "ID",
        c.Id((("name", "sodr"), ("version", None))),
    ),
    (b"a ENABLE IMAP4rev2 utf8=accept\r\n", "ENABLE", c.Enable(("IMAP4REV2", "UTF8=ACCEPT"))),
    (b"a SELECT inbox\r\n", "SELECT", c.Select("INBOX")),
    (b"a EXAMINE Sent\r\n", "EXAMINE", c.Select("Sent", read_only=True)),
    (b"a SELECT x (CONDSTORE)\r\n", "SELECT", c.Select("x", condstore=True)),
    (
        b"a SELECT M (QRESYNC (67890007 90060115194045000 41:211,214:541 "
        b"(1:5,7 101:105,107)))\r\n",  # RFC 7162 3.2.5
        "SELECT",
        c.Select(
            "M",
            qresync=c.QresyncParams(
                67890007,
                90060115194045000,
                SequenceSet(((41, 211), (214, 541))),
                SequenceSet(((1, 5), (7, 7))),
                SequenceSet(((101, 105), (107, 107))),
            ),
        ),
    ),
    (
        b"a SELECT M (QRESYNC (1 2 (3 4)))\r\n",
        "SELECT",
        c.Select(
            "M",
            qresync=c.QresyncParams(1, 2, None, SequenceSet(((3, 3),)), SequenceSet(((4, 4),))),
        ),
    ),
    (b"a CREATE owatagusiam/\r\n", "CREATE", c.Create("owatagusiam/")),
    (b"a CREATE Sent (USE (\\Sent))\r\n", "CREATE", c.Create("Sent", ("\\Sent",))),
    (b"a DELETE blurdybloop\r\n", "DELETE", c.Delete("blurdybloop")),
    (b"a RENAME INBOX old-mail\r\n", "RENAME", c.Rename("INBOX", "old-mail")),
    (b"a SUBSCRIBE #news.comp.mail.mime\r\n", "SUBSCRIBE", c.Subscribe("#news.comp.mail.mime")),
    (b"a UNSUBSCRIBE x\r\n", "UNSUBSCRIBE", c.Unsubscribe("x")),
    (b'a LIST "" ""\r\n', "LIST", c.List("", ("",))),
    (b"a LIST ~smith/Mail/ foo.*\r\n", "LIST", c.List("~smith/Mail/", ("foo.*",))),
    (b'a LIST "" %]\r\n', "LIST", c.List("", ("%]",))),
    (
        b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "Drafts/%") '
        b"RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n",  # RFC 5258, 5819
        "LIST",
        c.List(
            "",
            ("INBOX", "Drafts/%"),
            ("SUBSCRIBED", "RECURSIVEMATCH"),
            ("CHILDREN", "SPECIAL-USE", "STATUS"),
            ("MESSAGES", "UNSEEN"),
            extended=True,
        ),
    ),
    (b'a LIST "" % RETURN ()\r\n', "LIST", c.List("", ("%",), extended=True)),
    (b'a LIST () "" %\r\n', "LIST", c.List("", ("%",), extended=True)),
    (b'a LSUB "#news." "comp.mail.*"\r\n', "LSUB", c.Lsub("#news.", "comp.mail.*")),
    (b"a NAMESPACE\r\n", "NAMESPACE", c.Namespace()),
    (
        b"a STATUS blurdybloop (UIDNEXT MESSAGES size)\r\n",
        "STATUS",
        c.Status("blurdybloop", ("UIDNEXT", "MESSAGES", "SIZE")),
    ),
    (
        b"a APPEND saved-messages (\\Seen) {3}\r\nabc\r\n",
        "APPEND",
        c.Append("saved-messages", (c.AppendMessage(("\\Seen",), None, b"abc"),)),
    ),
    (
        b'a APPEND x "17-Jul-1996 02:44:25 -0700" {2+}\r\nhi\r\n',
        "APPEND",
        c.Append(
            "x",
            (
                c.AppendMessage(
                    (),
                    datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(-timedelta(hours=7))),
                    b"hi",
                ),
            ),
        ),
    ),
    (  # BINARY literal8 and MULTIAPPEND
        b'a APPEND x () " 5-Jan-2020 10:00:00 +0130" ~{3}\r\na\x00b {0}\r\n\r\n',
        "APPEND",
        c.Append(
            "x",
            (
                c.AppendMessage(
                    (),
                    datetime(2020, 1, 5, 10, 0, 0, tzinfo=timezone(timedelta(hours=1, minutes=30))),
                    b"a\x00b",
                    binary=True,
                ),
                c.AppendMessage((), None, b""),
            ),
        ),
    ),
    (  # RFC 6855 4: utf8-literal, then a plain one (MULTIAPPEND)
        b"a APPEND x (\\Seen) UTF8 (~{8}\r\nSubj: \xc3\xa9) {1}\r\nz\r\n",
        "APPEND",
        c.Append(
            "x",
            (
                c.AppendMessage(("\\Seen",), None, b"Subj: \xc3\xa9", binary=True, utf8=True),
                c.AppendMessage((), None, b"z"),
            ),
        ),
    ),
    # RFC 5464 4.2, 4.3 examples
    (
        b'a GETMETADATA "" /shared/comment\r\n',
        "GETMETADATA",
        c.GetMetadata("", ("/shared/comment",)),
    ),
    (
        b'a GETMETADATA "INBOX" (/shared/comment /Private/Comment)\r\n',
        "GETMETADATA",
        c.GetMetadata("INBOX", ("/shared/comment", "/private/comment")),
    ),
    (
        b'a GETMETADATA (MAXSIZE 1024 DEPTH infinity) "" (/shared /private/comment)\r\n',
        "GETMETADATA",
        c.GetMetadata("", ("/shared", "/private/comment"), 1024, None),
    ),
    (
        b'a GETMETADATA (DEPTH 1) "INBOX" (/private/filters/values)\r\n',
        "GETMETADATA",
        c.GetMetadata("INBOX", ("/private/filters/values",), None, 1),
    ),
    (
        b"a SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)\r\n",
        "SETMETADATA",
        c.SetMetadata("INBOX", (("/private/comment", b"My new comment across\r\ntwo lines."),)),
    ),
    (
        b'a SETMETADATA "" (/private/comment NIL /shared/vendor/x/y ~{2}\r\n\x00\x01)\r\n',
        "SETMETADATA",
        c.SetMetadata("", (("/private/comment", None), ("/shared/vendor/x/y", b"\x00\x01"))),
    ),
    (b"a IDLE\r\n", "IDLE", c.Idle()),
    (b"a UNAUTHENTICATE\r\n", "UNAUTHENTICATE", c.Unauthenticate()),
    (b"a COMPRESS DEFLATE\r\n", "COMPRESS", c.Compress("DEFLATE")),
    (b'a GETQUOTA ""\r\n', "GETQUOTA", c.GetQuota("")),
    (b"a GETQUOTAROOT INBOX\r\n", "GETQUOTAROOT", c.GetQuotaRoot("INBOX")),
    (
        b'a SETQUOTA "" (STORAGE 512 message 100)\r\n',
        "SETQUOTA",
        c.SetQuota("", (("STORAGE", 512), ("MESSAGE", 100))),
    ),
    (b"a CHECK\r\n", "CHECK", c.Check()),
    (b"a CLOSE\r\n", "CLOSE", c.Close()),
    (b"a UNSELECT\r\n", "UNSELECT", c.Unselect()),
    (b"a EXPUNGE\r\n", "EXPUNGE", c.Expunge()),
    (
        b"a UID EXPUNGE 3000:3002\r\n",
        "UID EXPUNGE",
        c.Expunge(SequenceSet(((3000, 3002),))),
    ),
    (b"a SEARCH ALL\r\n", "SEARCH", c.Search(False, s.All())),
    (
        b"a UID SEARCH RETURN (MIN MAX COUNT ALL SAVE) UNSEEN\r\n",
        "UID SEARCH",
        c.Search(
            True,
            s.FlagKey("\\Seen", False),
            None,
            (
                c.SearchReturn.MIN,
                c.SearchReturn.MAX,
                c.SearchReturn.COUNT,
                c.SearchReturn.ALL,
                c.SearchReturn.SAVE,
            ),
        ),
    ),
    (b"a SEARCH RETURN () ALL\r\n", "SEARCH", c.Search(False, s.All(), None, ())),
    (
        b"a SEARCH CHARSET UTF-8 TEXT {4}\r\n\xc3\xa9t\xc3\r\n",
        "SEARCH",
        None,  # invalid UTF-8 in the literal: checked below as an error
    ),
    (
        b"a SEARCH CHARSET utf-8 SUBJECT {3}\r\n\xc3\xa9t\r\n",
        "SEARCH",
        c.Search(False, s.HeaderKey("subject", "ét"), "UTF-8"),
    ),
    (
        b"a FETCH 1:* (FLAGS UID)\r\n",
        "FETCH",
        c.Fetch(False, ALL_SEQ, (FetchAttr.FLAGS, FetchAttr.UID)),
    ),
    (
        b"a UID FETCH 1:* FLAGS\r\n",
        "UID FETCH",
        c.Fetch(True, ALL_SEQ, (FetchAttr.UID, FetchAttr.FLAGS)),
    ),
    (
        b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",  # RFC 7162 3.2.6
        "UID FETCH",
        c.Fetch(True, SequenceSet(((300, 500),)), (FetchAttr.UID, FetchAttr.FLAGS), 12345, True),
    ),
    (
        b"a FETCH $ BODY[TEXT]\r\n",
        "FETCH",
        c.Fetch(False, SequenceSet(saved=True), (FetchBody(Section(text=SectionText.TEXT)),)),
    ),
    (
        b"a STORE 2:4 +FLAGS (\\Deleted)\r\n",
        "STORE",
        c.Store(False, SequenceSet(((2, 4),)), c.StoreMode.ADD, ("\\Deleted",)),
    ),
    (
        b"a UID STORE 7 (UNCHANGEDSINCE 320162338) -FLAGS.SILENT \\Seen $Junk\r\n",
        "UID STORE",
        c.Store(
            True, SequenceSet(((7, 7),)), c.StoreMode.REMOVE, ("\\Seen", "$Junk"), True, 320162338
        ),
    ),
    (
        b"a STORE 1 FLAGS ()\r\n",
        "STORE",
        c.Store(False, SequenceSet(((1, 1),)), c.StoreMode.REPLACE, ()),
    ),
    (b"a COPY 2:4 MEETING\r\n", "COPY", c.Copy(False, SequenceSet(((2, 4),)), "MEETING")),
    (b"a UID MOVE 42:69 foo\r\n", "UID MOVE", c.Move(True, SequenceSet(((42, 69),)), "foo")),
    (
        b"a SORT (REVERSE ARRIVAL SUBJECT displayfrom) UTF-8 UNDELETED\r\n",
        "SORT",
        c.Sort(
            False,
            (
                c.SortCriterion(c.SortKey.ARRIVAL, True),
                c.SortCriterion(c.SortKey.SUBJECT),
                c.SortCriterion(c.SortKey.DISPLAYFROM),
            ),
            "UTF-8",
            s.FlagKey("\\Deleted", False),
        ),
    ),
    (
        b"a UID SORT RETURN (COUNT) (DATE) US-ASCII ALL\r\n",  # RFC 5267 ESORT
        "UID SORT",
        c.Sort(
            True, (c.SortCriterion(c.SortKey.DATE),), "US-ASCII", s.All(), (c.SearchReturn.COUNT,)
        ),
    ),
    (
        b"a THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n",
        "THREAD",
        c.Thread(
            False,
            "ORDEREDSUBJECT",
            "UTF-8",
            s.DateKey(s.DateField.INTERNAL, s.DateOp.SINCE, date(2000, 3, 5)),
        ),
    ),
    (
        b"a UID THREAD REFERENCES US-ASCII ALL\r\n",
        "UID THREAD",
        c.Thread(True, "REFERENCES", "US-ASCII", s.All()),
    ),
]


@pytest.mark.parametrize(("wire", "name", "expected"), [x for x in CASES if x[2] is not None])
def test_parses(wire: bytes, name: str, expected: c.Command) -> None:
    parsed = parse(wire)
    assert parsed == c.TaggedCommand("a", name, expected)
    assert read_tag(wire.split(b"\r\n")[0]) == ("a", name)


ERRORS: list[tuple[bytes, str | None, str]] = [
    (b"\r\n", None, "tag"),
    (b"(x NOOP\r\n", None, "tag"),
    (b"+ NOOP\r\n", None, "tag"),
    (b"a\r\n", "a", "missing command"),
    (b"a  NOOP\r\n", "a", "command name"),
    (b"a FROB\r\n", "a", "unknown command"),
    (b"a NOOP extra\r\n", "a", "unexpected text"),
    (b"a UID NOOP\r\n", "a", "not a command"),
    (b"a LOGIN joe\r\n", "a", "space"),
    (b'a LOGIN "joe pw\r\n', "a", "quoted"),
    (b"a SELECT &Jjo\r\n", "a", "modified UTF-7"),
    (b"a SELECT caf\xc3\xa9\r\n", "a", "8-bit"),
    (b'a SELECT "a\x01b"\r\n', "a", "modified UTF-7"),
    (b"a SELECT {3}\r\na\x7fb\r\n", "a", "modified UTF-7"),
    (b"a SELECT x (FOO)\r\n", "a", "select parameter"),
    (b"a FETCH 0 FLAGS\r\n", "a", "sequence set"),
    (b"a FETCH 1 (FLAGS\r\n", "a", "space"),
    (b"a FETCH 1 (ALL)\r\n", "a", "macro"),
    (b"a FETCH 1 BODY[1.MIME\r\n", "a", "]"),
    (b"a FETCH 1 BODY[MIME]\r\n", "a", "part number"),
    (b"a FETCH 1 BODY[]<1.0>\r\n", "a", "nonzero"),
    (b"a FETCH 1 BINARY[1.TEXT]\r\n", "a", "]"),
    (b"a FETCH 1 FLAGS (VANISHED)\r\n", "a", "VANISHED"),
    (b"a FETCH 1 (FLAGS) (FOO 1)\r\n", "a", "fetch modifier"),
    (b"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "a", "header field"),
    (b"a FETCH 1 BODY[HEADER.FIELDS (a:b)]\r\n", "a", "header field name"),
    (b"a STORE 1 FLAGS.LOUD (\\Seen)\r\n", "a", "FLAGS"),
    (b"a STORE 1 FLAGS (\\*)\r\n", "a", "flag"),
    (b"a SEARCH\r\n", "a", "space"),
    (b"a SEARCH FOO\r\n", "a", "unknown search key"),
    (b"a SEARCH (ALL\r\n", "a", ")"),
    (b"a SEARCH OR ALL\r\n", "a", "space"),
    (b"a SEARCH SINCE 31-Feb-2000\r\n", "a", "date"),
    (b"a SEARCH SINCE 1-Foo-2000\r\n", "a", "date"),
    (b'a SEARCH SINCE "1-Feb-2000\r\n', "a", "date"),
    (b"a SEARCH CHARSET UTF-8 TEXT {4}\r\n\xc3\xa9t\xc3\r\n", "a", "UTF-8"),
    (b"a SEARCH TEXT caf\xc3\xa9\r\n", "a", "8-bit"),
    (b"a SEARCH RETURN (FOO) ALL\r\n", "a", "return option"),
    (b"a SEARCH LARGER 99999999999999999999999\r\n", "a", "too large"),
    (b"a APPEND x (\\Seen)\r\n", "a", "space"),
    (b"a APPEND x\r\n", "a", "literal"),
    (b'a APPEND x "32-Jul-1996 02:44:25 -0700" {1}\r\nx\r\n', "a", "date-time"),
    (b"a APPEND x {3}\r\na\x00b\r\n", "a", "NUL"),
    (b'a GETMETADATA "" /comment\r\n', "a", "entry name"),  # RFC 5464 3.2
    (b'a GETMETADATA "" /shared/*\r\n', "a", "entry name"),
    (b'a GETMETADATA "" /shared//x\r\n', "a", "entry name"),
    (b'a GETMETADATA "" /shared/x/\r\n', "a", "entry name"),
    (b'a GETMETADATA "" "/shared/caf\xc3\xa9"\r\n', "a", "entry name"),
    (b'a GETMETADATA (DEPTH 2) "" /shared\r\n', "a", "DEPTH"),
    (b'a GETMETADATA (FOO 1) "" /shared\r\n', "a", "option"),
    (b'a SETMETADATA "" (/shared "x")\r\n', "a", "entry name"),  # a value needs a name
    (b'a SETMETADATA "" ()\r\n', "a", "entry name"),
    (b"a APPEND x UTF8 ~{1}\r\nx\r\n", "a", "'('"),  # RFC 6855 4: in parentheses
    (b"a APPEND x UTF8 (~{1}\r\nx\r\n", "a", "')'"),
    (b"a SEARCH TEXT ~{1}\r\nx\r\n", "a", "literal8"),
    (b'a LIST (FOO) "" %\r\n', "a", "selection option"),
    (b'a LIST (RECURSIVEMATCH) "" %\r\n', "a", "RECURSIVEMATCH"),
    (b'a LIST "" % RETURN (FOO)\r\n', "a", "return option"),
    (b'a LIST "" ()\r\n', "a", "empty pattern"),
    (b"a STATUS x (MESSAGES FOO)\r\n", "a", "status item"),
    (b"a STATUS x ()\r\n", "a", "no status items"),
    (b"a AUTHENTICATE PLAIN %%%\r\n", "a", "base64"),
    (b"a ENABLE\r\n", "a", "space"),
    (b"a SORT () UTF-8 ALL\r\n", "a", "no sort criteria"),
    (b"a SORT (FOO) UTF-8 ALL\r\n", "a", "sort key"),
    (b"a SELECT M (QRESYNC (0 1))\r\n", "a", "must not be 0"),
    (b"a SELECT M (QRESYNC (1 2 1:*))\r\n", "a", '"*" is not allowed'),  # RFC 7162 7
    (b"a SELECT M (QRESYNC (1 2 (1:* 1:3)))\r\n", "a", '"*" is not allowed'),
    (b"a SELECT M (QRESYNC (1 2 1:9 (1:3 5,7)))\r\n", "a", "differ in number"),
    (b"a SELECT M (QRESYNC (1 2 $))\r\n", "a", '"$" is not allowed'),
    (b"a ID (" + b'"k" "v" ' * 31 + b")\r\n", "a", "ID"),
    (b"a SEARCH " + b"NOT " * 100 + b"ALL\r\n", "a", "deeply"),
    (b"a SEARCH " + b"(" * 100 + b"ALL" + b")" * 100 + b"\r\n", "a", "deeply"),
]


@pytest.mark.parametrize(("wire", "tag", "reason"), ERRORS)
def test_errors(wire: bytes, tag: str | None, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(wire)
    assert info.value.tag == tag
    assert reason.lower() in info.value.reason.lower()
    assert info.value.reply.tag == tag
    assert info.value.reply.status is Status.BAD


def test_badcharset_is_no() -> None:
    with pytest.raises(ParseError) as info:
        parse(b"a SEARCH CHARSET KOI8-R TEXT x\r\n")
    reply = info.value.reply
    assert reply.status is Status.NO and reply.code is not None
    assert reply.code.name == "BADCHARSET"  # RFC 9051 6.4.4


def test_mailbox_names_follow_the_session_encoding() -> None:
    assert parse(b"a SELECT &ZeVnLIqe-\r\n").command == c.Select("日本語")
    utf8 = parse(b'a SELECT "\xe6\x97\xa5\xe6\x9c\xac"\r\n', utf8=True).command
    assert utf8 == c.Select("日本")
    # in UTF-8 mode "&" is an ordinary character
    assert parse(b"a SELECT &ZeVnLIqe-\r\n", utf8=True).command == c.Select("&ZeVnLIqe-")
    assert parse(b"a SELECT InBoX\r\n").command == c.Select("INBOX")
    assert parse(b"a SELECT InBoX/sub\r\n").command == c.Select("InBoX/sub")


def test_search_strings_are_utf8_in_utf8_sessions() -> None:
    """RFC 6855 3: after ENABLE UTF8=ACCEPT (or IMAP4rev2) a SEARCH has no CHARSET and its
    strings are UTF-8; without it, 8-bit needs CHARSET UTF-8."""
    wire = b'a SEARCH SUBJECT "caf\xc3\xa9"\r\n'
    command = parse(wire, utf8=True).command
    assert isinstance(command, c.Search) and command.charset is None
    with pytest.raises(ParseError, match="US-ASCII"):
        parse(wire)


def test_control_characters_in_utf8_names() -> None:
    for wire in (b'a SELECT "a\x01b"\r\n', b"a SELECT {3}\r\na\x7fb\r\n"):
        with pytest.raises(ParseError, match="control character"):
            parse(wire, utf8=True)


def test_login_repr_hides_the_password() -> None:
    assert "SESAME" not in repr(parse(b"a LOGIN SMITH SESAME\r\n"))
    assert "AGpv" not in repr(parse(b"a AUTHENTICATE PLAIN AGpvZQBwdw==\r\n"))
