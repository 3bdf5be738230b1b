"""SEARCH and UID SEARCH (RFC 9051 6.4.4; RFC 4731 ESEARCH; RFC 5182 SEARCHRES; RFC 5032
OLDER/YOUNGER; RFC 7162 3.1.5 MODSEQ), answered by the store's index.

The core's search-key tree maps one-to-one onto the store's Criterion (store/query.py);
what the store cannot know is resolved here: message sequence numbers and "$" become UID
sets, \\Recent (IMAP4rev1) the UIDs this session was handed. Results are limited to the
messages the client knows of (new ones are announced by EXISTS first). A search with a
MODSEQ criterion enables CONDSTORE and its answer ends with the highest MODSEQ of the
messages it returns: ``(MODSEQ n)`` in SEARCH, ``MODSEQ n`` in ESEARCH (RFC 7162 3.1.5,
3.1.10; for MIN/MAX alone, of those messages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailkeep.net.imap import condstore
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import search as k
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import StatusResponse
from mailkeep.store import query as q
from mailkeep.store.errors import MailboxNotFound
from mailkeep.store.models import Flag, UidSet

_DATE_FIELDS = {
    k.DateField.INTERNAL: q.DateField.INTERNAL,
    k.DateField.SENT: q.DateField.SENT,
    k.DateField.SAVED: q.DateField.SAVED,
}
_DATE_OPS: dict[k.DateOp, q.DateOp] = {
    k.DateOp.BEFORE: "before",
    k.DateOp.ON: "on",
    k.DateOp.SINCE: "since",
}


def to_criterion(session: Session, key: k.SearchKey) -> q.Criterion:
    """The store's criterion for an IMAP search key, in this session's terms."""
    if isinstance(key, k.All | k.SaveDateSupported):
        return q.All()
    if isinstance(key, k.FlagKey):
        return _flag(session, key)
    if isinstance(key, k.HeaderKey):
        return q.Header(key.field, key.value)
    if isinstance(key, k.TextKey):
        return q.Body(key.value) if key.where is k.TextWhere.BODY else q.Text(key.value)
    if isinstance(key, k.DateKey):
        return q.DateIs(_DATE_FIELDS[key.field], _DATE_OPS[key.op], key.day)
    if isinstance(key, k.SizeKey):
        return q.SizeIs(">" if key.larger else "<", key.size)
    if isinstance(key, k.AgeKey):
        return q.Age("older" if key.older else "younger", key.seconds)
    if isinstance(key, k.SequenceKey):
        pairs = session.resolve(key.sequence, key.uid)
        return q.Uids(UidSet.of(uid for _, uid in pairs))
    if isinstance(key, k.ModSeqKey):
        return q.ModSeqAtLeast(key.modseq)
    if isinstance(key, k.Not):
        return q.Not(to_criterion(session, key.key))
    if isinstance(key, k.Or):
        return q.Or(to_criterion(session, key.left), to_criterion(session, key.right))
    return q.And(tuple(to_criterion(session, sub) for sub in key.keys))


def _flag(session: Session, key: k.FlagKey) -> q.Criterion:
    name = key.flag
    if name.lower() == "\\recent":
        recent = session.selected.recent if session.selected is not None else set()
        found: q.Criterion = q.Uids(UidSet.of(recent))
    else:
        flag = Flag.from_imap(name)
        found = q.HasFlag(flag) if flag is not None else q.HasKeyword(name)
    return found if key.present else q.Not(found)


BAD_CHARSET_AFTER_UTF8 = r.bad("no CHARSET after ENABLE UTF8=ACCEPT")  # RFC 6855 3


async def search(session: Session, command: c.Search) -> StatusResponse:
    selected = session.require_selected()
    if session.utf8_accept and command.charset is not None:
        return BAD_CHARSET_AFTER_UTF8
    with_modseq = k.uses_modseq(command.criteria)
    if with_modseq:
        await condstore.enable(session)  # RFC 7162 3.1
    criterion = to_criterion(session, command.criteria)
    try:
        uids = await session.services.store.search(session.user_id, selected.mailbox_id, criterion)
    except MailboxNotFound:
        return r.NO_NONEXISTENT
    seqmap = selected.seqmap
    known = [(n, u) for u in uids if (n := seqmap.number_of(u)) is not None]
    results = [u for _, u in known] if command.uid else [n for n, _ in known]
    options = command.return_options
    if options is None and session.rev2:
        options = ()  # RFC 9051 6.4.4: IMAP4rev2 answers with ESEARCH
    if options is None:
        modseq = (
            await condstore.highest_modseq(session, [u for _, u in known]) if with_modseq else None
        )
        await session.send(untagged.search(results, modseq))
        return r.ok("SEARCH completed")
    return await send_esearch(
        session,
        command.uid,
        [u for _, u in known],
        results,
        options,
        with_modseq,
        lambda shown: UidSet.of(shown).to_imap(),
        "SEARCH",
    )


async def send_esearch(
    session: Session,
    uid: bool,
    ordered: Sequence[int],
    results: Sequence[int],
    options: tuple[c.SearchReturn, ...],
    with_modseq: bool,
    format_all: Callable[[Sequence[int]], str],
    command_name: str,
) -> StatusResponse:
    """The ESEARCH answer of SEARCH (RFC 4731) and SORT (RFC 5267 3.1). ``ordered`` are the
    matching UIDs in the answer's order (MIN is the first, MAX the last), ``results`` what
    the client is shown for them; ``format_all`` writes ALL (a UID set for SEARCH, the sort
    order for SORT). SAVE keeps the result for "$" (RFC 5182)."""
    wanted = set(options) or {c.SearchReturn.ALL}
    if c.SearchReturn.SAVE in wanted:  # RFC 5182 2.4: MIN/MAX narrow what is saved
        saved = list(ordered)
        narrowed = []
        if saved and c.SearchReturn.MIN in wanted:
            narrowed.append(saved[0])
        if saved and c.SearchReturn.MAX in wanted:
            narrowed.append(saved[-1])
        if narrowed and not {c.SearchReturn.ALL, c.SearchReturn.COUNT} & wanted:
            saved = narrowed
        session.saved_uids = tuple(sorted(set(saved)))
        wanted.discard(c.SearchReturn.SAVE)
        if not wanted:  # RFC 5182 2.1: SAVE alone sends no ESEARCH
            return r.ok(f"{command_name} completed, result saved")
    modseq = None
    if with_modseq:  # RFC 7162 3.1.10: of every match, or of MIN/MAX when only those
        returned = condstore.ends(list(ordered), wanted)
        modseq = await condstore.highest_modseq(session, sorted(set(returned)))
    await session.send(
        untagged.esearch(
            session.tag,
            uid,
            minimum=results[0] if results and c.SearchReturn.MIN in wanted else None,
            maximum=results[-1] if results and c.SearchReturn.MAX in wanted else None,
            count=len(results) if c.SearchReturn.COUNT in wanted else None,
            all_=format_all(results) if c.SearchReturn.ALL in wanted else None,
            modseq=modseq,
        )
    )
    return r.ok(f"{command_name} completed")
