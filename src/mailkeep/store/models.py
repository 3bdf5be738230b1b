"""Value types of the store interface (all frozen and slotted, DESIGN 3.3).

RFC 9051 2.3.1.1 (UIDs), RFC 9051 2.3.2 (flags and keywords), RFC 7162 (MODSEQ), RFC 6154
(special-use mailboxes), RFC 8514 (save date), RFC 9208 (quota resources).

A mailbox is named by a UTF-8 string with "/" as the hierarchy separator; once created it
also has an integer id that never changes (RENAME keeps it) and is never reused, so a
selected session keeps working through a rename and gets MailboxNotFound after a delete.
"""

from __future__ import annotations

import array
import bisect
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import NamedTuple

from mailkeep.mail.envelope import Envelope

HIERARCHY_SEPARATOR = "/"
INBOX = "INBOX"


class Flag(enum.IntFlag):
    """The system flags kept per message (RFC 9051 2.3.2). \\Recent is per session, not here."""

    NONE = 0
    SEEN = 1
    ANSWERED = 2
    FLAGGED = 4
    DELETED = 8
    DRAFT = 16

    @property
    def imap_names(self) -> tuple[str, ...]:
        """The flags' IMAP names ("\\Seen", ...) in bit order."""
        return tuple(_FLAG_NAMES[f] for f in _FLAG_NAMES if f & self)

    @classmethod
    def from_imap(cls, name: str) -> Flag | None:
        """The system flag named ``name`` (case-insensitive), or None for a keyword."""
        return _FLAG_BY_NAME.get(name.lower())


_FLAG_NAMES = {
    Flag.SEEN: "\\Seen",
    Flag.ANSWERED: "\\Answered",
    Flag.FLAGGED: "\\Flagged",
    Flag.DELETED: "\\Deleted",
    Flag.DRAFT: "\\Draft",
}
_FLAG_BY_NAME = {name.lower(): f for f, name in _FLAG_NAMES.items()}


class SpecialUse(enum.Enum):
    """Special-use attributes the store gives mailboxes (RFC 6154 2)."""

    DRAFTS = "\\Drafts"
    SENT = "\\Sent"
    TRASH = "\\Trash"
    JUNK = "\\Junk"
    ARCHIVE = "\\Archive"


# Mailboxes every new user gets (RFC 6154), besides INBOX.
DEFAULT_MAILBOXES: tuple[tuple[str, SpecialUse], ...] = (
    ("Drafts", SpecialUse.DRAFTS),
    ("Sent", SpecialUse.SENT),
    ("Trash", SpecialUse.TRASH),
    ("Junk", SpecialUse.JUNK),
    ("Archive", SpecialUse.ARCHIVE),
)


class FlagOp(enum.Enum):
    """How STORE changes flags (RFC 9051 6.4.6): FLAGS, +FLAGS, -FLAGS."""

    REPLACE = "replace"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class UidSet:
    """A set of UIDs as sorted, disjoint, non-adjacent inclusive ranges.

    Used for UID FETCH/STORE/COPY arguments, COPYUID/APPENDUID results and VANISHED lists.
    Sequence numbers are the IMAP session's business: it resolves them to UIDs first.
    """

    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, uids: Iterable[int]) -> UidSet:
        """The set of the given UIDs (any order, duplicates allowed)."""
        return cls.from_ranges((u, u) for u in uids)

    @classmethod
    def span(cls, first: int, last: int) -> UidSet:
        """All UIDs from ``first`` to ``last`` inclusive (empty when last < first)."""
        return cls(((first, last),)) if first <= last else cls()

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> UidSet:
        """Normalise ranges (either order within a pair, overlapping, unsorted)."""
        items = sorted((min(a, b), max(a, b)) for a, b in ranges)
        merged: list[tuple[int, int]] = []
        for lo, hi in items:
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return cls(tuple(merged))

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.ranges:
            yield from range(lo, hi + 1)

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        i = bisect.bisect_right(self.ranges, (uid, float("inf"))) - 1
        return i >= 0 and self.ranges[i][0] <= uid <= self.ranges[i][1]

    def union(self, other: UidSet) -> UidSet:
        return UidSet.from_ranges(self.ranges + other.ranges)

    def to_imap(self) -> str:
        """The IMAP sequence-set text ("1:3,7"); "" for the empty set."""
        return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in self.ranges)


