"""STORE and UID STORE (RFC 9051 6.4.6, 6.4.9): FLAGS, +FLAGS, -FLAGS and the .SILENT forms.

Unless .SILENT, every message of the set gets an untagged FETCH with its flags (and its UID,
which UID STORE requires and STORE does no harm with). The session's own changes are
remembered so the change feed's echo of them is not reported a second time; changes other
sessions make meanwhile are still reported, .SILENT or not.
"""

from __future__ import annotations

from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import StatusResponse
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
    pairs = session.resolve(command.sequence, command.uid)
    flags, keywords = split_flags(command.flags)
    backend, user_id = session.services.store, session.user_id
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        uids = UidSet.of(uid for _, uid in batch)
        try:
            result = await backend.store_flags(
                user_id, selected.mailbox_id, uids, _OPS[command.mode], flags, keywords
            )
        except InvalidKeyword as exc:
            return r.bad(str(exc) or "invalid keyword")
        except MailboxNotFound:
            return r.NO_NONEXISTENT
        for change in result.changed:
            session.own_changes.add((change.uid, change.modseq))
        if command.silent:
            continue
        metas = await backend.fetch(user_id, selected.mailbox_id, uids)
        numbers = dict((uid, n) for n, uid in batch)
        for meta in metas:
            names = session.flag_names(meta.uid, meta.flags, meta.keywords)
            items: list[Value] = [Atom("FLAGS"), names, Atom("UID"), meta.uid]
            await session.send(untagged.fetch(numbers[meta.uid], items))
    return r.ok("STORE completed")
