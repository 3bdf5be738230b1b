"""Lookups from a worker thread through the event loop's resolver.

pyspf and dkimpy are synchronous and run in ``asyncio.to_thread``; their DNS queries come
here. A cached answer is read directly (no hop to the loop); a miss is sent to the loop
with ``run_coroutine_threadsafe`` and waited for at most ``timeout`` seconds, so a worker
never waits on DNS longer than that per query.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from mailkeep.dns.resolver import (
    Answer,
    CachingResolver,
    RecordType,
    Resolver,
    Status,
    tempfail,
)


class BlockingLookup:
    """Call ``lookup`` from a worker thread only, never from the loop's own thread."""

    def __init__(
        self, resolver: Resolver, loop: asyncio.AbstractEventLoop, *, timeout: float
    ) -> None:
        self._resolver = resolver
        self._loop = loop
        self._timeout = timeout
        self.tempfailures: list[Answer] = []  # what failed temporarily, for result reasons

    def lookup(self, name: str, rtype: RecordType) -> Answer:
        answer = None
        if isinstance(self._resolver, CachingResolver):
            answer = self._resolver.cached(name, rtype)
        if answer is None:
            future = asyncio.run_coroutine_threadsafe(
                self._resolver.lookup(name, rtype), self._loop
            )
            try:
                answer = future.result(self._timeout)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                future.cancel()
                answer = tempfail(name, rtype, f"no answer within {self._timeout:g} s")
        if answer.status is Status.TEMPFAIL:
            self.tempfailures.append(answer)
        return answer
