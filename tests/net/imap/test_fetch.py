"""FETCH and UID FETCH: every item, sections by part offsets, partials, \\Seen, streaming."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.response_types import BodyData

from mailkeep.net.imap.fetch import filter_header
from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, INITIAL, MULTIPART, tls_context

Connect = Callable[..., imaplib.IMAP4_SSL]


def fresh_mailbox(client: imaplib.IMAP4_SSL, name: str, messages: list[bytes]) -> None:
    """A new mailbox holding ``messages`` (UIDs 1..n), selected."""
    assert client.create(name)[0] == "OK"
    for raw in messages:
        assert client.append(name, None, None, raw)[0] == "OK"
    assert client.select(name)[0] == "OK"


def literal(data: list[object], index: int = 0) -> bytes:
    item = data[index]
    assert isinstance(item, tuple), data
    return bytes(item[1])


def test_whole_body_bytes_equal_what_was_delivered(connect: Connect) -> None:
    client = connect()
    client.select("INBOX", readonly=True)
    for number, raw in enumerate(INITIAL, start=1):
        typ, data = client.fetch(str(number), "(BODY.PEEK[])")
        assert typ == "OK"
        assert literal(data) == raw


def test_attributes(connect: Connect) -> None:
    client = connect()
    client.select("INBOX", readonly=True)
    _typ, data = client.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE UID ENVELOPE)")
    line = data[0]
    assert isinstance(line, bytes)
    assert re.search(rb"RFC822\.SIZE %d\b" % len(INITIAL[0]), line)
    assert re.search(rb'INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"', line)
    assert b'"message 1"' in line and b'(("Carol" NIL "carol" "example.org"))' in line
    assert b"UID 1" in line


def test_sections_of_a_multipart(connect: Connect) -> None:
    client = connect()
    client.select("INBOX", readonly=True)
    number = str(INITIAL.index(MULTIPART) + 1)
    typ, data = client.fetch(number, "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[TEXT])")
    assert typ == "OK"
    assert literal(data, 0) == b"hello part one"
    assert literal(data, 1) == (
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    assert literal(data, 2) == MULTIPART.split(b"\r\n\r\n", 1)[1]
    typ, data = client.fetch(number, "(BINARY.PEEK[2] BINARY.SIZE[2])")
    assert literal(data) == b"\x00\x01\x02\x03\x04\x05"
    assert b"BINARY.SIZE[2] 6" in bytes(data[-1])  # type: ignore[arg-type]
    typ, data = client.fetch(number, "(BODYSTRUCTURE)")
    assert b'"MIXED" ("boundary" "xyz")' in bytes(data[0])  # type: ignore[arg-type]


def test_header_fields_and_partial(connect: Connect) -> None:
    client = connect()
    client.select("INBOX", readonly=True)
    _, data = client.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT message-id)])")
    assert literal(data) == b"Subject: message 2\r\nMessage-ID: <2@example.org>\r\n\r\n"
    _, data = client.fetch("2", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject Message-ID Date)])")
    assert literal(data) == (b"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\n\r\n")
    _, data = client.fetch("2", "(BODY.PEEK[]<6.5>)")
    assert b"BODY[]<6>" in bytes(data[0][0])  # type: ignore[index]
    assert literal(data) == INITIAL[1][6:11]
    _typ, data = client.fetch("2", "(RFC822.HEADER)")
    assert literal(data) == INITIAL[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n"


def test_non_peek_sets_seen(connect: Connect) -> None:
    client = connect()
    fresh_mailbox(client, "fetch-seen", INITIAL[:2])
    _, data = client.fetch("1", "(BODY[TEXT])")
    assert b"\\Seen" in bytes(data[-1])  # type: ignore[arg-type]
    _, data = client.fetch("1:2", "(FLAGS)")
    assert b"\\Seen" in bytes(data[0]) and b"\\Seen" not in bytes(data[1])  # type: ignore[arg-type]
    client.select("fetch-seen", readonly=True)  # EXAMINE: fetching changes nothing
    client.fetch("2", "(RFC822)")
    _typ, data = client.fetch("2", "(FLAGS)")
    assert b"\\Seen" not in bytes(data[0])  # type: ignore[arg-type]


def test_big_message_streams_whole(connect: Connect) -> None:
    client = connect()
    big = b"Subject: big\r\n\r\n" + b"".join(
        b"%08d abcdefghijklmnopqrstuvwxyz\r\n" % i for i in range(60000)
    )
    fresh_mailbox(client, "fetch-big", [big])
    typ, data = client.uid("FETCH", "1", "(BODY.PEEK[])")
    assert typ == "OK" and literal(data) == big
    typ, data = client.uid("FETCH", "1", "(BODY.PEEK[]<1000000.300000>)")
    assert literal(data) == big[1000000:1300000]


def test_uid_fetch_skips_missing_and_bad_numbers(connect: Connect) -> None:
    client = connect()
    client.select("INBOX", readonly=True)
    typ, data = client.uid("FETCH", "1,999", "(UID)")
    assert typ == "OK" and len(data) == 1
    with pytest.raises(imaplib.IMAP4.error, match="invalid message sequence number"):
        client.fetch("999", "(UID)")


def test_filter_header_keeps_folded_fields() -> None:
    header = b"Subject: a\r\n long\r\nTo: x\r\nX-Other: y\r\n\r\n"
    assert filter_header(header, ["subject"], keep=True) == b"Subject: a\r\n long\r\n\r\n"
    assert filter_header(header, ["SUBJECT", "to"], keep=False) == b"X-Other: y\r\n\r\n"
    assert filter_header(header, ["Missing"], keep=True) == b"\r\n"


CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "mime"


def _leaves(body: Any, prefix: tuple[int, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(section number, body) of each non-multipart part of an imapclient BodyData."""
    if body.is_multipart:
        for i, child in enumerate(body[0], start=1):
            yield from _leaves(child, (*prefix, i))
    else:
        number = prefix or (1,)
        yield ".".join(str(n) for n in number), body
        if body[0].lower() == b"message" and body[1].lower() == b"rfc822":
            embedded = BodyData.create(body[8])  # numbered as the embedded message's parts
            yield from _leaves(embedded, number if embedded.is_multipart else (*number, 1))


