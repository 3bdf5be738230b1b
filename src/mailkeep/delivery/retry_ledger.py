"""What a refused transaction already delivered, so the client's retry does not do it twice.

RFC 5321 4.5.3.2 and 6.1: after a 4xx at the end of DATA the client sends the same message
again later. The pipeline answers 451 only when a write failed, and it orders its writes so
that the usual failure (the queue spool) comes before any local copy. One failure can still
come after durable work: spooling the retry of a refused local copy when other copies are
already in their mailboxes. Then the pipeline notes here which local users and which remote
addresses have the message; when the same sender sends the same bytes again, those are left
out and only the rest is delivered.

Implementation notes:

- The key is a SHA-256 over the reverse-path and the message as the client sent it (before
  our own trace and added fields), so a retry from another connection or another IP of the
  same client matches. A different message never matches.
- Entries live in memory for ``ttl_seconds`` (long enough for the client's retries, RFC
  5321 4.5.4.1 asks clients to keep trying for 4-5 days) and at most ``max_entries`` are
  kept, the oldest going first. A restart forgets them: the retry then duplicates, as before
  (duplicates rather than loss, RFC 5321 6.1).
- Nothing is hashed while the ledger is empty, which is the normal state.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mailkeep.mail.address import Address

DEFAULT_TTL_SECONDS = 5 * 86400.0  # RFC 5321 4.5.4.1: clients give up after 4-5 days
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Done:
    """What an earlier attempt of the same transaction made durable."""

    local_user_ids: frozenset[int] = frozenset()
    remote_keys: frozenset[str] = frozenset()  # Address.key of spooled remote recipients


NOTHING_DONE = Done()


def transaction_key(sender: Address | None, raw: bytes) -> bytes:
    """The key of a transaction: reverse-path and the client's message bytes."""
    digest = hashlib.sha256((sender.key if sender else "").encode("utf-8") + b"\x00")
    digest.update(raw)
    return digest.digest()


class RetryLedger:
    """In-memory record of partly delivered transactions that were answered 4xx."""

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Done]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def done(self, sender: Address | None, raw: bytes) -> tuple[bytes | None, Done]:
        """The key of this transaction (None while the ledger is empty) and what is done."""
        if not self._entries:
            return None, NOTHING_DONE
        self._expire()
        key = transaction_key(sender, raw)
        entry = self._entries.get(key)
        return key, NOTHING_DONE if entry is None else entry[1]

    def record(
        self,
        key: bytes | None,
        sender: Address | None,
        raw: bytes,
        *,
        local_user_ids: Iterable[int],
        remote_keys: Iterable[str],
    ) -> None:
        """Note what is durable now for a transaction about to be answered 4xx."""
        if key is None:
            key = transaction_key(sender, raw)
        previous = self._entries.pop(key, (0.0, NOTHING_DONE))[1]
        done = Done(
            previous.local_user_ids | frozenset(local_user_ids),
            previous.remote_keys | frozenset(remote_keys),
        )
        if not (done.local_user_ids or done.remote_keys):
            return
        self._entries[key] = (self._clock(), done)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, key: bytes | None) -> None:
        """The transaction went through: its retries are over."""
        if key is not None:
            self._entries.pop(key, None)

    def _expire(self) -> None:
        limit = self._clock() - self._ttl
        while self._entries:
            oldest = next(iter(self._entries.values()))[0]
            if oldest >= limit:
                break
            self._entries.popitem(last=False)
