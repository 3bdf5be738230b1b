"""Typed IMAP commands, as the parser produces them (DESIGN 3.3: frozen, slotted, decoded).

RFC 9051 6 and RFC 3501 6 (the base commands); RFC 2177 IDLE, RFC 2971 ID, RFC 4315
UIDPLUS, RFC 4978 COMPRESS, RFC 5161 ENABLE, RFC 5182 SEARCHRES, RFC 5256 SORT/THREAD,
RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 6851 MOVE,
RFC 7162 CONDSTORE/QRESYNC, RFC 3502 MULTIAPPEND, RFC 3516 BINARY, RFC 4731 ESEARCH,
RFC 8437 UNAUTHENTICATE, RFC 9208 QUOTA, RFC 3691 UNSELECT, RFC 2342 NAMESPACE,
RFC 6855 APPEND UTF8, RFC 5464 METADATA.

Mailbox names are decoded text (modified UTF-7 undone in IMAP4rev1 sessions), with INBOX
in any case normalised to "INBOX". Flags and keywords keep the client's spelling.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from mailkeep.protocol.imap.fetch import FetchItem
from mailkeep.protocol.imap.search import SearchKey
from mailkeep.protocol.imap.sequence import SequenceSet


@dataclass(frozen=True, slots=True)
class Capability:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Logout:
    pass


@dataclass(frozen=True, slots=True)
class StartTLS:
    pass


@dataclass(frozen=True, slots=True)
class Authenticate:
    """AUTHENTICATE; ``initial_response`` (SASL-IR, RFC 4959) is decoded base64, b"" for "="."""

    mechanism: str
    initial_response: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str = field(repr=False)  # secret: never logged


@dataclass(frozen=True, slots=True)
class Id:
    """RFC 2971: the client's identification, or None for NIL."""

    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class Enable:
    capabilities: tuple[str, ...]  # upper-cased


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """SELECT (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])) (RFC 7162 3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    known_sequences: SequenceSet | None = None
    known_sequence_uids: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class Select:
    """SELECT, or EXAMINE when ``read_only``."""

    mailbox: str
    read_only: bool = False
    condstore: bool = False  # RFC 7162 3.1.8
    qresync: QresyncParams | None = None


@dataclass(frozen=True, slots=True)
class Create:
    mailbox: str
    special_use: tuple[str, ...] = ()  # RFC 6154 3: CREATE name (USE (\Sent))


@dataclass(frozen=True, slots=True)
class Delete:
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    mailbox: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    mailbox: str


@dataclass(frozen=True, slots=True)
class List:
    """LIST (RFC 9051 6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS).

    ``selection`` and ``return_options`` are upper-cased option names (SUBSCRIBED,
    REMOTE, RECURSIVEMATCH, SPECIAL-USE; SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS);
    ``status_items`` are the items of RETURN (STATUS (...)). ``extended`` is True when the
    client used LIST-EXTENDED syntax (the response format differs, RFC 5258 3).
    """

    reference: str
    patterns: tuple[str, ...]
    selection: tuple[str, ...] = ()
    return_options: tuple[str, ...] = ()
    status_items: tuple[str, ...] = ()
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Lsub:
    reference: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Namespace:
    pass


@dataclass(frozen=True, slots=True)
class Status:
    """STATUS; items upper-cased: MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT
    HIGHESTMODSEQ APPENDLIMIT."""

    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of APPEND (several with MULTIAPPEND, RFC 3502)."""

    flags: tuple[str, ...]
    internal_date: datetime | None
    data: bytes = field(repr=False)
    binary: bool = False  # sent as literal8 ~{n} (RFC 3516 4.4)
    utf8: bool = False  # sent as UTF8 (~{n}) (RFC 6855 4): may carry UTF-8 header fields


@dataclass(frozen=True, slots=True)
class Append:
    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True, slots=True)
class Idle:
    pass


@dataclass(frozen=True, slots=True)
class Unauthenticate:
    pass


@dataclass(frozen=True, slots=True)
class Compress:
    mechanism: str  # "DEFLATE" (RFC 4978)


@dataclass(frozen=True, slots=True)
class GetQuota:
    root: str


@dataclass(frozen=True, slots=True)
class GetQuotaRoot:
    mailbox: str


@dataclass(frozen=True, slots=True)
class SetQuota:
    root: str
    limits: tuple[tuple[str, int], ...]  # (resource upper-cased, limit)


