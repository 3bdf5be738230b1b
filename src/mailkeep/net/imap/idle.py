"""IDLE (RFC 2177, RFC 9051 6.3.13): changes from the store's feed are sent as they happen.

While idling, the server waits on two things at once: the client's DONE and the user's
change feed. Each change to the selected mailbox becomes EXPUNGE/EXISTS/FETCH at once
(RFC 9051 7.4.1 allows EXPUNGE during IDLE). The autologout timer keeps running: clients
re-issue IDLE within 29 minutes (RFC 2177 3).
"""

from __future__ import annotations

import asyncio

from mailkeep.net.connection import Connection
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap.responses import Continuation
from mailkeep.store.models import UidSet

IDLING = Continuation("idling")


async def start(session: Session, tag: str) -> None:
    session.idle_tag = tag
    await session.send(IDLING)
    await session.flush()


async def read_while_idle(session: Session, conn: Connection, timeout: float) -> bytes:  # noqa: ASYNC109
    """Read from the client, sending the feed's updates while waiting. Raises what
    ``conn.read`` raises (ReadTimeout for the autologout)."""
    subscription = session.subscription
    reader = asyncio.ensure_future(conn.read(timeout))
    try:
        while True:
            if subscription is None:
                return await reader
            waiter = asyncio.ensure_future(subscription.wait())
            try:
                await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if reader.done():
                return reader.result()
            await send_updates(session, allow_expunge=True)
    finally:
        if not reader.done():
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                pass


async def send_updates(session: Session, allow_expunge: bool) -> None:
    """Take the feed's changes and send the untagged updates allowed now."""
    subscription = session.subscription
    if subscription is not None:
        if subscription.overflowed:
            await resync(session)
        session.absorb_changes(subscription.drain())
    await _claim_recent(session)
    for update in session.pending_updates(allow_expunge):
        await session.send(update)
    await session.flush()


async def _claim_recent(session: Session) -> None:
    selected = session.selected
    if not session.new_uids_seen or selected is None:
        return
    session.new_uids_seen = False
    if session.rev2 or selected.read_only:
        return
    claimed = await session.services.store.claim_recent(session.user_id, selected.mailbox_id)
    selected.recent.update(claimed)


async def resync(session: Session) -> None:
    """The feed overflowed and its backlog is gone: diff a fresh snapshot against the
    sequence map for arrivals and expunges, and ask the store which messages changed flags
    since the last MODSEQ the session absorbed (one walk of the MODSEQ index, RFC 7162
    CHANGEDSINCE), so no flag change is lost either."""
    subscription = session.subscription
    selected = session.selected
    assert subscription is not None
    subscription.drain()
    subscription.clear_overflow()
    session.own_changes.clear()  # their echoes were dropped with the backlog
    if selected is None:
        return
    store, user_id = session.services.store, session.user_id
    since = selected.modseq
    snapshot = await store.select(user_id, selected.name)
    now = set(snapshot.uids)
    known = set(selected.seqmap.uids)
    selected.seqmap.expunge(known - now, since + 1)  # their MODSEQs are above ``since``
    new = now - known
    if new:
        selected.seqmap.add(new)
        session.new_uids_seen = True
    if known:
        changed = await store.fetch(
            user_id, selected.mailbox_id, UidSet.span(1, max(known)), changed_since=since
        )
        for meta in changed:
            if meta.uid in now:
                session.flags_changed(meta.uid, meta.modseq, meta.flags, meta.keywords)
    selected.modseq = max(since, snapshot.status.highestmodseq)
