"""APPEND and MULTIAPPEND (RFC 9051 6.3.12; RFC 3502 MULTIAPPEND: all or nothing; RFC 4315
APPENDUID; RFC 7889 APPENDLIMIT: the core refuses larger messages before upload; RFC 6855 4
APPEND UTF8).

RFC 6855 4: since UTF8=ACCEPT is advertised, a message whose header fields hold 8-bit octets
is refused (NO) unless the session enabled UTF-8 (UTF8=ACCEPT, or IMAP4rev2, which includes
it). The ``UTF8 (literal8)`` form is accepted once UTF8=ACCEPT is enabled, also when the
client sent a plain literal inside it.
"""

from __future__ import annotations

from mailkeep.mail.headers import header_has_8bit
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
NO_8BIT_HEADER = r.no(
    "message header has 8-bit characters: ENABLE UTF8=ACCEPT first", Code("CANNOT")
)  # RFC 6855 4: MUST reject with NO


async def append(session: Session, command: c.Append) -> StatusResponse:
    messages = []
    utf8_session = session.utf8_accept or session.rev2
    for message in command.messages:
        if message.utf8 and not session.utf8_accept:
            return BAD_UTF8_NOT_ENABLED
        if not utf8_session and header_has_8bit(message.data):
            return NO_8BIT_HEADER
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