@dataclass(frozen=True, slots=True)
class GetMetadata:
    """GETMETADATA (RFC 5464 4.2): ``mailbox`` "" means the server's annotations; entry
    names are lower-cased (they are case-insensitive, RFC 5464 3.2). ``depth`` is 0, 1 or
    None for "infinity"."""

    mailbox: str
    entries: tuple[str, ...]
    maxsize: int | None = None
    depth: int | None = 0


@dataclass(frozen=True, slots=True)
class SetMetadata:
    """SETMETADATA (RFC 5464 4.3): entry names lower-cased, None (NIL) removes an entry."""

    mailbox: str
    values: tuple[tuple[str, bytes | None], ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Check:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Unselect:
    pass


@dataclass(frozen=True, slots=True)
class Expunge:
    """EXPUNGE, or UID EXPUNGE set (RFC 4315 2.1) when ``uids`` is given."""

    uids: SequenceSet | None = None


class SearchReturn(enum.Enum):
    """ESEARCH/ESORT return options (RFC 4731 3.1, RFC 5182 SAVE, RFC 5267)."""

    MIN = "MIN"
    MAX = "MAX"
    ALL = "ALL"
    COUNT = "COUNT"
    SAVE = "SAVE"
    PARTIAL = "PARTIAL"  # not parsed yet: RFC 9394


@dataclass(frozen=True, slots=True)
class Search:
    """SEARCH / UID SEARCH. ``return_options`` None is a plain SEARCH (SEARCH response); a
    tuple (maybe empty: RETURN () means ALL) asks for ESEARCH (RFC 4731 3.1)."""

    uid: bool
    criteria: SearchKey
    charset: str | None = None
    return_options: tuple[SearchReturn, ...] | None = None


@dataclass(frozen=True, slots=True)
class Fetch:
    """FETCH / UID FETCH. UID FETCH implies the UID item (RFC 9051 6.4.9): the parser adds
    it. ``changedsince``/``vanished`` are the RFC 7162 modifiers."""

    uid: bool
    sequence: SequenceSet
    items: tuple[FetchItem, ...]
    changedsince: int | None = None
    vanished: bool = False


class StoreMode(enum.Enum):
    REPLACE = "FLAGS"
    ADD = "+FLAGS"
    REMOVE = "-FLAGS"


@dataclass(frozen=True, slots=True)
class Store:
    uid: bool
    sequence: SequenceSet
    mode: StoreMode
    flags: tuple[str, ...]
    silent: bool = False
    unchangedsince: int | None = None  # RFC 7162 3.1.3


@dataclass(frozen=True, slots=True)
class Copy:
    uid: bool
    sequence: SequenceSet
    mailbox: str


@dataclass(frozen=True, slots=True)
class Move:
    uid: bool
    sequence: SequenceSet
    mailbox: str


class SortKey(enum.Enum):
    ARRIVAL = "ARRIVAL"
    CC = "CC"
    DATE = "DATE"
    FROM = "FROM"
    SIZE = "SIZE"
    SUBJECT = "SUBJECT"
    TO = "TO"
    DISPLAYFROM = "DISPLAYFROM"  # RFC 5957
    DISPLAYTO = "DISPLAYTO"


@dataclass(frozen=True, slots=True)
class SortCriterion:
    key: SortKey
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Sort:
    """SORT / UID SORT (RFC 5256 3); ``return_options`` for ESORT (RFC 5267 3.2)."""

    uid: bool
    criteria: tuple[SortCriterion, ...]
    charset: str
    search: SearchKey
    return_options: tuple[SearchReturn, ...] | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """THREAD / UID THREAD (RFC 5256 3); algorithm upper-cased (ORDEREDSUBJECT...)."""

    uid: bool
    algorithm: str
    charset: str
    search: SearchKey


Command = (
    Capability
    | Noop
    | Logout
    | StartTLS
    | Authenticate
    | Login
    | Id
    | Enable
    | Select
    | Create
    | Delete
    | Rename
    | Subscribe
    | Unsubscribe
    | List
    | Lsub
    | Namespace
    | Status
    | Append
    | Idle
    | Unauthenticate
    | Compress
    | GetQuota
    | GetQuotaRoot
    | SetQuota
    | GetMetadata
    | SetMetadata
    | Check
    | Close
    | Unselect
    | Expunge
    | Search
    | Fetch
    | Store
    | Copy
    | Move
    | Sort
    | Thread
)


@dataclass(frozen=True, slots=True)
class TaggedCommand:
    """A parsed command with its tag and the keyword the client used (e.g. "EXAMINE",
    "UID FETCH"), for logs and for state checks."""

    tag: str
    name: str
    command: Command
