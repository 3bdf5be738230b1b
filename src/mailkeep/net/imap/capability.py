"""CAPABILITY (RFC 9051 6.1.1, 7.2.2): only what this server fully implements.

Before TLS on the plaintext port: STARTTLS and LOGINDISABLED (RFC 9051 6.2.3), no AUTH=
mechanisms. Before login: the login-related capabilities. After login: the extensions.
"""

from __future__ import annotations

from mailkeep.accounts.login import offered_mechanisms
from mailkeep.net.imap.session import Session

PASSWORD_MECHANISMS = ("PLAIN",)  # over TLS only; SCRAM-SHA-256 joins when users have keys

BEFORE_LOGIN = ("IMAP4rev1", "IMAP4rev2", "ID", "ENABLE", "LITERAL+", "SASL-IR")
AFTER_LOGIN = (
    "IMAP4rev1",
    "IMAP4rev2",
    "ID",
    "ENABLE",
    "LITERAL+",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "MOVE",
    "CHILDREN",  # RFC 3348: \\HasChildren / \\HasNoChildren
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "ESEARCH",
    "SEARCHRES",
    "STATUS=SIZE",
    "MULTIAPPEND",
    "BINARY",
    "UTF8=ACCEPT",  # RFC 6855: UTF-8 names and strings, APPEND UTF8 (...), after ENABLE
    "SAVEDATE",  # RFC 8514: FETCH SAVEDATE, SEARCH SAVEDBEFORE/SAVEDON/SAVEDSINCE
    "PREVIEW",  # RFC 8970: the store keeps each message's preview from delivery on
    "METADATA",  # RFC 5464: mailbox and server annotations (METADATA-SERVER implied)
    "QUOTA",  # RFC 9208: GETQUOTA, GETQUOTAROOT; no QUOTASET (SETQUOTA is refused)
    "QUOTA=RES-STORAGE",
    "QUOTA=RES-MESSAGE",
    "SORT",  # RFC 5256
    "SORT=DISPLAY",  # RFC 5957
    "ESORT",  # RFC 5267 3
    "THREAD=ORDEREDSUBJECT",  # RFC 5256
    "THREAD=REFERENCES",
    "COMPRESS=DEFLATE",  # RFC 4978
    "CONDSTORE",  # RFC 7162 3.1
    "QRESYNC",  # RFC 7162 3.2
)


def capabilities(session: Session) -> list[str]:
    if session.user is not None:
        settings = session.services.settings
        extra = [f"APPENDLIMIT={settings.max_append_message}"]
        if settings.unauthenticate:
            extra.append("UNAUTHENTICATE")  # RFC 8437 3: after login only
        return [*AFTER_LOGIN, *extra]
    if session.conn.tls is None:
        if session.may_send_credentials:  # imap.plaintext_login_networks
            return [*BEFORE_LOGIN, "STARTTLS", "AUTH=PLAIN"]
        return [*BEFORE_LOGIN, "STARTTLS", "LOGINDISABLED"]
    return [*BEFORE_LOGIN, *(f"AUTH={name}" for name in mechanisms(session))]


def mechanisms(session: Session) -> list[str]:
    """The mechanisms AUTHENTICATE takes now (listed as AUTH=... over TLS before login)."""
    return offered_mechanisms(session.services.directory, PASSWORD_MECHANISMS)
