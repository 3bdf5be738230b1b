"""COPY, MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8; RFC 6851 MOVE; RFC 4315 COPYUID).

MOVE answers ``* OK [COPYUID ...]`` first, then the EXPUNGEs of the moved messages, then
the tagged OK (RFC 6851 3.3). The destination is checked by the store within the user's
own mailboxes; a missing one gets NO [TRYCREATE] (RFC 9051 6.4.7).
"""

from __future__ import annotations

from collections.abc import Sequence

from mailkeep.net.imap import idle
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.values import Atom
from mailkeep.store.errors import (
    InvalidMailboxName,
    MailboxNotAllowed,
    MailboxNotFound,
    QuotaExceeded,
)
from mailkeep.store.models import CopyResult, UidSet


def uid_sequence(uids: Sequence[int]) -> str:
    """UIDs in the given order as sequence-set text, runs of consecutive UIDs as ranges
    (COPYUID's two sets must correspond in order, RFC 4315 3)."""
    parts: list[str] = []
    i = 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        parts.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        i = j + 1
    return ",".join(parts)


def copyuid(result: CopyResult) -> Code:
    return Code(
        "COPYUID",
        (
            result.uidvalidity,
            Atom(uid_sequence(result.source_uids)),
            Atom(uid_sequence(result.dest_uids)),
        ),
    )


async def copy_or_move(session: Session, command: c.Copy | c.Move) -> StatusResponse:
    selected = session.require_selected()
    moving = isinstance(command, c.Move)
    if moving and selected.read_only:
        return r.NO_READ_ONLY
    pairs = session.resolve(command.sequence, command.uid)
    name = "MOVE" if moving else "COPY"
    store = session.services.store
    if not pairs:  # nothing to copy, but a missing destination is still reported
        try:
            await store.status(session.user_id, command.mailbox)
        except (MailboxNotFound, InvalidMailboxName):
            return r.NO_TRYCREATE
        return r.ok(f"{name} completed, nothing to do")
    uids = UidSet.of(uid for _, uid in pairs)
    operation = store.move if moving else store.copy
    try:
        result = await operation(
            session.user_id, selected.mailbox_id, uids, command.mailbox, session.quota
        )
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_TRYCREATE
    except QuotaExceeded:
        return r.NO_OVERQUOTA
    except MailboxNotAllowed as exc:
        return r.NO_CANNOT.with_text(str(exc) or "not allowed")
    if not result.source_uids:
        return r.ok(f"{name} completed, nothing to do")
    if moving:
        await session.send(r.ok("moved", copyuid(result)))
        selected.seqmap.expunge(result.source_uids)
        selected.recent.difference_update(result.source_uids)
        if session.qresync:  # as for UID EXPUNGE (RFC 7162 3.2.9): VANISHED, HIGHESTMODSEQ
            await idle.send_updates(session, allow_expunge=True)
            modseq = Code("HIGHESTMODSEQ", (session.reported_modseq(),))
            return r.ok("MOVE completed", modseq)
        return r.ok("MOVE completed")
    return r.ok("COPY completed", copyuid(result))
