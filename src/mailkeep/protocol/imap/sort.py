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

import functools
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol, TypeVar

from mailkeep.protocol.imap.commands import SortCriterion, SortKey


class SortFields(Protocol):
    """What SORT and THREAD read of one message (the store's cached row fits as it is).

    ``sent_ts`` is the Date header in UTC seconds, or the internal date when it is missing
    or unparsable (RFC 5256 2.2); ``subject`` is the decoded subject (THREAD=REFERENCES
    asks whether it is a reply); the address fields are those of
    ``mail.sortfields.SearchFields``.
    """

    @property
    def uid(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def internal_ts(self) -> int: ...
    @property
    def sent_ts(self) -> int: ...
    @property
    def subject(self) -> str: ...
    @property
    def base_subject(self) -> str: ...
    @property
    def sort_from(self) -> str: ...
    @property
    def sort_to(self) -> str: ...
    @property
    def sort_cc(self) -> str: ...
    @property
    def display_from(self) -> str: ...
    @property
    def display_to(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def in_reply_to(self) -> str: ...
    @property
    def references(self) -> str: ...


class SortMessage(NamedTuple):
    """A SortFields value of its own (tests, callers without a store row)."""

    uid: int
    size: int = 0
    internal_ts: int = 0
    sent_ts: int = 0
    subject: str = ""
    base_subject: str = ""
    sort_from: str = ""
    sort_to: str = ""
    sort_cc: str = ""
    display_from: str = ""
    display_to: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""


M = TypeVar("M", bound=SortFields)


_TITLE: dict[str, str] = {}


@functools.lru_cache(maxsize=65536)  # SORT of a big mailbox maps the same strings again
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


def _key(key: SortKey) -> Callable[[SortFields], int | str]:
    if key is SortKey.ARRIVAL:
        return lambda m: m.internal_ts
    if key is SortKey.DATE:
        return lambda m: m.sent_ts
    if key is SortKey.SIZE:
        return lambda m: m.size
    if key is SortKey.SUBJECT:
        return lambda m: casemap(m.base_subject)
    if key is SortKey.FROM:
        return lambda m: casemap(m.sort_from)
    if key is SortKey.TO:
        return lambda m: casemap(m.sort_to)
    if key is SortKey.CC:
        return lambda m: casemap(m.sort_cc)
    if key is SortKey.DISPLAYFROM:
        return lambda m: casemap(m.display_from)
    return lambda m: casemap(m.display_to)


def sort_messages(messages: Sequence[M], criteria: Sequence[SortCriterion]) -> list[M]:
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
