"""SORT, UID SORT (RFC 5256, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT), THREAD and UID THREAD
(RFC 5256 ORDEREDSUBJECT and REFERENCES).

The search step is SEARCH's (the store's index); the ordering and threading are the pure
cores in protocol/imap/sort.py and thread.py, fed from the header fields the store cached
at delivery (``MailStore.sort_fields``, one light row per message): no message is read or
parsed again.
"""

from __future__ import annotations

from collections.abc import Callable

from mailkeep.net.imap import condstore
from mailkeep.net.imap.search import send_esearch, to_criterion
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import StatusResponse
from mailkeep.protocol.imap.search import SearchKey, uses_modseq
from mailkeep.protocol.imap.sort import ordered_set, sort_messages
from mailkeep.protocol.imap.thread import ordered_subject, references
from mailkeep.store.errors import MailboxNotFound
from mailkeep.store.models import SortRow, UidSet

#: THREAD algorithms this server implements (the capability list names them too)
THREAD_ALGORITHMS = {"ORDEREDSUBJECT": ordered_subject, "REFERENCES": references}
BAD_THREAD_ALGORITHM = r.bad("unknown threading algorithm")
# UIDs per store call: bounds the objects one read builds (store/interface.py)
_CHUNK = 10000
#: rows a selected mailbox keeps between SORT/THREAD commands (about 0.5 KB each)
MAX_CACHED_ROWS = 50_000


async def _searched(session: Session, key: SearchKey) -> list[SortRow] | None:
    """The cached sort fields of the messages matching ``key`` that the client knows of,
    in mailbox order; None when the mailbox is gone. Rows never change for a UID, so the
    selected mailbox keeps those it has read: the next SORT reads only new messages."""
    selected = session.require_selected()
    store = session.services.store
    criterion = to_criterion(session, key)
    try:
        uids = await store.search(session.user_id, selected.mailbox_id, criterion)
    except MailboxNotFound:
        return None
    seqmap = selected.seqmap
    known = [u for u in uids if seqmap.number_of(u) is not None]
    cache = selected.sort_rows
    missing = [u for u in known if u not in cache]
    fresh: dict[int, SortRow] = {}
    for start in range(0, len(missing), _CHUNK):
        part = UidSet.of(missing[start : start + _CHUNK])
        try:
            rows = await store.sort_fields(session.user_id, selected.mailbox_id, part)
        except MailboxNotFound:
            return None
        fresh.update((row.uid, row) for row in rows)
    if len(cache) + len(fresh) <= MAX_CACHED_ROWS:
        cache.update(fresh)
    return [row for u in known if (row := cache.get(u) or fresh.get(u)) is not None]


def _number(session: Session, uid: bool) -> Callable[[int], int] | None:
    """How a UID is shown: itself (UID SORT/THREAD), else its sequence number."""
    if uid:
        return None
    seqmap = session.require_selected().seqmap

    def number(u: int) -> int:
        n = seqmap.number_of(u)
        assert n is not None, "only messages the client knows of are searched"
        return n

    return number


async def sort(session: Session, command: c.Sort) -> StatusResponse:
    with_modseq = uses_modseq(command.search)
    if with_modseq:
        await condstore.enable(session)  # RFC 7162 3.1
    messages = await _searched(session, command.search)
    if messages is None:
        return r.NO_NONEXISTENT
    ordered = [m.uid for m in sort_messages(messages, command.criteria)]
    number = _number(session, command.uid)
    results = ordered if number is None else [number(u) for u in ordered]
    options = command.return_options
    if options is None:
        modseq = None
        if with_modseq:  # RFC 7162 3.1.9
            modseq = await condstore.highest_modseq(session, sorted(ordered))
        await session.send(untagged.sort(results, modseq))
        return r.ok("SORT completed")
    # RFC 5267 3.1: ESORT answers with ESEARCH, MIN and MAX in sort order.
    return await send_esearch(
        session, command.uid, ordered, results, options, with_modseq, ordered_set, "SORT"
    )


async def thread(session: Session, command: c.Thread) -> StatusResponse:
    algorithm = THREAD_ALGORITHMS.get(command.algorithm)
    if algorithm is None:
        return BAD_THREAD_ALGORITHM
    if uses_modseq(command.search):
        await condstore.enable(session)  # RFC 7162 3.1.9: THREAD's answer is unchanged
    messages = await _searched(session, command.search)
    if messages is None:
        return r.NO_NONEXISTENT
    await session.send(untagged.thread(algorithm(messages), _number(session, command.uid)))
    return r.ok("THREAD completed")
