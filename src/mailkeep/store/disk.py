"""The embedded default store: message files plus one SQLite database per user.

Implementation notes:
- Layout: ``<root>/<user_id>/store.sqlite3`` (WAL, synchronous=FULL) and
  ``<root>/<user_id>/msg/<xx>/<token>`` (files.py). One database per user: users never
  contend for a lock, a broken database harms one user, and exporting or deleting a user is
  one directory. ``root`` is ``<data_dir>/mail``.
- Threads: the event loop never touches SQLite or fsync. Reads run in a shared thread pool,
  each on a pooled read-only connection of the user (WAL readers see the last commit and
  never wait for the writer). Writes are queued per user and applied by one flush at a time
  per user in the pool, on the user's single write connection.
- Group commit: a flush takes every write queued for the user, runs each in its own
  SAVEPOINT (one failing write, e.g. over quota, is rolled back alone) and COMMITs once (the
  WAL is fsynced). Only then are the callers' futures resolved and the change feed told, in
  commit order, on the loop thread. No write is acknowledged before its data is durable.
- Message files (and their directory entries) are written and fsynced by the caller's own
  pool task before its write is queued, so concurrent deliveries fsync in parallel and
  share the commit; a row never refers to a file that is not durable.
- Full-text indexing is deferred: delivery queues the decoded text; when a user's write
  queue is empty the flush moves up to ``index_batch`` texts into FTS5. Search reads both.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mailkeep.store import index, messages, searchsql, verification
from mailkeep.store.changes import Change, ChangeFeed
from mailkeep.store.errors import StoreError, StoreTemporaryError
from mailkeep.store.extract import Extracted, extract
from mailkeep.store.files import MessageFiles, fsync_dir, temporary_error
from mailkeep.store.migrations import migrate
from mailkeep.store.models import (
    AppendResult,
    CopyResult,
    Flag,
    FlagOp,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageMeta,
    NewMessage,
    Quota,
    QuotaUsage,
    Recipient,
    SpecialUse,
    StoreFlagsResult,
    StoreLimits,
    UidSet,
    VerifyReport,
    utc_now,
)
from mailkeep.store.names import normalize_mailbox_name
from mailkeep.store.query import Criterion

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]


@dataclass
class _Write:
    """A queued write: ``run(conn)`` returns (result, events, files to delete after commit)."""

    run: Callable[[sqlite3.Connection], tuple[Any, list[Change], list[str]]]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass
class _User:
    user_id: int
    path: Path
    files: MessageFiles
    writer: sqlite3.Connection
    readers: list[sqlite3.Connection] = field(default_factory=list)
    pending: list[_Write] = field(default_factory=list)
    flushing: bool = False
    closing: bool = False
    inflight: int = 0  # deliveries parsing/writing files: their writes will come soon
    lock: threading.Lock = field(default_factory=threading.Lock)


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # WAL fsynced at every commit: durable
    return conn


class DiskStore:
    """The default MailStore (see interface.MailStore for what each method is for)."""

    def __init__(
        self,
        root: Path,
        *,
        limits: StoreLimits | None = None,
        clock: Clock = utc_now,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.root = root
        self.limits = limits or StoreLimits()
        self._clock = clock
        self._changes = feed or ChangeFeed()
        self._executor = ThreadPoolExecutor(self.limits.io_threads, "mailkeep-store")
        self._users: dict[int, _User] = {}
        self._opening: dict[int, asyncio.Lock] = {}
        self._closed = False

    @property
    def changes(self) -> ChangeFeed:
        return self._changes

    # --- plumbing -------------------------------------------------------------------------

    def _name(self, name: str) -> str:
        return normalize_mailbox_name(
            name,
            max_bytes=self.limits.max_mailbox_name_bytes,
            max_depth=self.limits.max_mailbox_depth,
        )

    async def _in_pool(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _open_user(self, user_id: int) -> _User:
        if user_id < 0:
            raise ValueError("user ids are non-negative integers")
        path = self.root / str(user_id)
        try:
            created = not path.exists()
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            if created:
                fsync_dir(path.parent)
            writer = _connect(path / "store.sqlite3")
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
        return _User(user_id, path, MessageFiles(path), writer)

    async def _user(self, user_id: int) -> _User:
        user = self._users.get(user_id)
        if user is not None:
            return user
        if self._closed:
            raise StoreTemporaryError("store is closed")
        lock = self._opening.setdefault(user_id, asyncio.Lock())
        async with lock:
            user = self._users.get(user_id)
            if user is None:
                user = await self._in_pool(lambda: self._open_user(user_id))
                self._users[user_id] = user
        return user

    async def _read(self, user_id: int, fn: Callable[[sqlite3.Connection, _User], T]) -> T:
        user = await self._user(user_id)

        def run() -> T:
            with user.lock:
                conn = user.readers.pop() if user.readers else None
            if conn is None:
                conn = _connect(user.path / "store.sqlite3", readonly=True)
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
                    user.readers.append(conn)

        return await self._in_pool(run)

    async def _write(
        self,
        user_id: int,
        run: Callable[[sqlite3.Connection], tuple[T, list[Change], list[str]]],
    ) -> T:
        user = await self._user(user_id)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with user.lock:
            user.pending.append(_Write(run, future, loop))
            start = not user.flushing
            user.flushing = True
        if start:
            self._executor.submit(self._flush, user)
        return await future

    def _flush(self, user: _User) -> None:
        """Apply queued writes in batches, one COMMIT per batch (runs in the pool)."""
        while True:
            with user.lock:
                batch, user.pending = user.pending, []
            if batch:
                self._commit_batch(user, batch)
                continue
            if not user.closing and not user.inflight and self._index_some(user):
                continue
            with user.lock:
                if not user.pending:
                    user.flushing = False
                    return

    def _commit_batch(self, user: _User, batch: list[_Write]) -> None:
        conn = user.writer
        outcomes: list[tuple[bool, Any, list[Change], list[str]]] = []
        try:
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
        except (OSError, sqlite3.Error) as exc:
            log.warning("store commit failed user=%s error=%s", user.user_id, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreTemporaryError(f"committing store failed: {exc}")
            outcomes = [(False, error, [], []) for _ in batch]
        for ok, _, _, files in outcomes:
            if ok:
                for token in files:
                    user.files.remove(token)
        for write, (ok, value, events, _) in zip(batch, outcomes, strict=True):
            write.loop.call_soon_threadsafe(
                self._resolve, user.user_id, write.future, ok, value, events
            )

    def _resolve(
        self, user_id: int, future: asyncio.Future[Any], ok: bool, value: Any, events: list[Change]
    ) -> None:
        for event in events:
            self._changes.publish(user_id, event)
        if future.cancelled():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _index_some(self, user: _User) -> bool:
        """Index queued texts while nothing else waits; True when some were indexed."""
        conn = user.writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            count = messages.index_pending(conn, self.limits.index_batch)
            conn.execute("COMMIT")
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
            left = await self._read(
                user_id, lambda c, u: c.execute("SELECT count(*) FROM index_queue").fetchone()[0]
            )
            if not left:
                return
            await self._write(user_id, lambda c: (None, [], []))
            await asyncio.sleep(0.01)

    # --- delivery -------------------------------------------------------------------------

    async def deliver(
        self, recipients: Sequence[Recipient], raw: bytes
    ) -> list[AppendResult | StoreError]:
        if not recipients:
            return []
        users = [await self._user(r.user_id) for r in recipients]

        def place() -> tuple[Extracted, list[str | StoreError]]:
            """Parse once; write the file once and link it for the other users."""
            extracted = extract(raw)
            placed: list[str | StoreError] = []
            first: Path | None = None
            name = ""
            for user in users:
                try:
                    if first is None:
                        name = user.files.write(raw)
                        first = user.files.path(name)
                    else:
                        user.files.adopt(first, name)
                    placed.append(name)
                except StoreError as exc:
                    placed.append(exc)
            return extracted, placed

        for user in users:
            user.inflight += 1
        try:
            extracted, placed = await self._in_pool(place)
        finally:
            for user in users:
                user.inflight -= 1

        async def one(rcpt: Recipient, name: str | StoreError) -> AppendResult | StoreError:
            if isinstance(name, StoreError):
                return name
            prepared = messages.PreparedMessage(
                name, len(raw), extracted, rcpt.flags, rcpt.keywords, None
            )
            try:
                mailbox = self._name(rcpt.mailbox)
                return await self._record(rcpt.user_id, mailbox, [prepared], rcpt.quota)
            except StoreError as exc:
                self._users[rcpt.user_id].files.remove(name)
                return exc

        results = await asyncio.gather(
            *(one(r, s) for r, s in zip(recipients, placed, strict=True)), return_exceptions=True
        )
        out: list[AppendResult | StoreError] = []
        for result in results:
            if isinstance(result, StoreError | AppendResult):
                out.append(result)
            else:
                raise result
        return out

    async def _record(
        self,
        user_id: int,
        mailbox: str,
        prepared: list[messages.PreparedMessage],
        quota: Quota,
        uids: Sequence[int] | None = None,
        uidvalidity: int | None = None,
    ) -> AppendResult:
        user = self._users[user_id]
        now = self._clock()

        def run(conn: sqlite3.Connection) -> tuple[AppendResult, list[Change], list[str]]:
            result, events = messages.append(conn, mailbox, prepared, quota, now, uids, uidvalidity)
            return result, events, []

        try:
            return await self._write(user_id, run)
        except BaseException:
            for p in prepared:  # never referenced: remove the files again
                user.files.remove(p.token)
            raise

    async def append(
        self, user_id: int, mailbox: str, messages_: Sequence[NewMessage], quota: Quota
    ) -> AppendResult:
        return await self.import_messages(user_id, mailbox, messages_, quota)

    async def import_messages(
        self,
        user_id: int,
        mailbox: str,
        messages_: Sequence[NewMessage],
        quota: Quota,
        *,
        uids: Sequence[int] | None = None,
        uidvalidity: int | None = None,
    ) -> AppendResult:
        name = self._name(mailbox)
        user = await self._user(user_id)

        def prepare() -> list[messages.PreparedMessage]:
            prepared: list[messages.PreparedMessage] = []
            try:
                for m in messages_:
                    token = user.files.write(m.raw)
                    ex = extract(m.raw)
                    prepared.append(
                        messages.PreparedMessage(
                            token, len(m.raw), ex, m.flags, m.keywords, m.internal_date
                        )
                    )
            except BaseException:
                for p in prepared:
                    user.files.remove(p.token)
                raise
            return prepared

        user.inflight += 1
        try:
            prepared = await self._in_pool(prepare)
        finally:
            user.inflight -= 1
        return await self._record(user_id, name, prepared, quota, uids, uidvalidity)

    # --- mailboxes ------------------------------------------------------------------------

    async def list_mailboxes(self, user_id: int) -> list[MailboxInfo]:
        return await self._read(user_id, lambda c, u: index.list_mailboxes(c))

    async def subscriptions(self, user_id: int) -> list[str]:
        return await self._read(user_id, lambda c, u: index.subscriptions(c))

    async def create_mailbox(
        self, user_id: int, name: str, special_use: SpecialUse | None = None
    ) -> MailboxInfo:
        name = self._name(name)
        now = self._clock()

        def run(conn: sqlite3.Connection) -> tuple[MailboxInfo, list[Change], list[str]]:
            info, events = index.create_mailbox(
                conn, name, special_use, now, self.limits.max_mailboxes
            )
            return info, events, []

        return await self._write(user_id, run)

    async def delete_mailbox(self, user_id: int, name: str) -> None:
        name = self._name(name)

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            mailbox_id, events = index.delete_mailbox_row(conn, name)
            uids = list(messages.all_uids(conn, mailbox_id))
            files = messages.remove_messages(conn, mailbox_id, uids, None)
            return None, events, files

        await self._write(user_id, run)

    async def rename_mailbox(self, user_id: int, old: str, new: str) -> None:
        old, new = self._name(old), self._name(new)
        now = self._clock()

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            target, events = index.rename_mailbox(conn, old, new, now, self.limits.max_mailboxes)
            if target is not None:
                inbox = int(index.mailbox_row(conn, old)["id"])
                events += messages.move_all(conn, inbox, target)
            return None, events, []

        await self._write(user_id, run)

    async def set_subscribed(self, user_id: int, name: str, subscribed: bool) -> None:
        name = self._name(name)

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            index.set_subscribed(conn, name, subscribed)
            return None, [], []

        await self._write(user_id, run)

    async def status(self, user_id: int, mailbox: str) -> MailboxStatus:
        name = self._name(mailbox)
        return await self._read(
            user_id, lambda c, u: index.status_of(c, index.mailbox_row(c, name))
        )

    async def select(self, user_id: int, mailbox: str) -> MailboxSnapshot:
        name = self._name(mailbox)

        def run(conn: sqlite3.Connection, user: _User) -> MailboxSnapshot:
            status = index.status_of(conn, index.mailbox_row(conn, name))
            return MailboxSnapshot(status, messages.all_uids(conn, status.id))

        return await self._read(user_id, run)

    async def claim_recent(self, user_id: int, mailbox_id: int) -> UidSet:
        return await self._write(user_id, lambda c: (messages.claim_recent(c, mailbox_id), [], []))

    # --- messages -------------------------------------------------------------------------

    async def fetch(
        self,
        user_id: int,
        mailbox_id: int,
        uids: UidSet,
        *,
        changed_since: int | None = None,
        with_info: bool = False,
        with_fields: bool = False,
        with_envelope: bool = False,
    ) -> list[MessageMeta]:
        return await self._read(
            user_id,
            lambda c, u: messages.fetch(
                c, mailbox_id, uids, changed_since, with_info, with_fields, with_envelope
            ),
        )

    async def read_message(
        self, user_id: int, mailbox_id: int, uid: int, start: int = 0, length: int | None = None
    ) -> bytes:
        from mailkeep.store.errors import MessageNotFound

        def run(conn: sqlite3.Connection, user: _User) -> bytes:
            index.mailbox_row_by_id(conn, mailbox_id)
            token = messages.message_file(conn, mailbox_id, uid)
            if token is None:
                raise MessageNotFound(f"no message with UID {uid}")
            return user.files.read(token, start, length)

        return await self._read(user_id, run)

    async def store_flags(
        self,
        user_id: int,
        mailbox_id: int,
        uids: UidSet,
        op: FlagOp,
        flags: Flag,
        keywords: frozenset[str] = frozenset(),
        *,
        unchanged_since: int | None = None,
    ) -> StoreFlagsResult:
        def run(conn: sqlite3.Connection) -> tuple[StoreFlagsResult, list[Change], list[str]]:
            result, events = messages.store_flags(
                conn, mailbox_id, uids, op, flags, keywords, unchanged_since
            )
            return result, events, []

        return await self._write(user_id, run)

    async def copy(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota
    ) -> CopyResult:
        return await self._copy(user_id, source_id, uids, dest, quota, move=False)

    async def move(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota
    ) -> CopyResult:
        return await self._copy(user_id, source_id, uids, dest, quota, move=True)

    async def _copy(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota, move: bool
    ) -> CopyResult:
        name = self._name(dest)
        now = self._clock()

        def run(conn: sqlite3.Connection) -> tuple[CopyResult, list[Change], list[str]]:
            result, files, events = messages.copy(conn, source_id, uids, name, quota, now, move)
            return result, events, files

        return await self._write(user_id, run)

    async def expunge(self, user_id: int, mailbox_id: int, uids: UidSet | None = None) -> UidSet:
        def run(conn: sqlite3.Connection) -> tuple[UidSet, list[Change], list[str]]:
            gone, files, events = messages.expunge(conn, mailbox_id, uids)
            return gone, events, files

        return await self._write(user_id, run)

    async def vanished(self, user_id: int, mailbox_id: int, since_modseq: int) -> UidSet:
        return await self._read(
            user_id, lambda c, u: messages.vanished(c, mailbox_id, since_modseq)
        )

    async def search(self, user_id: int, mailbox_id: int, criterion: Criterion) -> list[int]:
        now = self._clock()
        return await self._read(
            user_id, lambda c, u: searchsql.search(c, mailbox_id, criterion, now)
        )

    async def quota_usage(self, user_id: int) -> QuotaUsage:
        used_bytes, used_messages = await self._read(user_id, lambda c, u: index.totals(c))
        return QuotaUsage(used_bytes, used_messages)

    # --- administration -------------------------------------------------------------------

    async def verify(self, user_id: int, repair: bool = False) -> VerifyReport:
        user = await self._user(user_id)
        now = self._clock()
        if not repair:
            return await self._read(
                user_id, lambda c, u: verification.verify(c, u.files, user_id, False, now)
            )
        return await self._write(
            user_id,
            lambda c: (verification.verify(c, user.files, user_id, True, now), [], []),
        )

    async def _quiesce(self, user: _User) -> None:
        """Finish the user's queued writes and stop its flusher (before closing it)."""
        user.closing = True
        await self._write(user.user_id, lambda c: (None, [], []))
        while True:
            with user.lock:
                if not user.flushing:
                    return
            await asyncio.sleep(0.001)

    @staticmethod
    def _close_connections(user: _User) -> None:
        with user.lock:
            for conn in [user.writer, *user.readers]:
                conn.close()
            user.readers.clear()

    async def delete_user(self, user_id: int) -> None:
        user = await self._user(user_id)
        await self._quiesce(user)
        del self._users[user_id]

        def remove() -> None:
            self._close_connections(user)
            shutil.rmtree(user.path, ignore_errors=True)
            fsync_dir(self.root)

        await self._in_pool(remove)

    async def close(self) -> None:
        if self._closed:
            return
        for user in list(self._users.values()):
            await self._quiesce(user)
        self._closed = True

        def shut() -> None:
            for user in self._users.values():
                self._close_connections(user)
            self._users.clear()

        await self._in_pool(shut)
        self._executor.shutdown(wait=True)
