from __future__ import annotations

import pytest

from mailkeep.protocol.imap.sequence import SequenceSet, parse_sequence_set


@pytest.mark.parametrize(
    ("text", "largest", "resolved"),
    [
        ("1", 10, ((1, 1),)),
        ("1:3,7", 10, ((1, 3), (7, 7))),
        ("3:1", 10, ((1, 3),)),  # RFC 9051 9: n:m equals m:n
        ("*", 10, ((10, 10),)),
        ("5:*", 3, ((3, 5),)),  # "*" below the explicit number
        ("1:*", 0, ()),  # empty mailbox
        ("2,4:7,9,12:*", 15, ((2, 2), (4, 7), (9, 9), (12, 15))),  # RFC 9051 9 example
        ("*:4,5:7", 10, ((4, 10),)),
        ("1,2,3", 10, ((1, 3),)),
    ],
)
def test_resolve(text: str, largest: int, resolved: tuple[tuple[int, int], ...]) -> None:
    parsed = parse_sequence_set(text)
    assert parsed.resolve(largest) == resolved
    assert parsed.to_imap() == text


def test_saved_result() -> None:
    saved = parse_sequence_set("$")
    assert saved == SequenceSet(saved=True)
    assert saved.resolve(99, [(5, 6), (2, 2)]) == ((2, 2), (5, 6))
    assert list(saved.numbers(99, [(5, 6)])) == [5, 6]
    with pytest.raises(ValueError, match="not allowed"):
        parse_sequence_set("$", allow_saved=False)


def test_largest_number() -> None:
    assert parse_sequence_set("1:3,9,*").largest_number() == 9
    assert parse_sequence_set("*").largest_number() == 0
    assert parse_sequence_set("20:*").largest_number() == 0


@pytest.mark.parametrize(
    "text", ["", "0", "1:0", "01", "1,,2", "a", "1:2:3", "4294967296", "$,1", "-1"]
)
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sequence_set(text)
