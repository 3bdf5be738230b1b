"""The per-user change feed: what one session changed, the others hear about.

IMAP sessions subscribe when they authenticate (RFC 9051 7.4.1 EXPUNGE, 7.3.1 EXISTS and
FETCH FLAGS untagged updates; RFC 2177 IDLE; RFC 7162 3.2.10 VANISHED). The store publishes
after the change is committed and durable, on the event loop's thread, in commit order.

A session hears its own changes too: it must treat an expunge of a UID it no longer maps, or
new UIDs it already knows, as no-ops. A subscriber that falls more than ``max_pending``
changes behind is marked ``overflowed`` and its backlog dropped: it must then re-read the
mailbox (a fresh select diffed against its UID map), so memory stays bounded whatever a
stuck client does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from mailkeep.store.models import FlagChange, UidSet

DEFAULT_MAX_PENDING = 10_000  # a session this far behind resyncs instead (bounded memory)


@dataclass(frozen=True, slots=True)
class MessagesAdded:
    """New messages (delivery, APPEND, COPY, MOVE) with their UIDs."""

    mailbox_id: int
    uids: UidSet
    uidnext: int
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """Flags or keywords changed; each change carries its new MODSEQ."""

    mailbox_id: int
    changes: tuple[FlagChange, ...]
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class MessagesExpunged:
    """Messages removed (EXPUNGE, MOVE's source, POP3 QUIT), recorded at ``modseq``."""

    mailbox_id: int
    uids: UidSet
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class MailboxCreated:
    mailbox_id: int
    name: str


@dataclass(frozen=True, slots=True)
class MailboxDeleted:
    mailbox_id: int
    name: str


@dataclass(frozen=True, slots=True)
class MailboxRenamed:
    mailbox_id: int
    old_name: str
    new_name: str


Change = (
    MessagesAdded
    | FlagsChanged
    | MessagesExpunged
    | MailboxCreated
    | MailboxDeleted
    | MailboxRenamed
)


class Subscription:
    """One session's view of the feed. Use ``await wait()`` then ``drain()``, or ``get()``."""

    def __init__(self, feed: ChangeFeed, user_id: int, max_pending: int) -> None:
        self._feed = feed
        self.user_id = user_id
        self._max_pending = max_pending
        self._pending: deque[Change] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def _push(self, change: Change) -> None:
        if self.overflowed:
            return
        if len(self._pending) >= self._max_pending:
            self._pending.clear()
            self.overflowed = True
        else:
            self._pending.append(change)
        self._ready.set()

    def drain(self) -> list[Change]:
        """Every change not yet taken, oldest first (empty when none)."""
        items = list(self._pending)
        self._pending.clear()
        self._ready.clear()
        return items

    def clear_overflow(self) -> None:
        """Call after resynchronising from the store."""
        self.overflowed = False

    async def wait(self) -> None:
        """Return when there is something to drain (or the overflow flag is set)."""
        await self._ready.wait()

    async def get(self) -> Change:
        """The next change, waiting for one."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
            if self.overflowed and not self._pending:
                raise OverflowError("change feed overflowed: resynchronise")
        change = self._pending.popleft()
        if not self._pending:
            self._ready.clear()
        return change

    def close(self) -> None:
        """Stop receiving (idempotent); call in a ``finally`` when the session ends."""
        if not self.closed:
            self.closed = True
            self._feed._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChangeFeed:
    """In-process publish/subscribe keyed by user id. Loop-thread only."""

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._subscribers: dict[int, set[Subscription]] = {}

    def subscribe(self, user_id: int) -> Subscription:
        """A new subscription to ``user_id``'s changes; close it when done."""
        sub = Subscription(self, user_id, self._max_pending)
        self._subscribers.setdefault(user_id, set()).add(sub)
        return sub

    def publish(self, user_id: int, change: Change) -> None:
        """Tell every subscriber of ``user_id`` (the store calls this after commit)."""
        for sub in tuple(self._subscribers.get(user_id, ())):
            sub._push(change)

    def subscriber_count(self, user_id: int) -> int:
        return len(self._subscribers.get(user_id, ()))

    def _remove(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.user_id]
