"""GETMETADATA and SETMETADATA (RFC 5464 METADATA: mailbox and server annotations).

Implementation notes:
- Annotations live in the user's store (store/metadata.py), per mailbox id, so they
  follow a RENAME and go with a DELETE. "Server" annotations (mailbox "") are the user's
  own too: nothing is shared between users here, so /shared and /private differ only in
  name. Both are supported, so no [METADATA NOPRIVATE].
- Computed, read-only entries: a mailbox's /private/specialuse is its special-use
  attribute (RFC 6154 4); /shared/admin (RFC 5464 3.2.1.1) is not offered. Setting either
  is NO [NOPERM].
- Limits (the [imap] metadata_* settings): one value's size ([METADATA MAXSIZE n]), the
  entries of one mailbox or of the server ([METADATA TOOMANY]) and all of a user's values
  together (NO [LIMIT], RFC 5530). One failure changes nothing (RFC 5464 4.3).
- GETMETADATA sends one METADATA response with every entry found, none when nothing is
  found; MAXSIZE drops larger values and reports the largest one dropped as
  [METADATA LONGENTRIES n] (RFC 5464 4.2.1). No unsolicited METADATA responses are sent,
  so ENABLE METADATA has nothing to enable and is ignored (RFC 5161 3.1).
"""

from __future__ import annotations

from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.values import Atom
from mailkeep.store.errors import (
    InvalidMailboxName,
    MailboxNotFound,
    MetadataLimitReached,
    MetadataTooLarge,
    MetadataTooMany,
)

SPECIALUSE = "/private/specialuse"  # RFC 6154 4
READ_ONLY = frozenset({SPECIALUSE, "/shared/admin"})
NO_READ_ONLY_ENTRY = r.no("that entry is read-only", Code("NOPERM"))
NO_TOOMANY = r.no("too many annotations", Code("METADATA", (Atom("TOOMANY"),)))
NO_TOTAL = r.no("annotation storage limit reached", Code("LIMIT"))


def _matches(name: str, wanted: str, depth: int | None) -> bool:
    """RFC 5464 4.2.2: ``wanted`` itself, and with DEPTH its children (1) or all below."""
    if name == wanted:
        return True
    if depth == 0 or not name.startswith(wanted + "/"):
        return False
    return depth is None or "/" not in name[len(wanted) + 1 :]


async def _entries(session: Session, mailbox: str) -> dict[str, bytes]:
    store = session.services.store
    if not mailbox:
        return await store.get_metadata(session.user_id, None)
    found = await store.get_metadata(session.user_id, mailbox)
    box = next((b for b in await store.list_mailboxes(session.user_id) if b.name == mailbox), None)
    if box is not None and box.special_use is not None:
        found[SPECIALUSE] = box.special_use.value.encode("ascii")
    return found


async def getmetadata(session: Session, command: c.GetMetadata) -> StatusResponse:
    try:
        stored = await _entries(session, command.mailbox)
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_NONEXISTENT
    found: list[tuple[str, bytes]] = []
    longest = 0
    for name in sorted(stored):
        if not any(_matches(name, w, command.depth) for w in command.entries):
            continue
        value = stored[name]
        if command.maxsize is not None and len(value) > command.maxsize:
            longest = max(longest, len(value))
            continue
        found.append((name, value))
    if found:
        await session.send(untagged.metadata(command.mailbox, found))
    if longest:
        code = Code("METADATA", (Atom("LONGENTRIES"), longest))
        return r.ok("GETMETADATA completed", code)
    return r.ok("GETMETADATA completed")


async def setmetadata(session: Session, command: c.SetMetadata) -> StatusResponse:
    if any(entry in READ_ONLY for entry, _ in command.values):
        return NO_READ_ONLY_ENTRY
    limits = session.services.settings.metadata
    try:
        await session.services.store.set_metadata(
            session.user_id, command.mailbox or None, command.values, limits
        )
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_NONEXISTENT
    except MetadataTooLarge as exc:
        return r.no(
            "annotation value too large",
            Code("METADATA", (Atom("MAXSIZE"), exc.limit)),
        )
    except MetadataTooMany:
        return NO_TOOMANY
    except MetadataLimitReached:
        return NO_TOTAL
    return r.ok("SETMETADATA completed")