@dataclass(frozen=True, slots=True)
class Quota:
    """A user's limits, passed in by the caller (accounts own them); 0 means unlimited."""

    max_bytes: int = 0
    max_messages: int = 0


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """What a user's mail takes now (RFC 9208 STORAGE in bytes, MESSAGE count)."""

    bytes: int
    messages: int


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """One mailbox as LIST shows it."""

    id: int
    name: str
    special_use: SpecialUse | None
    subscribed: bool
    has_children: bool


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """What STATUS and SELECT report (RFC 9051 6.3.11, RFC 7162 3.1.2, RFC 9208 STATUS SIZE).

    ``highestmodseq`` is 1 for a mailbox that never changed; ``first_unseen_uid`` serves the
    IMAP4rev1 [UNSEEN n] code; ``recent`` counts messages no session has claimed yet.
    """

    id: int
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    unseen: int
    deleted: int
    recent: int
    size: int
    first_unseen_uid: int | None
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailboxSnapshot:
    """A SELECT: the status plus every UID in ascending order (the session's seq→UID map).

    ``uids`` is a compact array (no Python object per message), 100,000 UIDs take 400 KB.
    """

    status: MailboxStatus
    uids: array.array[int]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message to append: its bytes as received, and its initial flags and keywords.

    ``internal_date`` is aware (APPEND date-time, RFC 9051 6.3.12); None means now.
    """

    raw: bytes
    flags: Flag = Flag.NONE
    keywords: frozenset[str] = frozenset()
    internal_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One user a delivered message goes to, with the user's quota (from the accounts)."""

    user_id: int
    quota: Quota = field(default_factory=Quota)
    mailbox: str = INBOX
    flags: Flag = Flag.NONE
    keywords: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where appended messages went (UIDPLUS APPENDUID, RFC 4315 3)."""

    mailbox_id: int
    uidvalidity: int
    uids: UidSet


@dataclass(frozen=True, slots=True)
class CopyResult:
    """COPY/MOVE outcome (UIDPLUS COPYUID): source and new UIDs in corresponding order."""

    uidvalidity: int
    source_uids: tuple[int, ...]
    dest_uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """Decoded header fields cached at delivery for SORT, THREAD and IMAP display.

    ``sort_*``: the addr-mailbox (local part) of the first address, as RFC 5256 SORT
    FROM/TO/CC compare; ``display_*``: its display name or else the addr-spec (RFC 5957).
    ``base_subject`` per RFC 5256 2.1; ``sent_date`` is the Date: header (None when absent
    or unparsable; SORT DATE then uses the internal date); ``references`` space-separated.
    """

    subject: str = ""
    base_subject: str = ""
    sort_from: str = ""
    sort_to: str = ""
    sort_cc: str = ""
    display_from: str = ""
    display_to: str = ""
    sent_date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""


class SortRow(NamedTuple):
    """One message's fields for SORT and THREAD (``MailStore.sort_fields``), read straight
    from the columns cached at delivery. ``sent_ts`` is the Date header in UTC seconds, or
    the internal date when the header is missing or unparsable (RFC 5256 2.2); the text
    fields are those of HeaderFields. A NamedTuple: SORT of a big mailbox reads one per
    message, and nothing is parsed or converted per row."""

    uid: int
    size: int
    internal_ts: int
    sent_ts: int
    subject: str
    base_subject: str
    sort_from: str
    sort_to: str
    sort_cc: str
    display_from: str
    display_to: str
    message_id: str
    in_reply_to: str
    references: str


_ZONES: dict[int, tzinfo] = {0: UTC}


def to_epoch(value: datetime) -> tuple[int, int]:
    """An aware datetime as (whole seconds since the epoch, UTC offset in minutes)."""
    offset = value.utcoffset() or timedelta(0)
    return int(value.timestamp()), int(offset.total_seconds() // 60)


def from_epoch(seconds: int, offset_minutes: int = 0) -> datetime:
    """The inverse of ``to_epoch``."""
    zone = _ZONES.get(offset_minutes)
    if zone is None:
        zone = _ZONES[offset_minutes] = timezone(timedelta(minutes=offset_minutes))
    return datetime.fromtimestamp(seconds, zone)


class MessageMeta(NamedTuple):
    """One message's cached metadata, as FETCH, SORT and POP3 need it.

    Dates are kept as epoch seconds (and the internal date's UTC offset in minutes, so
    INTERNALDATE shows the zone it was given in); ``internal_date`` and ``save_date`` give
    aware datetimes. ``info`` is the serialised ``mail.mime.MessageInfo`` (envelope, body
    structure with offsets), ``envelope`` the decoded ENVELOPE (cached on its own: cheap),
    ``fields`` the sort fields and ``preview`` the RFC 8970 preview (with info or fields);
    these are filled only when asked for (they cost more to read).
    A NamedTuple rather than a frozen dataclass: FETCH 1:* builds one per message, and a
    tuple is built several times faster.
    """

    uid: int
    modseq: int
    flags: Flag
    keywords: frozenset[str]
    size: int
    internal_ts: int
    internal_tz: int
    save_ts: int
    preview: str = ""
    info: bytes | None = None
    fields: HeaderFields | None = None
    envelope: Envelope | None = None

    @property
    def internal_date(self) -> datetime:
        return from_epoch(self.internal_ts, self.internal_tz)

    @property
    def save_date(self) -> datetime:
        return from_epoch(self.save_ts)


@dataclass(frozen=True, slots=True)
class FlagChange:
    """A message's flags after a STORE, with the new MODSEQ (RFC 7162 3.2)."""

    uid: int
    modseq: int
    flags: Flag
    keywords: frozenset[str]


