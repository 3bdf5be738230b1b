"""Asynchronous DNS lookups: the interface, the answer type and a TTL-bounded cache.

RFC 1035 (records), RFC 2308 (negative answers and their caching), RFC 4035 3.2.3 and
RFC 6840 5.7 (the AD bit: set only by a validating resolver we trust), RFC 6698 (TLSA).

Implementation notes:
- ``Resolver.lookup`` never raises for a DNS outcome: NXDOMAIN, no data, timeouts and
  server failures are ``Answer.status`` values, so every caller decides between
  "none", "permerror" and "temperror" itself (SPF, DKIM, DMARC, MTA-STS, DANE).
- Names are compared lower-case without the trailing dot; CNAME chains are followed by the
  implementation, and ``Answer.name`` stays the name asked for.
- ``CachingResolver`` keeps at most ``max_entries`` answers for at most their TTL
  (clamped to ``max_ttl``); temporary failures are never cached. Concurrent lookups of
  the same key share one query. ``cached()`` is a non-async, read-only peek that worker
  threads (pyspf, dkimpy) may call without touching the event loop.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class RecordType(enum.StrEnum):
    """The record types mailkeep asks for."""

    A = "A"
    AAAA = "AAAA"
    MX = "MX"
    TXT = "TXT"
    TLSA = "TLSA"
    PTR = "PTR"


class Status(enum.Enum):
    """How a lookup ended."""

    OK = "ok"  # records in the answer section
    NXDOMAIN = "nxdomain"  # RFC 2308 2.1: the name does not exist
    NODATA = "nodata"  # RFC 2308 2.2: the name exists, without records of this type
    TEMPFAIL = "tempfail"  # timeout, SERVFAIL, REFUSED, network error: try again later

    @property
    def is_void(self) -> bool:
        """RFC 7208 4.6.4: a "void lookup" is NXDOMAIN or no answer records."""
        return self in (Status.NXDOMAIN, Status.NODATA)


@dataclass(frozen=True, slots=True)
class MXRecord:
    preference: int
    exchange: str  # lower-case, no trailing dot; "" is the null MX of RFC 7505


@dataclass(frozen=True, slots=True)
class TLSARecord:
    """RFC 6698 2.1."""

    usage: int
    selector: int
    mtype: int
    data: bytes


# A: / AAAA: address text; PTR: name; TXT: the record's character-strings
Rdata = str | tuple[bytes, ...] | MXRecord | TLSARecord


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one lookup of (name, rtype)."""

    name: str
    rtype: RecordType
    status: Status
    records: tuple[Rdata, ...] = ()
    ttl: int = 0  # seconds this answer may be reused (negative answers: RFC 2308 5)
    authenticated: bool = False  # the AD bit of the response (DNSSEC validated upstream)
    reason: str = ""  # for TEMPFAIL: what went wrong, for logs and result comments

    def addresses(self) -> list[str]:
        return [r for r in self.records if isinstance(r, str)]

    def names(self) -> list[str]:
        """PTR targets."""
        return self.addresses()

    def texts(self) -> list[bytes]:
        """TXT records, each one's character-strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [b"".join(r) for r in self.records if isinstance(r, tuple)]

    def mx(self) -> list[MXRecord]:
        return [r for r in self.records if isinstance(r, MXRecord)]

    def tlsa(self) -> list[TLSARecord]:
        return [r for r in self.records if isinstance(r, TLSARecord)]


def normalize_name(name: str) -> str:
    """The form names are compared and cached in: lower-case, no trailing dot."""
    return name.rstrip(".").lower()


def tempfail(name: str, rtype: RecordType, reason: str) -> Answer:
    return Answer(normalize_name(name), rtype, Status.TEMPFAIL, reason=reason)


class Resolver(Protocol):
    """Asynchronous DNS lookups; never raises for a DNS outcome (see ``Status``)."""

    async def lookup(self, name: str, rtype: RecordType) -> Answer: ...


class CachingResolver:
    """A ``Resolver`` in front of another, keeping answers for their TTL.

    ``timeout`` bounds every lookup here too, whatever the inner resolver does.
    """

    def __init__(
        self,
        inner: Resolver,
        *,
        max_entries: int = 10_000,
        max_ttl: float = 86_400.0,  # RFC 2181 8: TTLs above a day gain nothing here
        negative_ttl: float = 300.0,  # RFC 2308 5: bound on caching negative answers
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._max_entries = max_entries
        self._max_ttl = max_ttl
        self._negative_ttl = negative_ttl
        self._timeout = timeout
        self._clock = clock
        self._entries: OrderedDict[tuple[str, RecordType], tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()  # cached() is called from worker threads
        self._pending: dict[tuple[str, RecordType], asyncio.Future[Answer]] = {}
        self.hits = 0
        self.misses = 0

    def cached(self, name: str, rtype: RecordType) -> Answer | None:
        """The cached, unexpired answer for (name, rtype), or None. Safe from any thread."""
        key = (normalize_name(name), rtype)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, answer = entry
            if expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return answer

    async def lookup(self, name: str, rtype: RecordType) -> Answer:
        answer = self.cached(name, rtype)
        if answer is not None:
            return answer
        key = (normalize_name(name), rtype)
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.misses += 1
            answer = await self._lookup_bounded(key[0], rtype)
            self._store(key, answer)
            future.set_result(answer)
            return answer
        except BaseException as exc:  # cancellation: waiters get a tempfail, not a hang
            future.set_result(tempfail(key[0], rtype, f"lookup cancelled: {type(exc).__name__}"))
            raise
        finally:
            del self._pending[key]

    async def _lookup_bounded(self, name: str, rtype: RecordType) -> Answer:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._inner.lookup(name, rtype)
        except TimeoutError:
            return tempfail(name, rtype, f"no answer within {self._timeout:g} s")

    def _store(self, key: tuple[str, RecordType], answer: Answer) -> None:
        if answer.status is Status.TEMPFAIL:
            return
        ttl = min(float(answer.ttl), self._max_ttl)
        if answer.status is not Status.OK:
            ttl = min(ttl, self._negative_ttl)
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
