"""STORE and UID STORE (RFC 9051 6.4.6, 6.4.9): FLAGS, +FLAGS, -FLAGS and the .SILENT forms;
RFC 7162 3.1.3 UNCHANGEDSINCE and the MODIFIED response code.

Unless .SILENT, every message of the set gets an untagged FETCH with its flags (and its UID,
which UID STORE requires and STORE does no harm with), and its MODSEQ once the session is
CONDSTORE-aware. With .SILENT, a CONDSTORE-aware session still gets FETCH (UID MODSEQ) for
each message whose MODSEQ changed (RFC 7162 3.1.3: its cache must learn the new value).
Messages whose MODSEQ is above UNCHANGEDSINCE are left alone and listed in the tagged
OK's [MODIFIED set] (sequence numbers for STORE, UIDs for UID STORE). The session's own
changes are remembered so the change feed's echo of them is not reported a second time;
changes other sessions make meanwhile are still reported, .SILENT or not.
"""

from __future__ import annotations

from mailkeep.net.imap import condstore
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.values import Atom, Value
from mailkeep.store.errors import InvalidKeyword, MailboxNotFound
from mailkeep.store.models import Flag, FlagOp, UidSet

_OPS = {
    c.StoreMode.REPLACE: FlagOp.REPLACE,
    c.StoreMode.ADD: FlagOp.ADD,
    c.StoreMode.REMOVE: FlagOp.REMOVE,
}
BATCH = 2000


def split_flags(names: tuple[str, ...]) -> tuple[Flag, frozenset[str]]:
    """System flags and keywords; \\Recent cannot be stored (RFC 3501 2.3.2) and is ignored."""
    flags = Flag.NONE
    keywords = set()
    for name in names:
        flag = Flag.from_imap(name)
        if flag is not None:
            flags |= flag
        elif name.lower() != "\\recent":
            keywords.add(name)
    return flags, frozenset(keywords)


async def store(session: Session, command: c.Store) -> StatusResponse:
    selected = session.require_selected()
    if selected.read_only:
        return r.NO_READ_ONLY
    if command.unchangedsince is not None:
        await condstore.enable(session)  # RFC 7162 3.1
    pairs = session.resolve(command.sequence, command.uid)
    flags, keywords = split_flags(command.flags)
    backend, user_id = session.services.store, session.user_id
    modified: list[int] = []
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        uids = UidSet.of(uid for _, uid in batch)
        try:
            result = await backend.store_flags(
                user_id,
                selected.mailbox_id,
                uids,
                _OPS[command.mode],
                flags,
                keywords,
                unchanged_since=command.unchangedsince,
            )
        except InvalidKeyword as exc:
            return r.bad(str(exc) or "invalid keyword")
        except MailboxNotFound:
            return r.NO_NONEXISTENT
        for change in result.changed:
            session.own_changes.add((change.uid, change.modseq))
        numbers = dict((uid, n) for n, uid in batch)
        modified += (uid if command.uid else numbers[uid] for uid in result.modified)
        if command.silent:
            if session.condstore:
                for change in result.changed:
                    items: list[Value] = [Atom("UID"), change.uid, Atom("MODSEQ"), [change.modseq]]
                    await session.send(untagged.fetch(numbers[change.uid], items))
            continue
        metas = await backend.fetch(user_id, selected.mailbox_id, uids)
        for meta in metas:
            names = session.flag_names(meta.uid, meta.flags, meta.keywords)
            items = [Atom("FLAGS"), names, Atom("UID"), meta.uid]
            if session.condstore:
                items += [Atom("MODSEQ"), [meta.modseq]]
            await session.send(untagged.fetch(numbers[meta.uid], items))
    if modified:
        code = Code("MODIFIED", (Atom(UidSet.of(modified).to_imap()),))
        return r.ok("conditional STORE failed for some messages", code)
    return r.ok("STORE completed")