@dataclass(frozen=True, slots=True)
class StoreFlagsResult:
    """STORE outcome: the changed messages, and those refused by UNCHANGEDSINCE (MODIFIED)."""

    changed: tuple[FlagChange, ...]
    modified: UidSet = field(default_factory=UidSet)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found (and, with repair, fixed); empty ``problems`` means consistent."""

    user_id: int
    messages: int
    problems: tuple[str, ...]
    repaired: bool


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """The store's limits (from the config's [store] section)."""

    max_mailbox_name_bytes: int = 512  # Dovecot's default; room for deep folder trees
    max_mailbox_depth: int = 32  # no client nests deeper; bounds LIST and RENAME work
    max_mailboxes: int = 1000  # per user; bounds LIST output and RENAME fan-out
    io_threads: int = 16  # parallel fsyncs of concurrent deliveries (I/O-bound)
    read_threads: int = 2  # reads are mostly Python under the GIL: more threads only queue
    index_batch: int = 25  # texts moved into FTS per idle flush (~25 ms of writer time)
    max_open_users: int = 1000  # open databases kept (LRU); each holds up to 3 connections
    change_feed_max_pending: int = 10_000  # changes a session may lag before it resyncs


SERVER_METADATA = 0  # the mailbox id under which server annotations are kept (RFC 5464)


@dataclass(frozen=True, slots=True)
class MetadataLimits:
    """Annotation limits (RFC 5464 4.1: at least 1024 octets and 10 entries must fit)."""

    max_value: int = 64 * 1024  # octets of one value
    max_entries: int = 100  # per mailbox, and for the server
    max_total: int = 1024 * 1024  # octets of all of a user's values together
