"""Search keys: every key of RFC 3501/9051 and the extensions, nesting and grouping."""

from __future__ import annotations

from datetime import date

import pytest

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap.errors import ParseError
from mailkeep.protocol.imap.parser import parse_command
from mailkeep.protocol.imap.search import (
    AgeKey,
    All,
    And,
    DateField,
    DateKey,
    DateOp,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    Or,
    SaveDateSupported,
    SearchKey,
    SequenceKey,
    SizeKey,
    TextKey,
    TextWhere,
    uses_modseq,
)
from mailkeep.protocol.imap.sequence import SequenceSet

from .drive import split_command


def criteria(keys: bytes, charset: bytes = b"") -> SearchKey:
    wire = b"t SEARCH " + (b"CHARSET " + charset + b" " if charset else b"") + keys + b"\r\n"
    command = parse_command(*split_command(wire)).command
    assert isinstance(command, c.Search)
    return command.criteria


D = date(1994, 2, 1)

KEYS: list[tuple[bytes, SearchKey]] = [
    (b"ALL", All()),
    (b"ANSWERED", FlagKey("\\Answered")),
    (b"BCC x", HeaderKey("bcc", "x")),
    (b"BEFORE 1-Feb-1994", DateKey(DateField.INTERNAL, DateOp.BEFORE, D)),
    (b'BODY "a b"', TextKey(TextWhere.BODY, "a b")),
    (b"CC x", HeaderKey("cc", "x")),
    (b"DELETED", FlagKey("\\Deleted")),
    (b"DRAFT", FlagKey("\\Draft")),
    (b"FLAGGED", FlagKey("\\Flagged")),
    (b"FROM Smith", HeaderKey("from", "Smith")),
    (b"HEADER Message-ID <a@b>", HeaderKey("message-id", "<a@b>")),
    (b'HEADER X-Empty ""', HeaderKey("x-empty", "")),
    (b"KEYWORD $Forwarded", FlagKey("$Forwarded")),
    (b"LARGER 1000", SizeKey(True, 1000)),
    (b"NEW", And((FlagKey("\\Recent"), FlagKey("\\Seen", False)))),
    (b"NOT SEEN", Not(FlagKey("\\Seen"))),
    (b"OLD", FlagKey("\\Recent", False)),
    (b'ON "1-Feb-1994"', DateKey(DateField.INTERNAL, DateOp.ON, D)),
    (b"OR SEEN FLAGGED", Or(FlagKey("\\Seen"), FlagKey("\\Flagged"))),
    (b"RECENT", FlagKey("\\Recent")),
    (b"SEEN", FlagKey("\\Seen")),
    (b"SENTBEFORE 1-Feb-1994", DateKey(DateField.SENT, DateOp.BEFORE, D)),
    (b"SENTON 01-Feb-1994", DateKey(DateField.SENT, DateOp.ON, D)),
    (b"SENTSINCE 1-feb-1994", DateKey(DateField.SENT, DateOp.SINCE, D)),
    (b"SINCE 1-Feb-1994", DateKey(DateField.INTERNAL, DateOp.SINCE, D)),
    (b"SMALLER 5", SizeKey(False, 5)),
    (b"SUBJECT afternoon", HeaderKey("subject", "afternoon")),
    (b"TEXT x", TextKey(TextWhere.TEXT, "x")),
    (b"TO x", HeaderKey("to", "x")),
    (b"UID 1:3,9", SequenceKey(SequenceSet(((1, 3), (9, 9))), uid=True)),
    (b"UID $", SequenceKey(SequenceSet(saved=True), uid=True)),  # RFC 5182
    (b"UNANSWERED", FlagKey("\\Answered", False)),
    (b"UNDELETED", FlagKey("\\Deleted", False)),
    (b"UNDRAFT", FlagKey("\\Draft", False)),
    (b"UNFLAGGED", FlagKey("\\Flagged", False)),
    (b"UNKEYWORD $Junk", FlagKey("$Junk", False)),
    (b"UNSEEN", FlagKey("\\Seen", False)),
    (b"2:4", SequenceKey(SequenceSet(((2, 4),)))),
    (b"*", SequenceKey(SequenceSet(((None, None),)))),
    (b"$", SequenceKey(SequenceSet(saved=True))),
    (b"MODSEQ 620162338", ModSeqKey(620162338)),  # RFC 7162 3.1.5
    (
        b'MODSEQ "/flags/\\\\draft" all 620162338',
        ModSeqKey(620162338, "/flags/\\draft", "ALL"),
    ),
    (b"OLDER 3600", AgeKey(True, 3600)),  # RFC 5032
    (b"YOUNGER 60", AgeKey(False, 60)),
    (b"SAVEDBEFORE 1-Feb-1994", DateKey(DateField.SAVED, DateOp.BEFORE, D)),  # RFC 8514
    (b"SAVEDON 1-Feb-1994", DateKey(DateField.SAVED, DateOp.ON, D)),
    (b"SAVEDSINCE 1-Feb-1994", DateKey(DateField.SAVED, DateOp.SINCE, D)),
    (b"SAVEDATESUPPORTED", SaveDateSupported()),
]


