"""FETCH attributes: every item, sections, partials, BINARY, macros, response names."""

from __future__ import annotations

import pytest

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap.errors import ParseError
from mailkeep.protocol.imap.fetch import (
    MACROS,
    FetchAttr,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    FetchPreview,
    Section,
    SectionText,
)
from mailkeep.protocol.imap.parser import parse_command

from .drive import split_command


def items(text: bytes) -> tuple[FetchItem, ...]:
    command = parse_command(*split_command(b"t FETCH 1 " + text + b"\r\n")).command
    assert isinstance(command, c.Fetch)
    return command.items


H = SectionText.HEADER
HF = SectionText.HEADER_FIELDS

ITEMS: list[tuple[bytes, FetchItem, bytes | None]] = [
    (b"ENVELOPE", FetchAttr.ENVELOPE, None),
    (b"FLAGS", FetchAttr.FLAGS, None),
    (b"INTERNALDATE", FetchAttr.INTERNALDATE, None),
    (b"RFC822.SIZE", FetchAttr.RFC822_SIZE, None),
    (b"BODY", FetchAttr.BODY, None),
    (b"BODYSTRUCTURE", FetchAttr.BODYSTRUCTURE, None),
    (b"UID", FetchAttr.UID, None),
    (b"MODSEQ", FetchAttr.MODSEQ, None),
    (b"SAVEDATE", FetchAttr.SAVEDATE, None),
    (b"EMAILID", FetchAttr.EMAILID, None),
    (b"THREADID", FetchAttr.THREADID, None),
    (b"RFC822", FetchBody(legacy="RFC822"), b"RFC822"),
    (b"RFC822.HEADER", FetchBody(Section(text=H), peek=True, legacy="RFC822.HEADER"), None),
    (b"RFC822.TEXT", FetchBody(Section(text=SectionText.TEXT), legacy="RFC822.TEXT"), None),
    (b"BODY[]", FetchBody(), b"BODY[]"),
    (b"BODY.PEEK[]", FetchBody(peek=True), b"BODY[]"),
    (b"body[header]", FetchBody(Section(text=H)), b"BODY[HEADER]"),
    (
        b"BODY[TEXT]<0.2048>",
        FetchBody(Section(text=SectionText.TEXT), partial=(0, 2048)),
        b"BODY[TEXT]<0>",
    ),
    (b"BODY[1]", FetchBody(Section((1,))), b"BODY[1]"),
    (b"BODY[4.2.2.1]", FetchBody(Section((4, 2, 2, 1))), b"BODY[4.2.2.1]"),
    (b"BODY[3.HEADER]", FetchBody(Section((3,), H)), b"BODY[3.HEADER]"),
    (b"BODY[3.TEXT]", FetchBody(Section((3,), SectionText.TEXT)), b"BODY[3.TEXT]"),
    (b"BODY[4.1.MIME]", FetchBody(Section((4, 1), SectionText.MIME)), b"BODY[4.1.MIME]"),
    (
        b"BODY.PEEK[HEADER.FIELDS (DATE FROM)]",
        FetchBody(Section((), HF, ("DATE", "FROM")), peek=True),
        b"BODY[HEADER.FIELDS (DATE FROM)]",
    ),
    (
        b'BODY[2.HEADER.FIELDS.NOT ("Received" {4}\r\nX-Ab)]<10.20>',
        FetchBody(
            Section((2,), SectionText.HEADER_FIELDS_NOT, ("Received", "X-Ab")), partial=(10, 20)
        ),
        b"BODY[2.HEADER.FIELDS.NOT (Received X-Ab)]<10>",
    ),
    (b"BINARY[]", FetchBody(binary=True), b"BINARY[]"),
    (
        b"BINARY.PEEK[1.2]<0.100>",
        FetchBody(Section((1, 2)), True, (0, 100), True),
        b"BINARY[1.2]<0>",
    ),
    (b"BINARY.SIZE[3]", FetchBinarySize((3,)), b"BINARY.SIZE[3]"),
    (b"BINARY.SIZE[]", FetchBinarySize(()), b"BINARY.SIZE[]"),
    (b"PREVIEW", FetchPreview(), None),
    (b"(PREVIEW (LAZY))", FetchPreview(lazy=True), None),
]


@pytest.mark.parametrize(("wire", "item", "name"), ITEMS, ids=[i[0].decode() for i in ITEMS])
def test_every_item(wire: bytes, item: FetchItem, name: bytes | None) -> None:
    assert items(wire) == (item,)
    if name is not None:
        assert isinstance(item, FetchBody | FetchBinarySize)
        assert item.response_name() == name


def test_seen_rules() -> None:
    # RFC 9051 6.4.5: BODY[] sets \Seen, BODY.PEEK[] and RFC822.HEADER do not
    assert FetchBody().sets_seen
    assert FetchBody(legacy="RFC822").sets_seen
    assert not FetchBody(peek=True).sets_seen
    assert not items(b"RFC822.HEADER")[0].sets_seen  # type: ignore[union-attr]


@pytest.mark.parametrize("macro", ["ALL", "FAST", "FULL", "all"])
def test_macros(macro: str) -> None:
    assert items(macro.encode()) == MACROS[macro.upper()]


def test_lists_and_order() -> None:
    got = items(b"(UID FLAGS BODY.PEEK[HEADER] PREVIEW BODY[1]<5.5>)")
    assert got == (
        FetchAttr.UID,
        FetchAttr.FLAGS,
        FetchBody(Section(text=H), peek=True),
        FetchPreview(),
        FetchBody(Section((1,)), partial=(5, 5)),
    )


@pytest.mark.parametrize(
    "wire",
    [
        b"()",
        b"(FLAGS",
        b"BODY[",
        b"BODY[0]",
        b"BODY[1.]",
        b"BODY[HEADER.FIELDS]",
        b"BODY[HEADER.FIELDS (]",
        b"BODY[]<1>",
        b"BODY[]<a.b>",
        b"BINARY[HEADER]",
        b"BINARY.SIZE[1]<0.1>",
        b"PREVIEW (FOO)",
        b"RFC822.PEEK",
        b"BODY.PEEK",
        b"BODY[1.2.3.4.5.6.7.8.9.10.MIMEX]",
        b"BODY[]<4294967296.1>",
    ],
)
def test_malformed(wire: bytes) -> None:
    with pytest.raises(ParseError):
        items(wire)
