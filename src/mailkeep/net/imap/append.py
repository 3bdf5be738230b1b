"""APPEND and MULTIAPPEND (RFC 9051 6.3.12; RFC 3502 MULTIAPPEND: all or nothing; RFC 4315
APPENDUID; RFC 7889 APPENDLIMIT: the core refuses larger messages before upload; RFC 6855 4
APPEND UTF8).

Messages are stored byte for byte whatever their header bytes. RFC 6855 4 asks a server
that advertises UTF8=ACCEPT to refuse 8-bit header fields from sessions that did not
enable it; we accept them instead (decision 0012): real mail carries raw 8-bit headers
(old Latin-1 subjects, broken mailers), and refusing them makes every migration or sync
that uploads old mail (mbsync, imapsync, a client moving local folders) lose messages.
The ``UTF8 (literal8)`` form is accepted once UTF8=ACCEPT is enabled, also when the client
sent a plain literal inside it.
"""

from __future__ import annotations

from mailkeep.net.imap.flags import split_flags
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.values import Atom
from mailkeep.store.errors import (
    InvalidKeyword,
    InvalidMailboxName,
    MailboxNotAllowed,
    MailboxNotFound,
    QuotaExceeded,
)
from mailkeep.store.models import NewMessage

BAD_UTF8_NOT_ENABLED = r.bad("APPEND UTF8 needs ENABLE UTF8=ACCEPT first")


async def append(session: Session, command: c.Append) -> StatusResponse:
    messages = []
    for message in command.messages:
        if message.utf8 and not session.utf8_accept:
            return BAD_UTF8_NOT_ENABLED
        flags, keywords = split_flags(message.flags)
        messages.append(NewMessage(message.data, flags, keywords, message.internal_date))
    try:
        result = await session.services.store.append(
            session.user_id, command.mailbox, messages, session.quota
        )
    except (MailboxNotFound, InvalidMailboxName):
        return r.NO_TRYCREATE
    except QuotaExceeded:
        return r.NO_OVERQUOTA
    except InvalidKeyword as exc:
        return r.bad(str(exc) or "invalid keyword")
    except MailboxNotAllowed as exc:
        return r.NO_CANNOT.with_text(str(exc) or "not allowed")
    selected = session.selected
    if selected is not None and selected.mailbox_id == result.mailbox_id:
        selected.seqmap.add(result.uids)  # announced by EXISTS before the tagged OK
        session.new_uids_seen = True
    code = Code("APPENDUID", (result.uidvalidity, Atom(result.uids.to_imap())))
    return r.ok("APPEND completed", code)