@pytest.mark.parametrize(("wire", "key"), KEYS, ids=[k[0].decode() for k in KEYS])
def test_every_key(wire: bytes, key: SearchKey) -> None:
    assert criteria(wire) == key


def test_key_names_are_case_insensitive() -> None:
    assert criteria(b"unseen or Seen dRaFt") == And(
        (FlagKey("\\Seen", False), Or(FlagKey("\\Seen"), FlagKey("\\Draft")))
    )


def test_rfc3501_example() -> None:
    assert criteria(b'FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"') == And(
        (
            FlagKey("\\Flagged"),
            DateKey(DateField.INTERNAL, DateOp.SINCE, D),
            Not(HeaderKey("from", "Smith")),
        )
    )


def test_nesting_and_groups() -> None:
    got = criteria(b"OR (SEEN FROM a) NOT (OR 1:5 (UID 7 DELETED)) LARGER 10")
    assert got == And(
        (
            Or(
                And((FlagKey("\\Seen"), HeaderKey("from", "a"))),
                Not(
                    Or(
                        SequenceKey(SequenceSet(((1, 5),))),
                        And(
                            (
                                SequenceKey(SequenceSet(((7, 7),)), uid=True),
                                FlagKey("\\Deleted"),
                            )
                        ),
                    )
                ),
            ),
            SizeKey(True, 10),
        )
    )
    assert criteria(b"((ALL))") == All()
    assert criteria(b"NOT NOT OR OR SEEN DRAFT NOT ANSWERED ALL") == And(
        (
            Not(Not(Or(Or(FlagKey("\\Seen"), FlagKey("\\Draft")), Not(FlagKey("\\Answered"))))),
            All(),
        )
    )


def test_or_takes_exactly_two_keys() -> None:
    assert criteria(b"OR SEEN DRAFT ANSWERED") == And(
        (Or(FlagKey("\\Seen"), FlagKey("\\Draft")), FlagKey("\\Answered"))
    )


def test_charset_decodes_literals() -> None:
    assert criteria(b"TEXT {6}\r\nXXXXXX", b"UTF-8") == TextKey(TextWhere.TEXT, "XXXXXX")
    assert criteria(b"BODY {4}\r\n\xd0\x96\xd0\xb8", b"UTF-8") == TextKey(TextWhere.BODY, "Жи")
    with pytest.raises(ParseError, match="US-ASCII"):
        criteria(b"BODY {2}\r\n\xd0\x96", b"US-ASCII")


@pytest.mark.parametrize(
    "wire",
    [
        b"OR SEEN",
        b"NOT",
        b"HEADER",
        b"HEADER x",
        b"SINCE",
        b"KEYWORD",
        b"LARGER -1",
        b"UID",
        b"(SEEN",
        b"SEEN)",
        b"()",
        b"MODSEQ",
        b'MODSEQ "x" BAD 1',
        b"OLDER 0",
        b"1:0",
    ],
)
def test_malformed(wire: bytes) -> None:
    with pytest.raises(ParseError):
        criteria(wire)


@pytest.mark.parametrize(
    ("keys", "found"),
    [
        (b"MODSEQ 5", True),
        (b'MODSEQ "/flags/\\\\draft" all 620162338', True),  # RFC 7162 3.1.5 example
        (b"SEEN NOT MODSEQ 5", True),
        (b"OR FLAGGED (DRAFT MODSEQ 7)", True),
        (b"SEEN NOT (OR FLAGGED DRAFT)", False),
        (b"ALL", False),
    ],
)
def test_uses_modseq(keys: bytes, found: bool) -> None:
    """A MODSEQ criterion anywhere makes the search CONDSTORE-enabling (RFC 7162 3.1)."""
    assert uses_modseq(criteria(keys)) is found
