"""Per-user SQLite databases: opening, the read pool, and the group-committing writer.

Implementation notes:
- Threads: the event loop never touches SQLite or fsync. Reads run in a shared thread pool,
  each on a pooled read-only connection of the user (WAL readers see the last commit and
  never wait for the writer). Writes are queued per user and applied by one flush at a time
  per user in the pool, on the user's single write connection.
- Group commit: a flush takes every write queued for the user, runs each in its own
  SAVEPOINT (one failing write, e.g. over quota, is rolled back alone) and COMMITs once (the
  WAL is fsynced). Only then are the callers' futures resolved and the change feed told, in
  commit order, on the loop thread. No write is acknowledged before its data is durable.
- A write function returns (result, change-feed events, message files to delete after the
  commit). Files it refers to must be durable before it is queued (files.py).
- Open users are kept in LRU order; beyond ``max_open_users`` the least recently used idle
  ones are closed (reopening costs a few milliseconds), so file descriptors stay bounded.
  The bound is soft: a user with work in flight stays open until a later call finds it idle.
- Full-text indexing is deferred: delivery queues the decoded text; when a user's write
  queue is empty and no delivery is on its way, the flush moves ``index_batch`` texts into
  FTS5 per step. Search reads both (searchsql.py).
"""

from __future__ import annotations

import array
import asyncio
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mailkeep.durable import fsync_dir
from mailkeep.store import index, messages
from mailkeep.store.changes import Change, ChangeFeed
from mailkeep.store.errors import StoreError, StoreTemporaryError
from mailkeep.store.files import MessageFiles, temporary_error
from mailkeep.store.migrations import migrate

log = logging.getLogger(__name__)
CHECKPOINT_PAGES = 20_000  # 80 MB of WAL at most under sustained load
MAX_IDLE_READERS = 2  # read connections kept open per user; more are opened when needed
UID_CACHE_MAILBOXES = 4  # UID lists kept per open user: 400 KB each for 100,000 messages
T = TypeVar("T")


@dataclass
class Write:
    """A queued write: ``run(conn)`` returns (result, events, files to delete after commit).

    ``discard``: message files to delete when the write is not committed (a delivery's new
    files). ``sync_dirs``: directories holding new entries the write refers to; the batch
    fsyncs each once before its COMMIT (group commit of the directory fsyncs).
    """

    run: Callable[[sqlite3.Connection], tuple[Any, list[Change], list[str]]]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    discard: tuple[str, ...] = ()
    sync_dirs: tuple[Path, ...] = ()


@dataclass
class UserDb:
    user_id: int
    path: Path
    files: MessageFiles
    writer: sqlite3.Connection
    readers: list[sqlite3.Connection] = field(default_factory=list)
    pending: list[Write] = field(default_factory=list)
    flushing: bool = False
    closing: bool = False
    inflight: int = 0  # deliveries parsing/writing files: their writes will come soon
    active: int = 0  # reads and writes in progress (loop thread only)
    commits_since_checkpoint: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # mailbox id → ((UIDNEXT, messages), UIDs): a SELECT reuses the UID list of an earlier
    # one instead of reading 100,000 UIDs again. The key identifies the UID set: UIDs are
    # only ever added at UIDNEXT (which then grows) or removed (the count falls), so within
    # one UIDNEXT the count falls strictly and a (UIDNEXT, count) pair never comes back.
    # Flag changes leave the list as it is; new mail extends it (see uids_of).
    uid_cache: OrderedDict[int, tuple[tuple[int, int], array.array[int]]] = field(
        default_factory=OrderedDict
    )

    def begin_delivery(self) -> None:
        """A delivery is parsing and writing files; its writes will be queued soon (any
        thread)."""
        with self.lock:
            self.inflight += 1

    def end_delivery(self) -> None:
        with self.lock:
            self.inflight -= 1

    def uids_of(self, conn: sqlite3.Connection, row: sqlite3.Row) -> array.array[int]:
        """Every UID of the mailbox ``row`` (read in ``conn``'s snapshot), from the cache
        when it still holds: as it is when no UID came or went since, extended by the new
        UIDs when mail only arrived, read whole otherwise."""
        mailbox_id, uidnext, count = int(row["id"]), int(row["uidnext"]), int(row["messages"])
        with self.lock:
            found = self.uid_cache.get(mailbox_id)
            if found is not None:
                self.uid_cache.move_to_end(mailbox_id)
                (old_next, old_count), cached = found
                uids = array.array("I", cached)  # a copy: the caller may change it
        if found is not None and (old_next, old_count) == (uidnext, count):
            return uids
        if found is not None and old_next < uidnext:
            new = messages.uids_from(conn, mailbox_id, old_next)
            if old_count + len(new) == count:  # nothing older went: only arrivals
                uids.extend(new)
                self._cache_uids(mailbox_id, uidnext, count, uids)
                return uids
        uids = messages.all_uids(conn, mailbox_id)
        self._cache_uids(mailbox_id, uidnext, count, uids)
        return uids

    def _cache_uids(
        self, mailbox_id: int, uidnext: int, count: int, uids: array.array[int]
    ) -> None:
        with self.lock:
            self.uid_cache[mailbox_id] = ((uidnext, count), array.array("I", uids))
            self.uid_cache.move_to_end(mailbox_id)
            while len(self.uid_cache) > UID_CACHE_MAILBOXES:
                self.uid_cache.popitem(last=False)


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # WAL fsynced at every commit: durable
        # Checkpoints run when the writer is idle (UserDatabases._checkpoint), or, under
        # sustained load, every CHECKPOINT_PAGES pages of WAL.
        conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
    return conn


