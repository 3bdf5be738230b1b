"""SORT, UID SORT (RFC 5256, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT), THREAD and UID THREAD
(RFC 5256 ORDEREDSUBJECT and REFERENCES).

The search step is SEARCH's (the store's index); the ordering and threading are the pure
cores in protocol/imap/sort.py and thread.py, fed from the header fields the store cached
at delivery (``MailStore.sort_fields``, one light row per message): no message is read or
parsed again.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailkeep.net.imap.search import to_criterion
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import StatusResponse
from mailkeep.protocol.imap.search import SearchKey
from mailkeep.protocol.imap.sort import SortMessage, ordered_set, sort_messages
from mailkeep.protocol.imap.thread import ordered_subject, references
from mailkeep.store.errors import MailboxNotFound
from mailkeep.store.models import UidSet

#: THREAD algorithms this server implements (the capability list names them too)
THREAD_ALGORITHMS = {"ORDEREDSUBJECT": ordered_subject, "REFERENCES": references}
BAD_THREAD_ALGORITHM = r.bad("unknown threading algorithm")
# UIDs per store call: bounds the objects one read builds (store/interface.py)
_CHUNK = 10000


async def _searched(session: Session, key: SearchKey, uid: bool) -> list[SortMessage] | None:
    """The messages matching ``key`` that the client knows of, in mailbox order, with
    their cached sort fields; None when the mailbox is gone."""
    selected = session.require_selected()
    store = session.services.store
    criterion = to_criterion(session, key)
    try:
        uids = await store.search(session.user_id, selected.mailbox_id, criterion)
    except MailboxNotFound:
        return None
    seqmap = selected.seqmap
    known = [(n, u) for u in uids if (n := seqmap.number_of(u)) is not None]
    result: list[SortMessage] = []
    make = SortMessage._make
    for start in range(0, len(known), _CHUNK):
        part = known[start : start + _CHUNK]
        try:
            rows = await store.sort_fields(
                session.user_id, selected.mailbox_id, UidSet.of(u for _, u in part)
            )
        except MailboxNotFound:
            return None
        if uid:
            result += [make((row[0], *row)) for row in rows]
        else:
            numbers = dict((u, n) for n, u in part)
            result += [make((numbers[row[0]], *row)) for row in rows]
    return result


async def sort(session: Session, command: c.Sort) -> StatusResponse:
    messages = await _searched(session, command.search, command.uid)
    if messages is None:
        return r.NO_NONEXISTENT
    ordered = sort_messages(messages, command.criteria)
    options = command.return_options
    if options is None:
        await session.send(untagged.sort(m.id for m in ordered))
        return r.ok("SORT completed")
    return await _esort(session, command, ordered, options)


async def _esort(
    session: Session,
    command: c.Sort,
    ordered: Sequence[SortMessage],
    options: tuple[c.SearchReturn, ...],
) -> StatusResponse:
    """RFC 5267 3.1: the ESEARCH return options in sort order (MIN is the first message
    of the sorted result, MAX the last); SAVE keeps the result for "$" (RFC 5182)."""
    wanted = set(options) or {c.SearchReturn.ALL}
    results = [m.id for m in ordered]
    if c.SearchReturn.SAVE in wanted:
        saved = [m.uid for m in ordered]
        narrowed = []
        if saved and c.SearchReturn.MIN in wanted:
            narrowed.append(saved[0])
        if saved and c.SearchReturn.MAX in wanted:
            narrowed.append(saved[-1])
        if narrowed and not {c.SearchReturn.ALL, c.SearchReturn.COUNT} & wanted:
            saved = narrowed
        session.saved_uids = tuple(sorted(set(saved)))
        wanted.discard(c.SearchReturn.SAVE)
        if not wanted:
            return r.ok("SORT completed, result saved")
    await session.send(
        untagged.esearch(
            session.tag,
            command.uid,
            minimum=results[0] if results and c.SearchReturn.MIN in wanted else None,
            maximum=results[-1] if results and c.SearchReturn.MAX in wanted else None,
            count=len(results) if c.SearchReturn.COUNT in wanted else None,
            all_=ordered_set(results) if c.SearchReturn.ALL in wanted else None,
        )
    )
    return r.ok("SORT completed")


async def thread(session: Session, command: c.Thread) -> StatusResponse:
    algorithm = THREAD_ALGORITHMS.get(command.algorithm)
    if algorithm is None:
        return BAD_THREAD_ALGORITHM
    messages = await _searched(session, command.search, command.uid)
    if messages is None:
        return r.NO_NONEXISTENT
    await session.send(untagged.thread(algorithm(messages)))
    return r.ok("THREAD completed")