def _crlf(raw: bytes) -> bytes:
    """CRLF line ends, stray bare CRs included (the corpus README says to normalise)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def test_corpus_sections_match_bodystructure_sizes(server: MailServer) -> None:
    """Third-party messages (the torture test, the christmas tree, Dovecot's malformed
    ones...): BODY[] is the message as appended, and each part's BODY[n] is exactly as long
    as its BODYSTRUCTURE size says."""
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is not here")
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".eml", ".txt"))
    raws = {p.name: _crlf(p.read_bytes()) for p in files}
    raws = {name: raw for name, raw in raws.items() if b"\0" not in raw}  # literal8 needed
    with IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=60
    ) as client:
        client.login(BOB, PASSWORD)
        client.create_folder("corpus")
        uids = {}
        for name, raw in raws.items():
            result = client.append("corpus", raw)
            uids[int(result.split()[2].rstrip(b"]"))] = name
        client.select_folder("corpus", readonly=True)
        mismatches = []
        for uid, name in uids.items():
            data = client.fetch([uid], ["BODY.PEEK[]", "BODYSTRUCTURE"])[uid]
            assert data[b"BODY[]"] == raws[name], name
            leaves = list(_leaves(data[b"BODYSTRUCTURE"]))
            sections = [f"BODY.PEEK[{number}]" for number, _ in leaves]
            parts = client.fetch([uid], sections)[uid]
            for number, body in leaves:
                got = parts.get(f"BODY[{number}]".encode())
                if len(got or b"") != body[6]:
                    mismatches.append((name, number, body[6], len(got or b"")))
        assert mismatches == [], mismatches
        torture = next(u for u, n in uids.items() if n == "torture-test.eml")
        sizes = [
            b[6]
            for _, b in _leaves(
                client.fetch([torture], ["BODYSTRUCTURE"])[torture][b"BODYSTRUCTURE"]
            )
        ]
        assert {4906, 562270, 917} <= set(sizes)