class UserDatabases:
    """The open users' databases and the threads that serve them."""

    def __init__(
        self,
        root: Path,
        *,
        threads: int,
        read_threads: int = 2,
        clock: Callable[[], datetime],
        feed: ChangeFeed,
        index_batch: Callable[[], int],
        max_open_users: int = 0,
    ) -> None:
        self.root = root
        self._clock = clock
        self._changes = feed
        self._index_batch = index_batch
        self._executor = ThreadPoolExecutor(threads, "mailkeep-store")
        # Reads (FETCH, RETR) hold the GIL for their Python part: with many threads they
        # queue behind each other and behind the event loop (measured: 10 POP3 sessions at
        # 1,250 msgs/s with 16 threads, 1,860 with 2), so they get a pool of their own.
        self._read_pool = ThreadPoolExecutor(read_threads, "mailkeep-store-read")
        self._users: OrderedDict[int, UserDb] = OrderedDict()  # least recently used first
        self._max_open_users = max_open_users
        self._opening: dict[int, asyncio.Lock] = {}
        self._closed = False

    def submit(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` in the pool without waiting for it (it reports through futures of its
        own)."""
        self._executor.submit(fn)

    async def in_pool(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _open_user(self, user_id: int) -> UserDb:
        if user_id < 0:
            raise ValueError("user ids are non-negative integers")
        path = self.root / str(user_id)
        try:
            created = not path.exists()
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            if created:
                fsync_dir(path.parent)
            writer = connect(path / "store.sqlite3")
            migrate(writer)
            writer.execute("BEGIN IMMEDIATE")
            try:
                index.ensure_user(writer, self._clock())
            except BaseException:
                writer.execute("ROLLBACK")
                raise
            writer.execute("COMMIT")
        except OSError as exc:
            raise temporary_error(exc, "opening user store") from exc
        except sqlite3.Error as exc:
            raise StoreTemporaryError(f"opening user store failed: {exc}") from exc
        return UserDb(user_id, path, MessageFiles(path), writer)

    async def get(self, user_id: int) -> UserDb:
        user = self._users.get(user_id)
        if user is not None:
            self._users.move_to_end(user_id)
            if len(self._users) > self._max_open_users > 0:
                self._evict()  # users that were busy at the last opening may be idle now
            return user
        if self._closed:
            raise StoreTemporaryError("store is closed")
        lock = self._opening.setdefault(user_id, asyncio.Lock())
        async with lock:
            user = self._users.get(user_id)
            if user is None:
                user = await self.in_pool(lambda: self._open_user(user_id))
                self._users[user_id] = user
                self._evict()
        return user

    def _evict(self) -> None:
        """Close the least recently used idle users beyond ``max_open_users`` (0: never)."""
        excess = len(self._users) - self._max_open_users
        if not self._max_open_users or excess <= 0:
            return
        for user_id, user in list(self._users.items())[:-1]:
            if excess <= 0:
                break
            with user.lock:
                idle = not (user.active or user.inflight or user.flushing or user.pending)
                if idle:
                    user.closing = True
            if idle:
                del self._users[user_id]
                self._executor.submit(self.close_connections, user)
                excess -= 1

    async def read(self, user_id: int, fn: Callable[[sqlite3.Connection, UserDb], T]) -> T:
        user = await self.get(user_id)
        user.active += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._read_pool, lambda: self._run_read(user, fn))
        finally:
            user.active -= 1

    @staticmethod
    def _run_read(user: UserDb, fn: Callable[[sqlite3.Connection, UserDb], T]) -> T:

        with user.lock:
            conn = user.readers.pop() if user.readers else None
        if conn is None:
            conn = connect(user.path / "store.sqlite3", readonly=True)
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn, user)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreTemporaryError(f"reading store failed: {exc}") from exc
        finally:
            with user.lock:
                keep = len(user.readers) < MAX_IDLE_READERS and not user.closing
                if keep:
                    user.readers.append(conn)
            if not keep:
                conn.close()

    async def write(
        self,
        user_id: int,
        run: Callable[[sqlite3.Connection], tuple[T, list[Change], list[str]]],
    ) -> T:
        user = await self.get(user_id)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self.enqueue(user, Write(run, future, loop))
        user.active += 1
        try:
            return await future
        finally:
            user.active -= 1

    def enqueue(self, user: UserDb, write: Write) -> None:
        """Queue ``write`` for the user's next batch and make sure a flush will take it.
        Thread-safe: a delivery queues its rows from the pool thread that wrote its file,
        saving a round trip through the event loop; ``write.future`` is resolved on
        ``write.loop`` after the batch's COMMIT."""
        with user.lock:
            user.pending.append(write)
            start = not user.flushing
            user.flushing = True
        if start:
            self._executor.submit(self._flush, user)

    def _flush(self, user: UserDb) -> None:
        """Apply queued writes in batches, one COMMIT per batch (runs in the pool)."""
        while True:
            with user.lock:
                batch, user.pending = user.pending, []
            if batch:
                self._commit_batch(user, batch)
                continue
            if not user.closing and not user.inflight and self._index_some(user):
                continue
            if user.commits_since_checkpoint and not user.inflight:
                self._checkpoint(user)
                continue
            with user.lock:
                if not user.pending:
                    user.flushing = False
                    return

    def _commit_batch(self, user: UserDb, batch: list[Write]) -> None:
        conn = user.writer
        outcomes: list[tuple[bool, Any, list[Change], list[str]]] = []
        try:
            # The new names of every delivery in the batch, made durable once per directory
            # (most share the hour's bucket) before the COMMIT that publishes them.
            for directory in {d for write in batch for d in write.sync_dirs}:
                fsync_dir(directory)
            conn.execute("BEGIN IMMEDIATE")
            for write in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result, events, files = write.run(conn)
                except (StoreError, ValueError) as exc:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append((False, exc, [], []))
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK TO op")
                    error = StoreTemporaryError(f"writing store failed: {exc}")
                    outcomes.append((False, error, [], []))
                else:
                    outcomes.append((True, result, events, files))
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
            user.commits_since_checkpoint += 1
        except (OSError, sqlite3.Error) as exc:
            log.warning("store commit failed user=%s error=%s", user.user_id, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreTemporaryError(f"committing store failed: {exc}")
            outcomes = [(False, error, [], []) for _ in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Write, bool, Any, list[Change]]]] = {}
        for write, (ok, value, events, files) in zip(batch, outcomes, strict=True):
            for token in files if ok else write.discard:
                user.files.remove(token)
            by_loop.setdefault(write.loop, []).append((write, ok, value, events))
        for loop, done in by_loop.items():  # one wake-up of each loop per batch
            loop.call_soon_threadsafe(self._resolve, user.user_id, done)

    def _resolve(self, user_id: int, done: list[tuple[Write, bool, Any, list[Change]]]) -> None:
        """Tell the change feed and the callers, in commit order (on the loop thread)."""
        for write, ok, value, events in done:
            for event in events:
                self._changes.publish(user_id, event)
            if write.future.cancelled():
                continue
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(value)

    def _checkpoint(self, user: UserDb) -> None:
        """Copy the WAL back into the database (automatic checkpoints are off so that they
        happen here, between bursts, rather than inside a delivery's commit)."""
        user.commits_since_checkpoint = 0
        try:
            user.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("checkpoint failed user=%s error=%s", user.user_id, exc)

    def _index_some(self, user: UserDb) -> bool:
        """Index queued texts while nothing else waits; True when some were indexed."""
        conn = user.writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            count = messages.index_pending(conn, self._index_batch())
            conn.execute("COMMIT")
            if count:
                user.commits_since_checkpoint += 1
        except sqlite3.Error as exc:
            log.warning("full-text indexing failed user=%s error=%s", user.user_id, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False
        return count > 0

    async def wait_indexed(self, user_id: int) -> None:
        """Wait until every queued text of the user is in the full-text index (tests,
        benchmarks)."""
        while True:
            left = await self.read(
                user_id, lambda c, u: c.execute("SELECT count(*) FROM index_queue").fetchone()[0]
            )
            if not left:
                return
            await self.write(user_id, lambda c: (None, [], []))
            await asyncio.sleep(0.01)

    async def quiesce(self, user: UserDb) -> None:
        """Finish the user's queued writes and stop its flusher (before closing it)."""
        user.closing = True
        await self.write(user.user_id, lambda c: (None, [], []))
        while True:
            with user.lock:
                if not user.flushing:
                    return
            await asyncio.sleep(0.001)

    @staticmethod
    def close_connections(user: UserDb) -> None:
        with user.lock:
            for conn in [user.writer, *user.readers]:
                conn.close()
            user.readers.clear()

    async def forget(self, user_id: int) -> UserDb:
        """Quiesce a user and drop it from the open set (before deleting its directory)."""
        user = await self.get(user_id)
        await self.quiesce(user)
        del self._users[user_id]
        return user

    async def close(self) -> None:
        """Finish every user's writes, close the databases and stop the threads."""
        if self._closed:
            return
        for user in list(self._users.values()):
            await self.quiesce(user)
        self._closed = True

        def shut() -> None:
            for user in self._users.values():
                self.close_connections(user)
            self._users.clear()

        self._read_pool.shutdown(wait=True)
        await self.in_pool(shut)
        self._executor.shutdown(wait=True)
