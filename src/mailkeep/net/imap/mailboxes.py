"""Mailbox commands: LIST, LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
NAMESPACE (RFC 9051 6.3; RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
SPECIAL-USE and CREATE-SPECIAL-USE, RFC 3348 CHILDREN, RFC 2342 NAMESPACE, RFC 8438
STATUS=SIZE, RFC 9208 4.1.4 STATUS DELETED and DELETED-STORAGE).

Names are the store's: UTF-8 with "/" as the one separator; the core already decoded
modified UTF-7 (IMAP4rev1) and the encoder re-encodes for the session. Every name the
client gives is checked by the store, within the logged-in user's own mailboxes only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailkeep.net.imap import condstore
from mailkeep.net.imap.quota import kib
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import Code, Data, StatusResponse
from mailkeep.protocol.imap.values import Value
from mailkeep.store import query as q
from mailkeep.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotAllowed,
    MailboxNotFound,
)
from mailkeep.store.models import (
    HIERARCHY_SEPARATOR,
    INBOX,
    Flag,
    MailboxInfo,
    MailboxStatus,
    SpecialUse,
    UidSet,
)

SEP = HIERARCHY_SEPARATOR
NO_USEATTR = r.no("unsupported special-use attribute", Code("USEATTR"))  # RFC 6154 3
_SPECIAL_USES = {use.value.lower(): use for use in SpecialUse}
DELETED_BATCH = 2000  # UIDs per metadata read when summing DELETED-STORAGE
STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT")


def pattern_regex(reference: str, pattern: str) -> re.Pattern[str]:
    """LIST's reference and mailbox pattern as one regex (RFC 9051 6.3.9): ``*`` matches
    anything, ``%`` anything but the separator; INBOX matches case-insensitively."""
    full = reference + pattern if not pattern.startswith(SEP) else pattern
    out = []
    for ch in full:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(SEP)}]*")
        else:
            out.append(re.escape(ch))
    text = "".join(out)
    if full[:5].upper() == INBOX:
        text = "(?i:INBOX)" + "".join(out[5:])
    return re.compile(text, re.DOTALL)


def _attributes(box: MailboxInfo, return_subscribed: bool) -> list[str]:
    attrs = ["\\HasChildren" if box.has_children else "\\HasNoChildren"]
    if box.special_use is not None:
        attrs.append(box.special_use.value)
    if return_subscribed and box.subscribed:
        attrs.append("\\Subscribed")
    return attrs


async def list_mailboxes(session: Session, command: c.List) -> StatusResponse:
    store, user_id = session.services.store, session.user_id
    if command.patterns == ("",) and not command.selection:
        # RFC 9051 6.3.9: the hierarchy delimiter and the root of the reference
        await session.send(untagged.list_mailbox(["\\Noselect"], SEP, ""))
        return r.ok("LIST completed")
    regexes = [pattern_regex(command.reference, p) for p in command.patterns]
    selection = set(command.selection)
    returns = set(command.return_options)
    only_subscribed = "SUBSCRIBED" in selection
    only_special = "SPECIAL-USE" in selection
    show_subscribed = only_subscribed or "SUBSCRIBED" in returns
    boxes = await store.list_mailboxes(user_id)
    rows: list[tuple[str, list[str], list[Value]]] = []
    if only_subscribed:
        existing = {b.name: b for b in boxes}
        subscribed = await store.subscriptions(user_id)
        names = set(subscribed)
        for name in sorted(names):
            box = existing.get(name)
            matched = any(rx.fullmatch(name) for rx in regexes)
            if not matched:
                continue
            if box is None:
                rows.append((name, ["\\NonExistent", "\\Subscribed"], []))
            elif not only_special or box.special_use is not None:
                rows.append((name, _attributes(box, True), []))
        if "RECURSIVEMATCH" in selection:  # RFC 5258 3.5: parents of subscribed children
            listed = {row[0] for row in rows}
            for box in boxes:
                if box.name in listed or not any(rx.fullmatch(box.name) for rx in regexes):
                    continue
                if any(n.startswith(box.name + SEP) for n in names):
                    extended: list[Value] = ["CHILDINFO", ["SUBSCRIBED"]]
                    rows.append((box.name, _attributes(box, box.subscribed), extended))
            rows.sort(key=lambda row: row[0])
    else:
        for box in boxes:
            if only_special and box.special_use is None:
                continue
            if any(rx.fullmatch(box.name) for rx in regexes):
                rows.append((box.name, _attributes(box, show_subscribed), []))
    want_status = "STATUS" in returns
    if want_status and "HIGHESTMODSEQ" in command.status_items:
        await condstore.enable(session)  # as STATUS (HIGHESTMODSEQ) would, RFC 7162 3.1
    for name, attrs, extended in rows:
        await session.send(untagged.list_mailbox(attrs, SEP, name, extended))
        if want_status and "\\NonExistent" not in attrs:  # RFC 5819 2
            try:
                status = await store.status(user_id, name)
            except MailboxNotFound:
                continue
            await session.send(await _status_data(session, name, status, command.status_items))
    return r.ok("LIST completed")


async def lsub(session: Session, command: c.Lsub) -> StatusResponse:
    """LSUB (RFC 3501 6.3.9; deprecated in RFC 9051 but still answered)."""
    store, user_id = session.services.store, session.user_id
    rx = pattern_regex(command.reference, command.pattern)
    existing = {b.name: b for b in await store.list_mailboxes(user_id)}
    for name in sorted(await store.subscriptions(user_id)):
        if rx.fullmatch(name):
            attrs = [] if name in existing else ["\\Noselect"]
            await session.send(untagged.list_mailbox(attrs, SEP, name, command="LSUB"))
    return r.ok("LSUB completed")


async def _status_data(
    session: Session, name: str, status: MailboxStatus, items: Sequence[str]
) -> Data:
    values = {
        "MESSAGES": status.messages,
        "UIDNEXT": status.uidnext,
        "UIDVALIDITY": status.uidvalidity,
        "UNSEEN": status.unseen,
        "DELETED": status.deleted,
        "SIZE": status.size,
        "RECENT": status.recent,
        "HIGHESTMODSEQ": status.highestmodseq,
        "APPENDLIMIT": session.services.settings.max_append_message,
    }
    if "DELETED-STORAGE" in items:
        values["DELETED-STORAGE"] = await _deleted_storage(session, status)
    return untagged.status(name, [(item, values[item]) for item in items if item in values])


async def _deleted_storage(session: Session, status: MailboxStatus) -> int:
    """RFC 9208 4.1.4 DELETED-STORAGE: what an EXPUNGE would free, in the STORAGE unit
    (1024 octets, rounded up): the sizes of the messages flagged \\Deleted."""
    if not status.deleted:
        return 0
    store, user_id = session.services.store, session.user_id
    uids = await store.search(user_id, status.id, q.HasFlag(Flag.DELETED))
    total = 0
    for start in range(0, len(uids), DELETED_BATCH):
        batch = UidSet.of(uids[start : start + DELETED_BATCH])
        total += sum(meta.size for meta in await store.fetch(user_id, status.id, batch))
    return kib(total)


async def status(session: Session, command: c.Status) -> StatusResponse:
    if "HIGHESTMODSEQ" in command.items:
        await condstore.enable(session)  # RFC 7162 3.1
    try:
        result = await session.services.store.status(session.user_id, command.mailbox)
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_NONEXISTENT
    await session.send(await _status_data(session, command.mailbox, result, command.items))
    return r.ok("STATUS completed")


async def create(session: Session, command: c.Create) -> StatusResponse:
    name = command.mailbox.rstrip(SEP) or command.mailbox  # RFC 9051 6.3.4: "foo/" is foo
    use: SpecialUse | None = None
    if command.special_use:
        if len(command.special_use) > 1:
            return NO_USEATTR
        use = _SPECIAL_USES.get(command.special_use[0].lower())
        if use is None:
            return NO_USEATTR
    try:
        await session.services.store.create_mailbox(session.user_id, name, use)
    except MailboxExists:
        return r.NO_ALREADYEXISTS
    except (InvalidMailboxName, MailboxNotAllowed) as exc:
        return r.NO_CANNOT.with_text(str(exc) or "cannot create that mailbox")
    return r.ok("CREATE completed")


async def delete(session: Session, command: c.Delete) -> StatusResponse:
    try:
        await session.services.store.delete_mailbox(session.user_id, command.mailbox)
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_NONEXISTENT
    except MailboxNotAllowed as exc:
        return r.NO_CANNOT.with_text(str(exc) or "cannot delete that mailbox")
    return r.ok("DELETE completed")


async def rename(session: Session, command: c.Rename) -> StatusResponse:
    try:
        await session.services.store.rename_mailbox(session.user_id, command.old, command.new)
    except MailboxNotFound:
        return r.NO_NONEXISTENT
    except MailboxExists:
        return r.NO_ALREADYEXISTS
    except (InvalidMailboxName, MailboxNotAllowed) as exc:
        return r.NO_CANNOT.with_text(str(exc) or "cannot rename that mailbox")
    return r.ok("RENAME completed")


async def subscribe(session: Session, command: c.Subscribe | c.Unsubscribe) -> StatusResponse:
    wanted = isinstance(command, c.Subscribe)
    try:
        await session.services.store.set_subscribed(session.user_id, command.mailbox, wanted)
    except InvalidMailboxName as exc:
        return r.NO_CANNOT.with_text(str(exc) or "invalid mailbox name")
    return r.ok("SUBSCRIBE completed" if wanted else "UNSUBSCRIBE completed")


async def namespace(session: Session, command: c.Namespace) -> StatusResponse:
    await session.send(untagged.namespace([("", SEP)]))
    return r.ok("NAMESPACE completed")
