from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailkeep.protocol.imap import mutf7


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 5.1.3
        ("INBOX", b"INBOX"),
        ("Tom & Jerry", b"Tom &- Jerry"),
        ("Entwürfe", b"Entw&APw-rfe"),
        ("", b""),
        ("😀", b"&2D3eAA-"),  # a surrogate pair
        ("a&b€c", b"a&-b&IKw-c"),
    ],
)
def test_known_encodings(text: str, wire: bytes) -> None:
    assert mutf7.encode(text) == wire
    assert mutf7.decode(wire) == text


@given(st.text())
def test_round_trip(text: str) -> None:
    assert mutf7.decode(mutf7.encode(text)) == text


@pytest.mark.parametrize(
    "wire",
    [
        b"&U,BTFw",  # no closing "-"
        b"&AGE-",  # "a" must not be encoded
        b"&U,BTF-",  # not whole UTF-16 units
        b"&2D0-",  # a lone high surrogate
        b"caf\xc3\xa9",  # raw 8-bit
        b"&U/BTFw-",  # "/" instead of ","
        b"&U,BTFx-",  # leftover bits set: not canonical
        b"tab\there",
    ],
)
def test_invalid(wire: bytes) -> None:
    with pytest.raises(mutf7.MUTF7Error):
        mutf7.decode(wire)


@given(st.binary(max_size=40))
def test_random_bytes_only_raise_mutf7_error(data: bytes) -> None:
    try:
        text = mutf7.decode(data)
    except mutf7.MUTF7Error:
        return
    assert mutf7.encode(text) == data  # whatever decodes has exactly this one spelling
