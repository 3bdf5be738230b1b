"""SORT ordering (RFC 5256 3, RFC 5957 DISPLAYFROM/DISPLAYTO) and the ESORT result set
(RFC 5267 3), over fields the store cached at delivery.

Implementation notes (invariants):

- The input is the searched messages in mailbox order (ascending UID, which is sequence
  order); every ordering here is stable, so the implicit last criterion, "sequence
  number", costs nothing and REVERSE never reverses it (RFC 5256 3: REVERSE applies to one
  criterion only).
- Several criteria are applied as stable sorts from the last to the first: the result is
  the lexicographic order of the criteria, and ``reverse=True`` keeps ties in place.
- Strings compare by i;unicode-casemap (RFC 5051, required by RFC 5256 7): each character
  mapped to its titlecase form (the simple one-character mapping; characters whose only
  titlecase form is several characters stay as they are), then canonical decomposition,
  compared by code point, which is the order of their UTF-8 octets. An absent header is
  the empty string, which sorts first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from mailkeep.protocol.imap.commands import SortCriterion, SortKey


class SortMessage(NamedTuple):
    """One searched message as SORT and THREAD see it (a NamedTuple: one per message of a
    big mailbox, built from the store's row in one step).

    ``id`` is what the response reports (sequence number or UID), ``uid`` the UID;
    ``sent`` is the Date header in UTC seconds, or the internal date when it is missing or
    unparsable (RFC 5256 2.2); ``subject`` is the decoded subject (THREAD=REFERENCES needs
    to know whether it is a reply); the address fields are those of
    ``mail.sortfields.SearchFields``.
    """

    id: int
    uid: int = 0
    size: int = 0
    arrival: int = 0
    sent: int = 0
    subject: str = ""
    base_subject: str = ""
    from_: str = ""
    to: str = ""
    cc: str = ""
    display_from: str = ""
    display_to: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""


_TITLE: dict[str, str] = {}


def casemap(text: str) -> str:
    """The i;unicode-casemap key of ``text`` (RFC 5051 2): equal keys are equal strings."""
    if text.isascii():
        return text.upper()  # the titlecase of an ASCII letter is its upper case
    return unicodedata.normalize("NFD", "".join(_title(ch) for ch in text))


def _title(ch: str) -> str:
    mapped = _TITLE.get(ch)
    if mapped is None:
        title = ch.title()
        mapped = _TITLE[ch] = title if len(title) == 1 else ch
    return mapped


def _key(key: SortKey) -> Callable[[SortMessage], int | str]:
    if key is SortKey.ARRIVAL:
        return lambda m: m.arrival
    if key is SortKey.DATE:
        return lambda m: m.sent
    if key is SortKey.SIZE:
        return lambda m: m.size
    if key is SortKey.SUBJECT:
        return lambda m: casemap(m.base_subject)
    if key is SortKey.FROM:
        return lambda m: casemap(m.from_)
    if key is SortKey.TO:
        return lambda m: casemap(m.to)
    if key is SortKey.CC:
        return lambda m: casemap(m.cc)
    if key is SortKey.DISPLAYFROM:
        return lambda m: casemap(m.display_from)
    return lambda m: casemap(m.display_to)


def sort_messages(
    messages: Sequence[SortMessage], criteria: Sequence[SortCriterion]
) -> list[SortMessage]:
    """``messages`` (in mailbox order) in the order of ``criteria`` (RFC 5256 3)."""
    ordered = list(messages)
    for criterion in reversed(criteria):
        # list.sort computes each key once per message, not once per comparison
        ordered.sort(key=_key(criterion.key), reverse=criterion.reverse)
    return ordered


def ordered_set(numbers: Iterable[int]) -> str:
    """A sequence-set in the given order for ESORT ALL (RFC 5267 3.2): runs that go up by
    one become ``a:b``; a descending run is written out, never as ``b:a``."""
    parts: list[str] = []
    start = previous = -1
    for number in numbers:
        if start >= 0 and number == previous + 1:
            previous = number
            continue
        if start >= 0:
            parts.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = number
    if start >= 0:
        parts.append(str(start) if start == previous else f"{start}:{previous}")
    return ",".join(parts)
