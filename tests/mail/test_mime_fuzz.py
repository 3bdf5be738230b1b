"""Hypothesis over the parser: random bytes, message-shaped junk and mutated corpus messages
never raise, and every offset stays inside the message and inside its parent."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailkeep.mail.bodytext import (
    UnknownTransferEncoding,
    decode_part_body,
    preview,
    text_for_index,
)
from mailkeep.mail.headers import get_header, iter_fields, select_header_fields
from mailkeep.mail.mime import MessageInfo, Part, find_part, parse_message
from mailkeep.mail.sortfields import base_subject, parse_sent_date
from tests.mail.test_mime_corpus import MESSAGES, read_message

MESSAGE_TYPES = {("message", "rfc822"), ("message", "global")}

FUZZ = settings(
    max_examples=int(os.environ.get("MAILKEEP_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LINES = [
    b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: multipart/digest; boundary=c",
    b'Content-Type: multipart/alternative; boundary="b"',
    b"Content-Type: message/rfc822",
    b"Content-Type: text/html; charset*0*=utf-8''%C3; charset*1=x",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b'Content-Disposition: attachment; filename="a.txt',
    b'From: "x" <a@b>, Group: c@d;',
    b"Subject: =?utf-8?b?w6k=?= Re: [x] (fwd)",
    b"Date: Mon, 1 Jan 2001 00:00:00 +0000",
    b" folded continuation",
    b"--b",
    b"--b--",
    b"--c",
    b"--c--",
    b"",
    b"aGVsbG8=",
    b"=C3=A9=",
    b"<p>html &amp;</p>",
    b"\xff\xfe junk \x00",
]
ENDINGS = [b"\r\n", b"\n", b"\r"]

shaped = st.lists(st.tuples(st.sampled_from(LINES), st.sampled_from(ENDINGS)), max_size=60).map(
    lambda items: b"".join(line + end for line, end in items)
)

SMALL_CORPUS = [p for p in MESSAGES if p.stat().st_size < 30_000]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    if not SMALL_CORPUS:
        return draw(shaped)
    raw = bytearray(read_message(draw(st.sampled_from(SMALL_CORPUS))))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "lf", "truncate"]))
        start = draw(st.integers(0, len(raw)))
        end = draw(st.integers(start, min(len(raw), start + 400)))
        if kind == "delete":
            del raw[start:end]
        elif kind == "insert":
            raw[start:start] = draw(st.sampled_from(LINES)) + draw(st.sampled_from(ENDINGS))
        elif kind == "duplicate":
            raw[start:start] = raw[start:end]
        elif kind == "lf":
            raw = bytearray(bytes(raw).replace(b"\r\n", b"\n"))
        else:
            del raw[start:]
    return bytes(raw)


def _sections(part: Part, prefix: tuple[int, ...]) -> list[tuple[int, ...]]:
    container = part.message.body if part.message is not None else part
    if not container.is_multipart:
        return [(*prefix, 1)] if part.message is not None else []
    found = []
    for number, child in enumerate(container.children, 1):
        found.append((*prefix, number))
        found += _sections(child, (*prefix, number))
    return found


def check_nesting(part: Part, low: int, high: int) -> None:
    assert low <= part.header_start <= part.body_start <= part.body_end <= high
    assert part.size >= 0 and part.lines >= 0
    # What IMAP BODYSTRUCTURE relies on: multiparts have parts, messages have a message.
    assert bool(part.children) == part.is_multipart
    assert (part.message is not None) == ((part.type, part.subtype) in MESSAGE_TYPES)
    previous = part.body_start
    for child in part.children:
        assert child.header_start >= previous
        check_nesting(child, part.body_start, part.body_end)
        previous = child.body_end
    if part.message is not None:
        assert part.message.body.header_start == part.body_start
        check_nesting(part.message.body, part.body_start, part.body_end)


def check_everything(raw: bytes) -> None:
    info = parse_message(raw)
    assert info.size == len(raw)
    assert info.body.body_start == info.header_size
    check_nesting(info.body, 0, len(raw))
    assert MessageInfo.from_bytes(info.to_bytes()) == info
    top = (1,) if not info.body.is_multipart else ()
    sections = [top] if top else []
    sections += _sections(info.body, ()) if info.body.is_multipart else []
    for section in sections:
        assert find_part(info, section) is not None, section
    for part in info.body.walk():
        try:
            decode_part_body(raw, part)
        except UnknownTransferEncoding:
            pass
    text_for_index(raw, info, limit=500)
    preview(raw, info)
    header = raw[: info.header_size]
    select_header_fields(header, ["subject", "from"])
    select_header_fields(header, ["subject"], exclude=True)
    get_header(header, "subject")
    assert all(0 <= f.start <= f.value_start <= f.end <= len(header) for f in iter_fields(header))
    base_subject(info.search.subject)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(raw: bytes) -> None:
    check_everything(raw)


@FUZZ
@given(shaped)
def test_message_shaped_junk(raw: bytes) -> None:
    check_everything(raw)


@FUZZ
@given(mutated())
def test_mutated_corpus_messages(raw: bytes) -> None:
    check_everything(raw)


@FUZZ
@given(st.text(max_size=200))
def test_base_subject_is_total_and_idempotent(subject: str) -> None:
    once = base_subject(subject)
    assert base_subject(once) == once


@FUZZ
@given(st.binary(max_size=200))
def test_sent_date_parsing_is_total(value: bytes) -> None:
    sent = parse_sent_date(value)
    assert sent is None or sent.tzinfo is not None


@FUZZ
@given(st.text(alphabet="0123456789 :+-,ADFJMNOSTaceghilnoprtuvy()\t", max_size=60))
def test_date_like_text_is_total(value: str) -> None:
    sent = parse_sent_date(value.encode())
    assert sent is None or sent.tzinfo is not None
