"""Search criteria: an IMAP-shaped tree, and the exact (reference) evaluator.

RFC 9051 6.4.4 and RFC 3501 6.4.4 (every SEARCH key), RFC 7162 3.1.5 (MODSEQ), RFC 8514 4.3
(SAVEDBEFORE/SAVEDON/SAVEDSINCE), RFC 5032 (OLDER/YOUNGER, as seconds before now).

How the IMAP layer maps its keys (the store has no sequence numbers, no \\Recent, no $):
  ALL → All(); ANSWERED/DELETED/DRAFT/FLAGGED/SEEN → HasFlag(Flag.X); UN... → Not(HasFlag);
  KEYWORD k / UNKEYWORD k → HasKeyword(k) / Not(HasKeyword(k));
  BEFORE/ON/SINCE d → DateIs(DateField.INTERNAL, op, d); SENT... → DateField.SENT;
  SAVED... → DateField.SAVED; OLDER/YOUNGER n → Age(op, seconds);
  LARGER/SMALLER n → SizeIs(">" or "<", n); MODSEQ n → ModSeqAtLeast(n);
  BCC/CC/FROM/SUBJECT/TO s → Header(name, s); HEADER name s → Header(name, s);
  BODY s → Body(s); TEXT s → Text(s); UID set and message sets (resolved to UIDs by the
  session, $ from SEARCHRES too) → Uids(UidSet); NEW → And(Uids(recent), Not(SEEN));
  OLD → Not(Uids(recent)); RECENT → Uids(recent); key lists → And(...); OR → Or; NOT → Not.

Text semantics: case-insensitive substring (Unicode full case folding, str.casefold) over the
decoded text (RFC 2047 words, charsets, transfer encodings undone at delivery). An empty
string matches every message that has the field (HEADER name "" = has the header).
Date semantics: the date part in the value's own time zone, time of day ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from mailkeep.store.models import Flag, UidSet

DateOp = Literal["before", "on", "since"]


class DateField(enum.Enum):
    INTERNAL = "internal"
    SENT = "sent"
    SAVED = "saved"


@dataclass(frozen=True, slots=True)
class All:
    pass


@dataclass(frozen=True, slots=True)
class Uids:
    uids: UidSet


@dataclass(frozen=True, slots=True)
class HasFlag:
    flag: Flag


@dataclass(frozen=True, slots=True)
class HasKeyword:
    keyword: str


@dataclass(frozen=True, slots=True)
class DateIs:
    field: DateField
    op: DateOp
    day: date


@dataclass(frozen=True, slots=True)
class Age:
    """OLDER n (op "older": internal date at least n seconds ago) / YOUNGER n (RFC 5032)."""

    op: Literal["older", "younger"]
    seconds: int


@dataclass(frozen=True, slots=True)
class SizeIs:
    op: Literal["<", ">"]
    size: int


@dataclass(frozen=True, slots=True)
class ModSeqAtLeast:
    modseq: int


@dataclass(frozen=True, slots=True)
class Header:
    """HEADER name value; name case-insensitive ("subject", "from", "x-spam"...)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Body:
    value: str


@dataclass(frozen=True, slots=True)
class Text:
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    criterion: Criterion


@dataclass(frozen=True, slots=True)
class And:
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Or:
    left: Criterion
    right: Criterion


Criterion = (
    All
    | Uids
    | HasFlag
    | HasKeyword
    | DateIs
    | Age
    | SizeIs
    | ModSeqAtLeast
    | Header
    | Body
    | Text
    | Not
    | And
    | Or
)

# Header fields the store keeps as separate folded columns; others are found in the header text.
INDEXED_HEADERS = ("subject", "from", "to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the evaluator needs of one message; texts are already casefolded.

    ``header_text`` holds one "name: value" line per header field (name lowercase, value
    decoded and unfolded); ``headers`` the indexed fields; texts are loaded on demand.
    """

    uid: int
    modseq: int
    flags: Flag
    keywords: frozenset[str]
    size: int
    internal_date: datetime
    save_date: datetime
    sent_date: datetime | None
    headers: Callable[[str], str]
    header_text: Callable[[], str]
    body_text: Callable[[], str]


def fold(text: str) -> str:
    """The case folding used for both the index and the check (context-free, per char)."""
    return text.casefold()


def keyword_key(keyword: str) -> str:
    """Keywords (ASCII atoms) compare case-insensitively (RFC 9051 2.3.2): the comparison key."""
    return keyword.lower()


def _date_matches(value: datetime | None, op: DateOp, day: date) -> bool:
    if value is None:
        return False
    own = value.date()
    if op == "before":
        return own < day
    if op == "on":
        return own == day
    return own >= day


def header_lines_match(header_text: str, name: str, value: str) -> bool:
    """True when a "name: value" line of ``header_text`` has field ``name`` containing value."""
    prefix = name.lower() + ":"
    needle = fold(value)
    for line in header_text.split("\n"):
        if line.startswith(prefix) and needle in line[len(prefix) :].lstrip(" "):
            return True
    return False


def evaluate(criterion: Criterion, c: Candidate, now: datetime) -> bool:
    """The exact meaning of ``criterion`` for one message (used to confirm index hits)."""
    match criterion:
        case All():
            return True
        case Uids(uids):
            return c.uid in uids
        case HasFlag(flag):
            return bool(c.flags & flag)
        case HasKeyword(keyword):
            key = keyword_key(keyword)
            return any(keyword_key(k) == key for k in c.keywords)
        case DateIs(field, op, day):
            value = {
                DateField.INTERNAL: c.internal_date,
                DateField.SENT: c.sent_date,
                DateField.SAVED: c.save_date,
            }[field]
            return _date_matches(value, op, day)
        case Age(op, seconds):
            age = (now - c.internal_date).total_seconds()
            return age >= seconds if op == "older" else age <= seconds
        case SizeIs(op, size):
            return c.size < size if op == "<" else c.size > size
        case ModSeqAtLeast(modseq):
            return c.modseq >= modseq
        case Header(name, value):
            lname = name.lower()
            if lname in INDEXED_HEADERS and value:
                return fold(value) in c.headers(lname)
            return header_lines_match(c.header_text(), lname, value)
        case Body(value):
            return fold(value) in c.body_text()
        case Text(value):
            needle = fold(value)
            return needle in c.header_text() or needle in c.body_text()
        case Not(inner):
            return not evaluate(inner, c, now)
        case And(items):
            return all(evaluate(i, c, now) for i in items)
        case Or(left, right):
            return evaluate(left, c, now) or evaluate(right, c, now)
    raise TypeError(f"not a search criterion: {criterion!r}")
