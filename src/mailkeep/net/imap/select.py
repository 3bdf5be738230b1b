"""SELECT, EXAMINE, CLOSE, UNSELECT and EXPUNGE / UID EXPUNGE (RFC 9051 6.3.2, 6.3.3,
6.4.1-6.4.3; RFC 3691 UNSELECT; RFC 4315 2.1 UID EXPUNGE; RFC 3501 6.3.1 for IMAP4rev1's
RECENT and [UNSEEN n]; RFC 7162 3.1.8 CONDSTORE and 3.2.5 QRESYNC parameters, 3.2.7
HIGHESTMODSEQ after an expunge, 3.2.11 CLOSED).
"""

from __future__ import annotations

from mailkeep.net.imap import condstore, idle
from mailkeep.net.imap.session import Selected, Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.sequencemap import SequenceMap
from mailkeep.protocol.imap.values import Atom, Value
from mailkeep.store.errors import InvalidMailboxName, MailboxNotFound
from mailkeep.store.models import Flag, UidSet

SYSTEM_FLAGS = Flag.SEEN | Flag.ANSWERED | Flag.FLAGGED | Flag.DELETED | Flag.DRAFT


async def select(session: Session, command: c.Select) -> StatusResponse:
    if command.qresync is not None and not session.qresync:
        return condstore.BAD_QRESYNC_NOT_ENABLED  # RFC 7162 3.2.5
    if command.condstore or command.qresync is not None:
        session.condstore = True  # RFC 7162 3.1.8; HIGHESTMODSEQ follows below
    if session.selected is not None:
        session.selected = None
        # RFC 9051 6.3.2, RFC 7162 3.2.11: the previous mailbox is closed
        await session.send(r.ok("previous mailbox closed", Code("CLOSED")))
    store, user_id = session.services.store, session.user_id
    try:
        snapshot = await store.select(user_id, command.mailbox)
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_NONEXISTENT
    # Changes heard meanwhile are applied on top of the snapshot later: re-adding a known
    # UID or expunging an unknown one is a no-op, so none committed after it is lost.
    status = snapshot.status
    selected = Selected(
        mailbox_id=status.id,
        name=status.name,
        read_only=command.read_only,
        uidvalidity=status.uidvalidity,
        seqmap=SequenceMap(snapshot.uids),
        modseq=status.highestmodseq,
    )
    if not session.rev2 and not command.read_only:
        selected.recent = set(await store.claim_recent(user_id, status.id))
    session.selected = selected
    flags = [*SYSTEM_FLAGS.imap_names, *status.keywords]
    await session.send(untagged.flags(flags))
    await session.send(untagged.exists(len(snapshot.uids)))
    if not session.rev2:
        await session.send(untagged.recent(len(selected.recent)))
        if status.first_unseen_uid is not None:
            number = selected.seqmap.number_of(status.first_unseen_uid)
            if number is not None:
                await session.send(r.ok("first unseen", Code("UNSEEN", (number,))))
    await session.send(r.ok("UIDs valid", Code("UIDVALIDITY", (status.uidvalidity,))))
    await session.send(r.ok("predicted next UID", Code("UIDNEXT", (status.uidnext,))))
    permanent: list[Value] = [] if command.read_only else [Atom(f) for f in (*flags, "\\*")]
    await session.send(r.ok("flags permitted", Code("PERMANENTFLAGS", (permanent,))))
    if session.condstore:  # RFC 7162 3.1.2.1
        await session.send(condstore.highestmodseq(status.highestmodseq))
    if session.rev2:  # RFC 9051 6.3.2: the mailbox's LIST response
        await session.send(untagged.list_mailbox([], "/", status.name))
    params = command.qresync
    if params is not None and params.uidvalidity == status.uidvalidity:
        await condstore.resynchronise(session, selected, params)
    if command.read_only:
        return r.ok("EXAMINE completed", Code("READ-ONLY"))
    return r.ok("SELECT completed", Code("READ-WRITE"))


async def close(session: Session, command: c.Close) -> StatusResponse:
    """CLOSE: expunge silently (read-write only), then deselect (RFC 9051 6.4.1)."""
    selected = session.require_selected()
    if not selected.read_only:
        try:
            await session.services.store.expunge(session.user_id, selected.mailbox_id)
        except MailboxNotFound:
            pass
    session.selected = None
    return r.ok("CLOSE completed")


async def unselect(session: Session, command: c.Unselect) -> StatusResponse:
    session.selected = None
    return r.ok("UNSELECT completed")


async def expunge(session: Session, command: c.Expunge) -> StatusResponse:
    selected = session.require_selected()
    if selected.read_only:
        return r.NO_READ_ONLY
    uids: UidSet | None = None
    if command.uids is not None:
        pairs = session.resolve(command.uids, True)
        uids = UidSet.of(uid for _, uid in pairs)
        if not uids:
            return r.ok("UID EXPUNGE completed")
    try:
        removed = await session.services.store.expunge(session.user_id, selected.mailbox_id, uids)
    except MailboxNotFound:
        return r.NO_NONEXISTENT
    selected.seqmap.expunge(removed)  # reported before the tagged OK, in order
    if session.qresync and removed:
        # RFC 7162 3.2.7, 3.2.9: the new HIGHESTMODSEQ in the tagged OK; the feed has our
        # own expunge by now (it is told before the store call returns), so once the
        # updates are out everything up to it has been reported.
        await idle.send_updates(session, allow_expunge=True)
        modseq = Code("HIGHESTMODSEQ", (session.reported_modseq(),))
        return r.ok("EXPUNGE completed", modseq)
    return r.ok("EXPUNGE completed")
