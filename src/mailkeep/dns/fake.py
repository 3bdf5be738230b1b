"""Zones in memory: a ``Resolver`` for unit tests (DESIGN 3.9).

Names that were never added answer NXDOMAIN; a name with records of other types answers
NODATA. ``fail`` makes a (name, type) answer TEMPFAIL and ``stall`` makes it never answer,
for timeout tests. ``queries`` counts what was asked, to prove caching.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from mailkeep.dns.resolver import (
    Answer,
    MXRecord,
    Rdata,
    RecordType,
    Status,
    TLSARecord,
    normalize_name,
    tempfail,
)

TXT_STRING_MAX = 255  # RFC 1035 3.3: one character-string is at most 255 octets


def split_txt(text: str | bytes) -> tuple[bytes, ...]:
    """A TXT value as the character-strings a zone would hold (RFC 7208 3.3)."""
    data = text.encode() if isinstance(text, str) else text
    if not data:
        return (b"",)
    return tuple(data[i : i + TXT_STRING_MAX] for i in range(0, len(data), TXT_STRING_MAX))


class FakeResolver:
    """In-memory zones; see the module docstring."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, RecordType], list[Rdata]] = {}
        self._names: set[str] = set()
        self._failures: dict[tuple[str, RecordType], str] = {}
        self._stalled: set[tuple[str, RecordType]] = set()
        self._authenticated: set[str] = set()
        self.ttl = 300
        self.queries: Counter[tuple[str, RecordType]] = Counter()

    def add(self, name: str, rtype: RecordType, *records: Rdata) -> None:
        name = normalize_name(name)
        self._names.add(name)
        self._records.setdefault((name, rtype), []).extend(records)

    def add_txt(self, name: str, text: str | bytes) -> None:
        self.add(name, RecordType.TXT, split_txt(text))

    def add_mx(self, name: str, preference: int, exchange: str) -> None:
        self.add(name, RecordType.MX, MXRecord(preference, normalize_name(exchange)))

    def add_tlsa(self, name: str, record: TLSARecord) -> None:
        self.add(name, RecordType.TLSA, record)

    def add_name(self, name: str) -> None:
        """Make a name exist without records (answers NODATA)."""
        self._names.add(normalize_name(name))

    def sign(self, name: str) -> None:
        """Answers for this name carry the AD bit, as if DNSSEC-validated."""
        self._authenticated.add(normalize_name(name))

    def fail(self, name: str, rtype: RecordType, reason: str = "SERVFAIL") -> None:
        self._failures[(normalize_name(name), rtype)] = reason

    def stall(self, name: str, rtype: RecordType) -> None:
        self._stalled.add((normalize_name(name), rtype))

    async def lookup(self, name: str, rtype: RecordType) -> Answer:
        key = (normalize_name(name), rtype)
        self.queries[key] += 1
        if key in self._stalled:
            await asyncio.Event().wait()
        if key in self._failures:
            return tempfail(key[0], rtype, self._failures[key])
        ad = key[0] in self._authenticated
        records = self._records.get(key)
        if records:
            return Answer(key[0], rtype, Status.OK, tuple(records), self.ttl, ad)
        status = Status.NODATA if key[0] in self._names else Status.NXDOMAIN
        return Answer(key[0], rtype, status, ttl=self.ttl, authenticated=ad)
