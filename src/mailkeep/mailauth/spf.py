"""SPF (RFC 7208) over pyspf, with mailkeep's resolver plugged in.

The MAIL FROM identity is checked; for the null sender, the HELO identity (RFC 7208 2.4).
pyspf is synchronous and queries DNS through its module-level ``DNSLookup`` function (the
hook its own test driver uses). We install one dispatcher there that serves each thread
from that thread's lookup, so pyspf never queries DNS by itself and several checks with
different resolvers can run at once. A check is first tried on the event loop with answers
from the cache only (``CachedOnly``: the usual case for a known sender, and the thread hop
would cost as much as the check); if any answer is missing it runs again in a worker
thread with a ``BlockingLookup`` that may wait for DNS. The processing limits of RFC 7208
4.6.4 (10 lookups, 2 void lookups, 20 s in total) are pyspf's, which the RFC 7208 test
suite in tests/mailauth exercises.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import idna
import spf

from mailkeep.dns.blocking import BlockingLookup
from mailkeep.dns.resolver import Answer, CachingResolver, RecordType, Resolver, Status
from mailkeep.mailauth.results import SPFIdentity, SPFOutcome, SPFResult

log = logging.getLogger(__name__)

TOTAL_TIME_SECONDS = 20.0  # RFC 7208 4.6.4: at least 20 seconds for one whole check
LOOKUP_TIME_SECONDS = 5.0  # per query, well inside the total

_local = threading.local()

_SPF_TYPES = {t.value: t for t in (RecordType.A, RecordType.AAAA, RecordType.MX)}
_SPF_TYPES.update({"TXT": RecordType.TXT, "PTR": RecordType.PTR})

SPFRecord = tuple[tuple[str, str], object]


class _CacheMiss(Exception):
    """An answer the cache does not hold: the inline attempt stops, a thread takes over."""


class CachedOnly:
    """A lookup that answers from the resolver's cache only, for the inline attempt on the
    event loop; ``missed`` tells afterwards whether any answer was not there (pyspf swallows
    some exceptions, so the flag, not the exception, decides)."""

    def __init__(self, resolver: CachingResolver) -> None:
        self._resolver = resolver
        self.missed = False

    def lookup(self, name: str, rtype: RecordType) -> Answer:
        answer = self._resolver.cached(name, rtype)
        if answer is None:
            self.missed = True
            raise _CacheMiss(name)
        return answer


def _dispatch_lookup(
    name: str, qtype: str, strict: object = True, timeout: object = None
) -> list[SPFRecord]:
    """pyspf's DNSLookup: answers as ((name, type), value) pairs, like its dnspython driver."""
    lookup: BlockingLookup | CachedOnly | None = getattr(_local, "lookup", None)
    if lookup is None:
        raise spf.TempError("DNS: no resolver for this thread")
    rtype = _SPF_TYPES.get(qtype)
    if rtype is None:  # type 99 (SPF) is obsolete, RFC 7208 3.1; we never ask for it
        return []
    answer = lookup.lookup(name, rtype)
    if answer.status is Status.TEMPFAIL:
        raise spf.TempError(f"DNS {answer.reason or 'temporary failure'}")
    key = (name, qtype)
    if rtype is RecordType.TXT:
        return [(key, r) for r in answer.records if isinstance(r, tuple)]
    if rtype is RecordType.MX:
        return [(key, (mx.preference, mx.exchange)) for mx in answer.mx() if mx.exchange]
    return [(key, value) for value in answer.addresses()]


spf.DNSLookup = _dispatch_lookup


@contextmanager
def _thread_lookup(lookup: BlockingLookup | CachedOnly) -> Iterator[None]:
    _local.lookup = lookup
    try:
        yield
    finally:
        _local.lookup = None


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    try:
        return idna.encode(domain, uts46=True).decode("ascii") if domain else domain
    except idna.IDNAError:
        return None


def _check(
    lookup: BlockingLookup | CachedOnly,
    ip: str,
    sender: str,
    helo: str,
    receiver: str,
    total: float,
) -> tuple[str, str]:
    with _thread_lookup(lookup):
        query = spf.query(
            i=ip,
            s=sender,
            h=helo,
            receiver=receiver or None,
            timeout=LOOKUP_TIME_SECONDS,
            querytime=total,
        )
        result, _code, explanation = query.check()
        return str(result), str(explanation or "")


async def verify_spf(
    resolver: Resolver,
    *,
    ip: str,
    mail_from: str,
    helo: str,
    receiver: str = "",
    time_limit: float = TOTAL_TIME_SECONDS,
) -> SPFOutcome:
    """Check SPF for one SMTP transaction. Never raises.

    ``mail_from`` is the reverse-path without brackets ("" for the null sender), ``helo``
    the EHLO/HELO argument, ``receiver`` our host name (the %{r} macro).
    """
    local, at, domain = mail_from.rpartition("@")
    identity = SPFIdentity.MAILFROM if mail_from else SPFIdentity.HELO
    if not mail_from:
        domain, local = helo, "postmaster"  # RFC 7208 2.4
    elif not at:
        local, domain = "postmaster", mail_from  # RFC 7208 4.3: no local-part
    ascii_domain = _ascii_domain(domain)
    sender = f"{local}@{ascii_domain}" if ascii_domain is not None else mail_from
    if ascii_domain is None or not ascii_domain:
        return SPFOutcome(SPFResult.NONE, identity, domain, sender, "not a valid domain name")
    args = (ip, sender if mail_from else "", helo, receiver, time_limit)
    if isinstance(resolver, CachingResolver):  # every answer cached: no thread needed
        cached = CachedOnly(resolver)
        try:
            result, explanation = _check(cached, *args)
        except Exception:  # _CacheMiss, or pyspf's own trouble: the thread tries again
            cached.missed = True
        if not cached.missed:
            return _outcome(result, explanation, identity, ascii_domain, sender)
    loop = asyncio.get_running_loop()
    lookup = BlockingLookup(resolver, loop, timeout=min(LOOKUP_TIME_SECONDS, time_limit))
    try:
        async with asyncio.timeout(time_limit + 1):
            result, explanation = await asyncio.to_thread(_check, lookup, *args)
    except TimeoutError:
        return SPFOutcome(SPFResult.TEMPERROR, identity, domain, sender, "check timed out")
    except Exception as exc:  # pyspf on input it did not expect: never the session's problem
        log.warning("spf check failed domain=%s error=%r", domain, exc, exc_info=True)
        return SPFOutcome(SPFResult.TEMPERROR, identity, domain, sender, "checker error")
    return _outcome(result, explanation, identity, ascii_domain, sender)


def _outcome(
    result: str, explanation: str, identity: SPFIdentity, domain: str, sender: str
) -> SPFOutcome:
    try:
        spf_result = SPFResult(result)
    except ValueError:
        return SPFOutcome(SPFResult.PERMERROR, identity, domain, sender, f"result {result!r}")
    return SPFOutcome(spf_result, identity, domain, sender, explanation)
