"""ENVELOPE and BODYSTRUCTURE rendered from the MIME parser's types, on third-party
messages, and read back by imapclient."""

from __future__ import annotations

from pathlib import Path

import pytest
from imapclient.response_parser import parse_fetch_response

from mailkeep.mail.mime import parse_message
from mailkeep.protocol.imap.encoder import encode
from mailkeep.protocol.imap.responses import Data
from mailkeep.protocol.imap.structure import body_value, envelope_value
from mailkeep.protocol.imap.values import Atom

from .drive import CORPUS, corpus_file, imaplib_lines


def fetch_wire(raw: bytes, utf8: bool = False) -> bytes:
    info = parse_message(raw)
    items = [
        Atom("ENVELOPE"),
        envelope_value(info.envelope),
        Atom("BODYSTRUCTURE"),
        body_value(info.body),
        Atom("BODY"),
        body_value(info.body, extensible=False),
    ]
    return encode(Data((1, Atom("FETCH"), items)), utf8)


def reparse(wire: bytes) -> dict[bytes, object]:
    lines = imaplib_lines(wire.replace(b"* 1 FETCH ", b"1 ", 1))
    return parse_fetch_response(lines)[1]  # type: ignore[return-value]


def test_christmas_tree_sets_every_field() -> None:
    raw = corpus_file("mime", "crymap", "christmas-tree.eml").read_bytes()
    wire = fetch_wire(raw)
    assert b'BODYSTRUCTURE ("TEXT" "RICH" ("charset" "utf-8" "richness" "low") ' in wire
    assert (
        b'"<contentid@example.com>" "A test message" "8BIT" 85 2 NIL '
        b'("attachment" ("name" "foo.txt")) "en" "/foo/bar")'
    ) in wire
    assert b'BODY ("TEXT" "RICH" ("charset" "utf-8" "richness" "low") ' in wire
    assert b'"A test message" "8BIT" 85 2)' in wire  # BODY: no extension data
    assert wire.startswith(
        b'* 1 FETCH (ENVELOPE ("Fri, 21 Nov 1997 09:55:06 -0600" "This is the subject" '
        b'((NIL NIL "from" "example.com")) ((NIL NIL "sender" "example.com")) '
        b'((NIL NIL "reply-to" "example.com")) '
        # a group (RFC 3501 7.4.2): start (NIL NIL name NIL), members, end (NIL NIL NIL NIL);
        # 8-bit names go as literals outside UTF-8 sessions
        b"((NIL NIL {15}\r\nA M\xc3\xa4iling List NIL) "
        b'({11}\r\nT\xc3\xb6m Orwell NIL "to" "example.com") (NIL NIL NIL NIL)) '
        b'((NIL NIL "cc" "example.com")) ((NIL NIL "bcc" "example.com")) '
        b'"<inreplyto@example.com>" "<messageid@example.com>")'
    )
    assert b'(("A M\xc3\xa4iling List"' in fetch_wire(raw, utf8=True).replace(b"NIL NIL ", b"")
    parsed = reparse(wire)
    envelope = parsed[b"ENVELOPE"]
    assert envelope.subject == b"This is the subject"  # type: ignore[attr-defined]
    assert [a.mailbox for a in envelope.to] == [b"A M\xc3\xa4iling List", b"to", None]  # type: ignore[attr-defined]
    body = parsed[b"BODYSTRUCTURE"]
    assert body[:7] == (
        b"TEXT",
        b"RICH",
        (b"charset", b"utf-8", b"richness", b"low"),  # type: ignore[index]
        b"<contentid@example.com>",
        b"A test message",
        b"8BIT",
        85,
    )


def _content_ids(body: tuple[object, ...], path: str = "") -> list[tuple[str, bytes]]:
    """(part number, Content-Id) for every leaf, walking imapclient's reading."""
    out: list[tuple[str, bytes]] = []
    if isinstance(body[0], list | tuple):  # multipart: children, then the subtype
        if isinstance(body[0], list):
            children = body[0]
        else:  # nested raw form: the leading tuples are the children
            children = []
            for item in body:
                if not isinstance(item, tuple):
                    break
                children.append(item)
        for i, child in enumerate(children, 1):
            out += _content_ids(child, f"{path}.{i}" if path else str(i))  # type: ignore[arg-type]
        return out
    out.append((path or "1", body[3]))  # type: ignore[arg-type]
    if body[0] == b"MESSAGE" and body[1] == b"RFC822":
        out += _content_ids(body[8], path)  # type: ignore[arg-type]
    return out


def test_rfc3501_part_numbering() -> None:
    # RFC 3501 6.4.5's sample: each part's Content-Id is its part number.
    raw = corpus_file("mime", "crymap", "rfc3501_p56.eml").read_bytes()
    wire = fetch_wire(raw)
    body = reparse(wire)[b"BODYSTRUCTURE"]
    ids = [(path, cid) for path, cid in _content_ids(body) if cid is not None]  # type: ignore[arg-type]
    assert ids
    assert all(path == cid.decode() for path, cid in ids), ids
    assert {cid for _, cid in ids} >= {b"1", b"2", b"3.1", b"3.2", b"4.1", b"4.2.1", b"4.2.2.1"}


def test_torture_test_known_sizes() -> None:
    raw = corpus_file("mime", "crymap", "torture-test.eml").read_bytes()
    wire = fetch_wire(raw)
    for size in (b" 4906 ", b" 562270 ", b" 917 "):  # the corpus README's known part sizes
        assert size in wire
    parsed = reparse(wire)
    assert parsed[b"BODYSTRUCTURE"].is_multipart  # type: ignore[attr-defined]


def _corpus_messages() -> list[Path]:
    mime = CORPUS / "mime"
    if not mime.is_dir():
        return []
    return sorted(p for p in mime.rglob("*") if p.suffix in (".eml", ".txt") and p.is_file())


@pytest.mark.parametrize("path", _corpus_messages(), ids=lambda p: p.name)
def test_every_corpus_message_renders_valid_syntax(path: Path) -> None:
    raw = path.read_bytes()
    for utf8 in (False, True):
        parsed = reparse(fetch_wire(raw, utf8))
        assert set(parsed) >= {b"ENVELOPE", b"BODYSTRUCTURE", b"BODY"}
