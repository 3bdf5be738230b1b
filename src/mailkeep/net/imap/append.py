"""APPEND and MULTIAPPEND (RFC 9051 6.3.12; RFC 3502 MULTIAPPEND: all or nothing; RFC 4315
APPENDUID; RFC 7889 APPENDLIMIT: the core refuses larger messages before upload).
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


async def append(session: Session, command: c.Append) -> StatusResponse:
    messages = []
    for message in command.messages:
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
