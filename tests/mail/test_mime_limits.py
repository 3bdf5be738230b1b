"""Hostile sizes and shapes stay linear: each case here takes well under a second on the
reference machine, where a quadratic scan would take minutes. Bounds are generous so a
loaded CI machine does not flake; what they catch is a complexity regression."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from mailkeep.mail.bodytext import preview, text_for_index
from mailkeep.mail.mime import MAX_FIELD_OCTETS, MessageInfo, parse_message
from mailkeep.mail.sortfields import base_subject

BOUND_SECONDS = 20.0


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def parse_all(raw: bytes) -> MessageInfo:
    info = parse_message(raw)
    MessageInfo.from_bytes(info.to_bytes())
    text_for_index(raw, info)
    preview(raw, info)
    return info


CASES = {
    "long single header line": b"Subject: " + b"x" * 8_000_000,
    "long single body line": b"Subject: x\r\n\r\n" + b"y" * 8_000_000,
    "dash lines that are not boundaries": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" + b"--x\r\n" * 400_000
    ),
    "a line of dashes": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"-" * 8_000_000,
    "deep multipart nesting": b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(20_000)
    ),
    "deep message nesting": b"Content-Type: message/rfc822\r\n\r\n" * 50_000,
    "many parts without blank lines": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\nX: y\r\n" * 100_000
    ),
    "many unclosed html tags": (
        b"Content-Type: text/html\r\n\r\n" + b"<script <a " * 200_000 + b"<p>text</p>"
    ),
    "many unclosed comments and quotes in addresses": b"To: " + b'(a "b <c ' * 20_000 + b"\r\n\r\n",
    "white space inside a parameter value": (
        b"Content-Type: text/plain; name=x" + b" " * 200_000 + b"y\r\n\r\nx"
    ),
    "unclosed comments in structured fields": (
        b"Content-Type: "
        + b"(" * 100_000
        + b"\r\nContent-Transfer-Encoding: "
        + b"(" * 100_000
        + b"\r\n\r\nx"
    ),
    "many rfc2231 sections": (
        b"Content-Type: text/plain"
        + b"".join(b"; name*%d*=%%41" % i for i in range(20_000))
        + b"\r\n\r\nx"
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_shapes_parse_in_bounded_time(name: str) -> None:
    raw = CASES[name]
    assert timed(lambda: parse_all(raw)) < BOUND_SECONDS


def test_header_values_kept_for_metadata_are_capped() -> None:
    raw = b"Subject: " + b"x" * (MAX_FIELD_OCTETS * 4) + b"\r\n\r\nbody"
    info = parse_message(raw)
    assert info.envelope.subject is not None
    assert len(info.envelope.subject) == MAX_FIELD_OCTETS - 1  # the space after the colon
    assert info.body.body_start == len(raw) - 4  # offsets are exact all the same


@pytest.mark.parametrize(
    "subject",
    [
        "x" + " (fwd)" * 40_000,
        "Re: " * 60_000 + "x",
        "[fwd: " * 40_000 + "x" + "]" * 40_000,
        "[a] " * 60_000 + "x",
        "[a]" * 60_000 + "Re: x",
    ],
)
def test_base_subject_is_linear(subject: str) -> None:
    assert timed(lambda: base_subject(subject)) < BOUND_SECONDS
