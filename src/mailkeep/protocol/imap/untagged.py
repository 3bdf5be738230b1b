"""Builders for the untagged data responses handlers send (RFC 9051 7.2-7.5 and the
extensions' own responses), so each has one correct shape.

RFC 9051 7.2.2 CAPABILITY, 7.2.1 ENABLED (RFC 5161 3.2), 7.3 mailbox status (LIST,
NAMESPACE, STATUS, ESEARCH/SEARCH, FLAGS), 7.4 message status (EXISTS, EXPUNGE, FETCH),
RFC 4731 3.1 ESEARCH, RFC 7162 3.2.10 VANISHED, RFC 9208 5 QUOTA/QUOTAROOT, RFC 2971 ID,
RFC 5256 SORT, RFC 5258 LIST extended data, RFC 5464 METADATA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mailkeep.protocol.imap.encoder import encode_astring
from mailkeep.protocol.imap.responses import Data
from mailkeep.protocol.imap.search import MONTHS
from mailkeep.protocol.imap.values import Atom, Literal, Mailbox, Raw, Value


def capability(capabilities: Iterable[str]) -> Data:
    return Data((Atom("CAPABILITY"), *(Atom(c) for c in capabilities)))


def enabled(capabilities: Iterable[str]) -> Data:
    return Data((Atom("ENABLED"), *(Atom(c) for c in capabilities)))


def exists(count: int) -> Data:
    return Data((count, Atom("EXISTS")))


def recent(count: int) -> Data:
    """IMAP4rev1 only (RFC 9051 E.1 removed \\Recent)."""
    return Data((count, Atom("RECENT")))


def expunge(sequence_number: int) -> Data:
    return Data((sequence_number, Atom("EXPUNGE")))


def vanished(uids: str, earlier: bool = False) -> Data:
    """``uids`` as sequence-set text ("1:3,7"), e.g. from ``UidSet.to_imap()``."""
    head: tuple[Value, ...] = (Atom("VANISHED"),)
    if earlier:
        head += ([Atom("EARLIER")],)
    return Data((*head, Atom(uids)))


def flags(names: Iterable[str]) -> Data:
    return Data((Atom("FLAGS"), [Atom(f) for f in names]))


def fetch(sequence_number: int, items: Sequence[Value]) -> Data:
    """``* n FETCH (name value ...)``; items alternate names (Atom or Raw from a fetch
    item's ``response_name()``) and values."""
    return Data((sequence_number, Atom("FETCH"), list(items)))


def list_mailbox(
    attributes: Iterable[str],
    delimiter: str | None,
    name: str,
    extended: Sequence[Value] = (),
    command: str = "LIST",
) -> Data:
    """``* LIST (\\HasNoChildren) "/" INBOX`` (or LSUB); ``extended`` is RFC 5258's
    mbox-list-extended, e.g. ``["CHILDINFO", ["SUBSCRIBED"]]``."""
    values: list[Value] = [
        Atom(command),
        [Atom(a) for a in attributes],
        delimiter,
        Mailbox(name),
    ]
    if extended:
        values.append(list(extended))
    return Data(tuple(values))


def status(name: str, items: Sequence[tuple[str, int]]) -> Data:
    flat: list[Value] = []
    for item, value in items:
        flat += [Atom(item), value]
    return Data((Atom("STATUS"), Mailbox(name), flat))


def search(numbers: Iterable[int], modseq: int | None = None) -> Data:
    """``* SEARCH 2 3 6``, with ``(MODSEQ n)`` for CONDSTORE searches (RFC 7162 3.1.5)."""
    values: list[Value] = [Atom("SEARCH"), *numbers]
    if modseq is not None:
        values.append([Atom("MODSEQ"), modseq])
    return Data(tuple(values))


def sort(numbers: Iterable[int], modseq: int | None = None) -> Data:
    """``* SORT 2 3 6``, with ``(MODSEQ n)`` for CONDSTORE sorts (RFC 7162 3.1.9)."""
    values: list[Value] = [Atom("SORT"), *numbers]
    if modseq is not None:
        values.append([Atom("MODSEQ"), modseq])
    return Data(tuple(values))


@dataclass(frozen=True, slots=True)
class ThreadNode:
    """A THREAD tree node (RFC 5256 4): a message number or UID, or None for a missing
    parent that groups its children."""

    id: int | None
    children: tuple[ThreadNode, ...] = ()


class ThreadTree(Protocol):
    """What ``thread`` reads of a node: ThreadNode, or a threading algorithm's own nodes."""

    @property
    def id(self) -> int | None: ...

    @property
    def children(self) -> Sequence[ThreadTree]: ...


def thread(roots: Sequence[ThreadTree], number: Callable[[int], int] | None = None) -> Data:
    """``* THREAD (2)(3 6 (4 23)(44 7 96))``: a chain of single children is one list, a
    branch ends it with one parenthesised list per child (RFC 5256 4). ``number`` maps
    each node's id (a UID) to what is shown, for THREAD without UID. Built without
    recursion: a reference chain may be thousands of messages deep."""
    if not roots:
        return Data((Atom("THREAD"),))  # thread-data = "THREAD" [SP 1*thread-list]
    out = bytearray()
    stack: list[ThreadTree | bytes] = list(reversed(roots))
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out += item
            continue
        out += b"("
        node, first = item, True
        while True:
            ident = node.id
            if ident is not None:
                if number is not None:
                    ident = number(ident)
                out += b"%d" % ident if first else b" %d" % ident
                first = False
            if len(node.children) == 1 and node.id is not None:
                node = node.children[0]
                continue
            break
        if not node.children:
            out += b")"
            continue
        if not first:
            out += b" "
        stack.append(b")")
        stack.extend(reversed(node.children))
    return Data((Atom("THREAD"), Raw(bytes(out))))


def esearch(
    tag: str | None,
    uid: bool,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    count: int | None = None,
    all_: str | None = None,
    modseq: int | None = None,
) -> Data:
    """``* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9`` (RFC 4731 3.1); ``all_``
    is sequence-set text and is left out when empty (RFC 4731 3.1)."""
    values: list[Value] = [Atom("ESEARCH")]
    if tag is not None:
        values.append([Atom("TAG"), tag])
    if uid:
        values.append(Atom("UID"))
    for name, value in (("MIN", minimum), ("MAX", maximum), ("COUNT", count)):
        if value is not None:
            values += [Atom(name), value]
    if all_:
        values += [Atom("ALL"), Atom(all_)]
    if modseq is not None:
        values += [Atom("MODSEQ"), modseq]
    return Data(tuple(values))


def namespace(personal: Sequence[tuple[str, str | None]] | None) -> Data:
    """``* NAMESPACE (("" "/")) NIL NIL``: personal namespaces as (prefix, delimiter);
    no other users' or shared namespaces."""
    mine: Value = None if not personal else [[Mailbox(p), d] for p, d in personal]
    return Data((Atom("NAMESPACE"), mine, None, None))


def id_response(params: Sequence[tuple[str, str | None]] | None) -> Data:
    """``* ID ("name" "mailkeep" ...)`` or ``* ID NIL`` (RFC 2971 3.2)."""
    if not params:
        return Data((Atom("ID"), None))
    flat: list[Value] = []
    for key, value in params:
        flat += [key, value]
    return Data((Atom("ID"), flat))


def quota(root: str, resources: Sequence[tuple[str, int, int]]) -> Data:
    """``* QUOTA "" (STORAGE 10 512)``: (resource, usage, limit) triples (RFC 9208 5.1)."""
    flat: list[Value] = []
    for resource, usage, limit in resources:
        flat += [Atom(resource), usage, limit]
    return Data((Atom("QUOTA"), root, flat))


def quotaroot(mailbox: str, roots: Iterable[str]) -> Data:
    return Data((Atom("QUOTAROOT"), Mailbox(mailbox), *roots))


def metadata(mailbox: str, entries: Sequence[tuple[str, bytes]]) -> Data:
    """``* METADATA "INBOX" (/private/comment "text")`` (RFC 5464 4.4.1). A value with NUL
    goes as literal8 (RFC 5464 5: value = nstring / literal8)."""
    flat: list[Value] = []
    for entry, value in entries:
        flat += [
            Raw(encode_astring(entry)),
            Literal(value, binary=True) if b"\0" in value else value,
        ]
    return Data((Atom("METADATA"), Mailbox(mailbox), flat))


def internal_date(moment: datetime) -> str:
    """date-time for INTERNALDATE (RFC 9051 9): ``"17-Jul-1996 02:44:25 -0700"``; the value
    must be timezone-aware."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("INTERNALDATE needs an aware datetime")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{moment.day:02d}-{MONTHS[moment.month - 1].title()}-{moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    )
