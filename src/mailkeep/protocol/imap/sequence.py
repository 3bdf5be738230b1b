"""Sequence sets (RFC 9051 9 "sequence-set", RFC 5182 "$" of SEARCHRES).

A set is kept as the client wrote it, with ``*`` as None, and resolved against the
mailbox when used: ``*`` is the largest number in use (RFC 9051 6.4.9: with UIDs, the
largest UID, even when the client's number is larger), ``n:m`` equals ``m:n``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

Bound = int | None  # None is "*"


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A parsed sequence set; ``saved`` is "$", the saved search result (RFC 5182 2.1)."""

    ranges: tuple[tuple[Bound, Bound], ...] = ()
    saved: bool = False

    def resolve(
        self, largest: int, saved: Sequence[tuple[int, int]] = ()
    ) -> tuple[tuple[int, int], ...]:
        """Sorted, merged, inclusive ranges; ``*`` is ``largest``; ``$`` is ``saved``.

        Nothing is clamped: a UID set may name UIDs that do not exist (the caller skips
        them); for sequence numbers check ``largest_number() <= exists`` first.
        """
        if self.saved:
            pairs = list(saved)
        else:
            pairs = []
            for lo, hi in self.ranges:
                if largest < 1 and (lo is None or hi is None):
                    continue  # "*" names nothing in an empty mailbox
                a = largest if lo is None else lo
                b = largest if hi is None else hi
                pairs.append((min(a, b), max(a, b)))
        pairs.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in pairs:
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return tuple(merged)

    def numbers(self, largest: int, saved: Sequence[tuple[int, int]] = ()) -> Iterator[int]:
        """Every number of the resolved set, ascending."""
        for lo, hi in self.resolve(largest, saved):
            yield from range(lo, hi + 1)

    def largest_number(self) -> int:
        """The largest number of the ranges without "*" (0 for "$"), to check message
        sequence numbers against the mailbox size (RFC 9051 7.1: BAD for a number that
        does not exist). A range with "*" ("5:*" with 3 messages is 3:5) always names
        the last message; clamp its resolution to the mailbox size."""
        return max(
            (max(lo, hi) for lo, hi in self.ranges if lo is not None and hi is not None),
            default=0,
        )

    def to_imap(self) -> str:
        if self.saved:
            return "$"

        def bound(b: Bound) -> str:
            return "*" if b is None else str(b)

        return ",".join(
            bound(lo) if lo == hi else f"{bound(lo)}:{bound(hi)}" for lo, hi in self.ranges
        )


def parse_sequence_set(text: str, allow_saved: bool = True) -> SequenceSet:
    """Parse ``1:3,7,9:*`` or ``$``; ValueError with a reason when it is not one."""
    if text == "$":
        if not allow_saved:
            raise ValueError('"$" is not allowed here')
        return SequenceSet(saved=True)
    ranges: list[tuple[Bound, Bound]] = []
    for item in text.split(","):
        lo, sep, hi = item.partition(":")
        first = _bound(lo)
        ranges.append((first, _bound(hi) if sep else first))
    return SequenceSet(tuple(ranges))


def _bound(text: str) -> Bound:
    if text == "*":
        return None
    if not text.isascii() or not text.isdigit() or text.startswith("0"):
        raise ValueError(f"{text!r} is not a nonzero number or *")
    value = int(text)
    if value > 0xFFFFFFFF:  # RFC 9051 9: nz-number is 32-bit
        raise ValueError(f"{text} is larger than 4294967295")
    return value
