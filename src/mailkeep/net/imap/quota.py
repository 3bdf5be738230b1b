"""GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208 QUOTA, QUOTA=RES-STORAGE, QUOTA=RES-MESSAGE).

Implementation notes:
- A user has at most one quota root, named "" (RFC 9208 4.2.2's own example), and it
  covers every mailbox of the user, existing or not (GETQUOTAROOT may name a mailbox that
  does not exist yet, RFC 9208 4.1.2). The limits are the account's (``User.quota_bytes``
  and ``quota_messages``, 0 meaning unlimited); the store enforces the same numbers at
  delivery, APPEND and COPY, which answer NO [OVERQUOTA] (RFC 9208 4.3.1). A MOVE stays
  within the one root and adds nothing (copy and expunge are one transaction, and the
  store shares the message file), so it is never over quota.
- A user without any limit has no quota root: GETQUOTAROOT lists none and GETQUOTA ""
  answers NO. That keeps every QUOTA response non-empty, as RFC 9208 7's grammar
  requires (its prose also allows an empty list; the grammar is the stricter reading).
- STORAGE is counted in units of 1024 octets, rounded up, for both usage and limit
  (RFC 9208 5.1); MESSAGE is exact (RFC 9208 5.2).
- SETQUOTA changes an administrative limit. IMAP has no admin rights here (no ACL,
  RFC 4314), so it is always NO [NOPERM] and QUOTASET is not advertised (RFC 9208 4.1.3);
  quotas are set with ``mailkeep`` account commands.
"""

from __future__ import annotations

from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.responses import Code, StatusResponse

ROOT = ""  # the one quota root of a user: all of the user's mailboxes
KIB = 1024  # RFC 9208 5.1: STORAGE is in units of 1024 octets
CAPABILITIES = ("QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE")
NO_SUCH_ROOT = r.no("no such quota root", Code("NONEXISTENT"))  # RFC 9208 4.1.1
NO_SETQUOTA = r.no("quota limits are set by the administrator", Code("NOPERM"))  # RFC 5530


def kib(octets: int) -> int:
    """Octets as STORAGE units: 1024-octet blocks, rounded up."""
    return -(-octets // KIB)


def _has_limits(session: Session) -> bool:
    quota = session.quota
    return bool(quota.max_bytes or quota.max_messages)


async def _send_quota(session: Session) -> None:
    quota = session.quota
    usage = await session.services.store.quota_usage(session.user_id)
    resources: list[tuple[str, int, int]] = []
    if quota.max_bytes:
        resources.append(("STORAGE", kib(usage.bytes), kib(quota.max_bytes)))
    if quota.max_messages:
        resources.append(("MESSAGE", usage.messages, quota.max_messages))
    await session.send(untagged.quota(ROOT, resources))


async def getquota(session: Session, command: c.GetQuota) -> StatusResponse:
    if command.root != ROOT or not _has_limits(session):
        return NO_SUCH_ROOT
    await _send_quota(session)
    return r.ok("GETQUOTA completed")


async def getquotaroot(session: Session, command: c.GetQuotaRoot) -> StatusResponse:
    limited = _has_limits(session)
    await session.send(untagged.quotaroot(command.mailbox, [ROOT] if limited else []))
    if limited:
        await _send_quota(session)
    return r.ok("GETQUOTAROOT completed")


async def setquota(session: Session, command: c.SetQuota) -> StatusResponse:
    return NO_SETQUOTA
