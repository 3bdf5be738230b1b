"""CONDSTORE and QRESYNC (RFC 7162): the parts several command handlers share.

- Enabling (3.1): ENABLE CONDSTORE/QRESYNC, SELECT/EXAMINE (CONDSTORE), STATUS or LIST
  RETURN (STATUS (HIGHESTMODSEQ)), FETCH MODSEQ or CHANGEDSINCE, SEARCH MODSEQ and STORE
  UNCHANGEDSINCE all make the session CONDSTORE-aware; the first of them issued with a
  mailbox selected reports that mailbox's HIGHESTMODSEQ.
- Quick resynchronisation (3.2.5): SELECT/EXAMINE (QRESYNC (...)) reports, before the
  tagged OK, the expunges since the client's MODSEQ as VANISHED (EARLIER) and the messages
  changed since then as FETCH (UID FLAGS MODSEQ). Both come from indexed queries (the
  expunge record and the MODSEQ index): the cost follows the number of changes, not the
  size of the mailbox.
- Every mailbox of the store keeps MODSEQs, so NOMODSEQ (3.1.2.2) is never sent.

Implementation notes: the snapshot a SELECT takes fixes which UIDs the client is told of;
an expunge committed after it is in the snapshot and arrives later through the change feed
as a plain VANISHED, so VANISHED (EARLIER) leaves out every UID the session still maps.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailkeep.net.imap.session import Selected, Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.sequence import SequenceSet
from mailkeep.protocol.imap.values import Atom, Value
from mailkeep.store import query as q
from mailkeep.store.models import MessageMeta, UidSet

BATCH = 500  # UIDs per metadata read
BAD_QRESYNC_NOT_ENABLED = r.bad("QRESYNC is not enabled (send ENABLE QRESYNC first)")
BAD_VANISHED_NOT_ENABLED = r.bad("VANISHED needs ENABLE QRESYNC first")


def highestmodseq(modseq: int) -> StatusResponse:
    return r.ok("highest mod-sequence", Code("HIGHESTMODSEQ", (modseq,)))


async def enable(session: Session) -> None:
    """A CONDSTORE enabling command was issued (RFC 7162 3.1)."""
    if session.condstore:
        return
    session.condstore = True
    if session.selected is not None:
        await session.send(highestmodseq(session.reported_modseq()))


def intersect(uids: UidSet, ranges: Iterable[tuple[int, int]]) -> UidSet:
    """The UIDs of ``uids`` inside any of the sorted, disjoint ``ranges``."""
    out: list[tuple[int, int]] = []
    wanted = list(ranges)
    j = 0
    for lo, hi in uids.ranges:
        while j < len(wanted) and wanted[j][1] < lo:
            j += 1
        k = j
        while k < len(wanted) and wanted[k][0] <= hi:
            a, b = max(lo, wanted[k][0]), min(hi, wanted[k][1])
            if a <= b:
                out.append((a, b))
            k += 1
    return UidSet.from_ranges(out)


async def vanished_earlier(session: Session, since: int, within: SequenceSet | None) -> UidSet:
    """UIDs named by ``within`` (all when None) expunged after ``since`` that the session no
    longer maps (RFC 7162 3.2.5.1, 3.2.6), from the expunge record's MODSEQ index. "*" is
    the highest UID the mailbox has had, so "n:*" covers expunges above the last message."""
    selected = session.require_selected()
    gone = await session.services.store.vanished(session.user_id, selected.mailbox_id, since)
    if within is not None and gone:
        seqmap = selected.seqmap
        last = max(seqmap.uids[-1] if seqmap.exists else 1, gone.ranges[-1][1])
        gone = intersect(gone, within.resolve(last))
    seqmap = selected.seqmap
    return UidSet.of(u for u in gone if seqmap.number_of(u) is None)


async def changed_uids(session: Session, since: int) -> set[int]:
    """UIDs of the selected mailbox whose MODSEQ is above ``since`` (the store walks its
    MODSEQ index, RFC 7162 3.1.4.1)."""
    selected = session.require_selected()
    found = await session.services.store.search(
        session.user_id, selected.mailbox_id, q.ModSeqAtLeast(since + 1)
    )
    return set(found)


async def metas(session: Session, uids: list[int]) -> list[MessageMeta]:
    """Metadata of ``uids`` (ascending) in batches."""
    selected = session.require_selected()
    out: list[MessageMeta] = []
    for start in range(0, len(uids), BATCH):
        batch = UidSet.of(uids[start : start + BATCH])
        out += await session.services.store.fetch(session.user_id, selected.mailbox_id, batch)
    return out


async def highest_modseq(session: Session, uids: list[int]) -> int | None:
    """The highest MODSEQ of the messages ``uids`` (None when there are none: an empty
    SEARCH or SORT result carries no MODSEQ, RFC 7162 3.1.5, 3.1.9)."""
    return max((m.modseq for m in await metas(session, uids)), default=None)


def ends(uids: list[int], wanted: set[c.SearchReturn]) -> list[int]:
    """The messages whose MODSEQ an ESEARCH/ESORT answer reports (RFC 7162 3.1.10): all of
    them, or only the MIN/MAX ones when neither ALL nor COUNT was asked for."""
    if not uids or {c.SearchReturn.ALL, c.SearchReturn.COUNT} & wanted:
        return uids
    picked = [uids[0]] if c.SearchReturn.MIN in wanted else []
    if c.SearchReturn.MAX in wanted:
        picked.append(uids[-1])
    return picked


async def resynchronise(session: Session, selected: Selected, params: c.QresyncParams) -> None:
    """SELECT (QRESYNC ...) with a matching UIDVALIDITY: VANISHED (EARLIER) then the
    changed messages' FETCH (UID FLAGS MODSEQ), RFC 7162 3.2.5.1. The store keeps every
    expunge's MODSEQ, so the sequence-match data (3.2.5.2) is not needed to narrow it."""
    seqmap = selected.seqmap
    gone = await vanished_earlier(session, params.modseq, params.known_uids)
    if gone:
        await session.send(untagged.vanished(gone.to_imap(), earlier=True))
    changed = await changed_uids(session, params.modseq)
    known = params.known_uids
    within = UidSet.from_ranges(known.resolve(1)) if known is not None else None
    wanted = sorted(u for u in changed if (within is None or u in within) and seqmap.number_of(u))
    for meta in await metas(session, wanted):
        number = seqmap.number_of(meta.uid)
        if number is None:
            continue
        items: list[Value] = [
            Atom("UID"),
            meta.uid,
            Atom("FLAGS"),
            session.flag_names(meta.uid, meta.flags, meta.keywords),
            Atom("MODSEQ"),
            [meta.modseq],
        ]
        await session.send(untagged.fetch(number, items))
