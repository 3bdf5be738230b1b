"""SORT, UID SORT (RFC 5256, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT), THREAD and UID THREAD
(RFC 5256 ORDEREDSUBJECT and REFERENCES).

The search step is SEARCH's (the store's index); the ordering and threading are the pure
cores in protocol/imap/sort.py and thread.py, fed from the header fields the store cached
at delivery (``fetch(with_fields=True)``): no message is read or parsed again.
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
_CHUNK = 5000


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
    for start in range(0, len(known), _CHUNK):
        part = known[start : start + _CHUNK]
        ids = {u: (u if uid else n) for n, u in part}
        try:
            metas = await store.fetch(
                session.user_id, selected.mailbox_id, UidSet.of(ids), with_fields=True
            )
        except MailboxNotFound:
            return None
        for meta in metas:
            f = meta.fields
            assert f is not None
            sent = f.sent_date
            result.append(
                SortMessage(
                    id=ids[meta.uid],
                    uid=meta.uid,
                    size=meta.size,
                    arrival=meta.internal_ts,
                    # RFC 5256 2.2: no usable Date header means the internal date
                    sent=int(sent.timestamp()) if sent is not None else meta.internal_ts,
                    subject=f.subject,
                    base_subject=f.base_subject,
                    from_=f.sort_from,
                    to=f.sort_to,
                    cc=f.sort_cc,
                    display_from=f.display_from,
                    display_to=f.display_to,
                    message_id=f.message_id,
                    in_reply_to=f.in_reply_to,
                    references=f.references,
                )
            )
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
