"""The embedded default store: message files plus one SQLite database per user.

Implementation notes:
- Layout: ``<root>/<user_id>/store.sqlite3`` (WAL, synchronous=FULL) and
  ``<root>/<user_id>/msg/<YYYYMMDDHH>/<token>`` (files.py). One database per user: users
  never contend for a lock, a broken database harms one user, and exporting or deleting a
  user is one directory. ``root`` is ``<data_dir>/mail``.
- Threads, group commit and deferred indexing: userdb.py. This module turns each interface
  method into a read or a write function over index.py / messages.py / searchsql.py.
- A delivery parses once and writes (and fsyncs) the file once, in a pool thread, before
  its rows are queued; other recipients get a hard link. A failed write removes its files.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from mailkeep.durable import fsync_dir
from mailkeep.store import index, messages, metadata, searchsql, verification
from mailkeep.store.changes import Change, ChangeFeed
from mailkeep.store.errors import StoreError
from mailkeep.store.extract import extract
from mailkeep.store.models import (
    SERVER_METADATA,
    AppendResult,
    CopyResult,
    Flag,
    FlagOp,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageMeta,
    MetadataLimits,
    NewMessage,
    Quota,
    QuotaUsage,
    Recipient,
    SortRow,
    SpecialUse,
    StoreFlagsResult,
    StoreLimits,
    UidSet,
    VerifyReport,
    utc_now,
)
from mailkeep.store.names import normalize_mailbox_name
from mailkeep.store.query import Criterion
from mailkeep.store.userdb import UserDatabases, UserDb, Write

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]


def _fail(future: asyncio.Future[AppendResult], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _append_run(
    mailbox: str, prepared: messages.PreparedMessage, quota: Quota, now: datetime
) -> Callable[[sqlite3.Connection], tuple[AppendResult, list[Change], list[str]]]:
    """A delivery's write: record its durable file as a new message of ``mailbox``."""

    def run(conn: sqlite3.Connection) -> tuple[AppendResult, list[Change], list[str]]:
        result, events = messages.append(conn, mailbox, [prepared], quota, now)
        return result, events, []

    return run


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
        self._changes = feed or ChangeFeed(self.limits.change_feed_max_pending)
        self._db = UserDatabases(
            root,
            threads=self.limits.io_threads,
            read_threads=self.limits.read_threads,
            clock=clock,
            feed=self._changes,
            index_batch=lambda: self.limits.index_batch,
            max_open_users=self.limits.max_open_users,
        )

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
        return await self._db.in_pool(fn)

    async def wait_indexed(self, user_id: int) -> None:
        """Wait until every queued text of the user is in the full-text index (tests,
        benchmarks)."""
        await self._db.wait_indexed(user_id)

    # --- delivery -------------------------------------------------------------------------

    async def deliver(
        self, recipients: Sequence[Recipient], raw: bytes
    ) -> list[AppendResult | StoreError]:
        if not recipients:
            return []
        loop = asyncio.get_running_loop()
        users = [await self._db.get(r.user_id) for r in recipients]
        mailboxes: list[str | StoreError] = []
        for rcpt in recipients:
            try:
                mailboxes.append(self._name(rcpt.mailbox))
            except StoreError as exc:
                mailboxes.append(exc)
        futures: list[asyncio.Future[AppendResult]] = [loop.create_future() for _ in recipients]
        now = self._clock()
        for user in users:
            user.begin_delivery()
        # One pool job parses, writes the file and queues the rows straight to the users'
        # writers (no round trip through the loop); each future resolves after its COMMIT.
        self._db.submit(lambda: self._place(loop, users, recipients, mailboxes, futures, raw, now))
        results = await asyncio.gather(*futures, return_exceptions=True)
        out: list[AppendResult | StoreError] = []
        for result in results:
            if isinstance(result, StoreError | AppendResult):
                out.append(result)
            else:
                raise result
        return out

    def _place(
        self,
        loop: asyncio.AbstractEventLoop,
        users: list[UserDb],
        recipients: Sequence[Recipient],
        mailboxes: list[str | StoreError],
        futures: list[asyncio.Future[AppendResult]],
        raw: bytes,
        now: datetime,
    ) -> None:
        """In a pool thread: parse once, write the file once (hard links for the other
        users), queue one append per recipient. Anything unexpected fails every recipient
        not yet queued, so no caller waits forever."""
        writes: list[tuple[UserDb, Write]] = []
        try:
            extracted = extract(raw)
            first: Path | None = None
            shared = ""
            linked: set[int] = set()
            for user, rcpt, mailbox, future in zip(
                users, recipients, mailboxes, futures, strict=True
            ):
                if isinstance(mailbox, StoreError):
                    loop.call_soon_threadsafe(_fail, future, mailbox)
                    continue
                try:
                    if first is None or user.user_id in linked:
                        # The first file, or the same user twice (a file of its own). Its
                        # directory is fsynced by the batch that commits its row.
                        token = user.files.write(raw, sync_dir=False)
                        sync_dirs: tuple[Path, ...] = (user.files.path(token).parent,)
                        if first is None:
                            shared, first = token, user.files.path(token)
                    else:
                        user.files.adopt(first, shared)  # a durable link (own dir fsync)
                        token, sync_dirs = shared, ()
                except StoreError as exc:
                    loop.call_soon_threadsafe(_fail, future, exc)
                    continue
                linked.add(user.user_id)
                prepared = messages.PreparedMessage(
                    token, len(raw), extracted, rcpt.flags, rcpt.keywords, None
                )
                run = _append_run(mailbox, prepared, rcpt.quota, now)
                writes.append((user, Write(run, future, loop, (token,), sync_dirs)))
        except BaseException as exc:
            log.exception("delivery failed before it was queued")
            for user, write in writes:
                user.files.remove(write.discard[0])
            for future in futures:
                loop.call_soon_threadsafe(_fail, future, exc)
            for user in users:
                user.end_delivery()
            raise
        try:
            # Queued only once every file is placed: a refused first recipient removes its
            # file, which must not happen before the others have linked it.
            for user, write in writes:
                self._db.enqueue(user, write)
        finally:
            for user in users:
                user.end_delivery()

    async def _record(
        self,
        user_id: int,
        mailbox: str,
        prepared: list[messages.PreparedMessage],
        quota: Quota,
        uids: Sequence[int] | None = None,
        uidvalidity: int | None = None,
    ) -> AppendResult:
        user = await self._db.get(user_id)
        now = self._clock()

        def run(conn: sqlite3.Connection) -> tuple[AppendResult, list[Change], list[str]]:
            result, events = messages.append(conn, mailbox, prepared, quota, now, uids, uidvalidity)
            return result, events, []

        try:
            return await self._db.write(user_id, run)
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
        user = await self._db.get(user_id)

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

        user.begin_delivery()
        try:
            prepared = await self._in_pool(prepare)
        finally:
            user.end_delivery()
        return await self._record(user_id, name, prepared, quota, uids, uidvalidity)

    # --- mailboxes ------------------------------------------------------------------------

    async def list_mailboxes(self, user_id: int) -> list[MailboxInfo]:
        return await self._db.read(user_id, lambda c, u: index.list_mailboxes(c))

    async def subscriptions(self, user_id: int) -> list[str]:
        return await self._db.read(user_id, lambda c, u: index.subscriptions(c))

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

        return await self._db.write(user_id, run)

    async def delete_mailbox(self, user_id: int, name: str) -> None:
        name = self._name(name)

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            mailbox_id, events = index.delete_mailbox_row(conn, name)
            uids = list(messages.all_uids(conn, mailbox_id))
            files = messages.remove_messages(conn, mailbox_id, uids, None)
            return None, events, files

        await self._db.write(user_id, run)

    async def rename_mailbox(self, user_id: int, old: str, new: str) -> None:
        old, new = self._name(old), self._name(new)
        now = self._clock()

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            target, events = index.rename_mailbox(conn, old, new, now, self.limits.max_mailboxes)
            if target is not None:
                inbox = int(index.mailbox_row(conn, old)["id"])
                events += messages.move_all(conn, inbox, target)
            return None, events, []

        await self._db.write(user_id, run)

    async def set_subscribed(self, user_id: int, name: str, subscribed: bool) -> None:
        name = self._name(name)

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            index.set_subscribed(conn, name, subscribed)
            return None, [], []

        await self._db.write(user_id, run)

    async def status(self, user_id: int, mailbox: str) -> MailboxStatus:
        name = self._name(mailbox)
        return await self._db.read(
            user_id, lambda c, u: index.status_of(c, index.mailbox_row(c, name))
        )

    async def select(self, user_id: int, mailbox: str) -> MailboxSnapshot:
        name = self._name(mailbox)

        def run(conn: sqlite3.Connection, user: UserDb) -> MailboxSnapshot:
            row = index.mailbox_row(conn, name)
            uids = user.uids_of(conn, row)
            return MailboxSnapshot(index.status_of(conn, row, uids), uids)

        return await self._db.read(user_id, run)

    async def claim_recent(self, user_id: int, mailbox_id: int) -> UidSet:
        def unclaimed(conn: sqlite3.Connection, user: UserDb) -> bool:
            row = index.mailbox_row_by_id(conn, mailbox_id)
            return int(row["recent_from"]) < int(row["uidnext"])

        if not await self._db.read(user_id, unclaimed):
            return UidSet()  # the usual case: no commit (and no fsync) for a SELECT

        def run(conn: sqlite3.Connection) -> tuple[UidSet, list[Change], list[str]]:
            return messages.claim_recent(conn, mailbox_id), [], []

        return await self._db.write(user_id, run)

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
        return await self._db.read(
            user_id,
            lambda c, u: messages.fetch(
                c, mailbox_id, uids, changed_since, with_info, with_fields, with_envelope
            ),
        )

    async def sort_fields(self, user_id: int, mailbox_id: int, uids: UidSet) -> list[SortRow]:
        return await self._db.read(user_id, lambda c, u: messages.sort_fields(c, mailbox_id, uids))

    async def read_message(
        self, user_id: int, mailbox_id: int, uid: int, start: int = 0, length: int | None = None
    ) -> bytes:
        from mailkeep.store.errors import MessageNotFound

        def run(conn: sqlite3.Connection, user: UserDb) -> bytes:
            index.mailbox_row_by_id(conn, mailbox_id)
            token = messages.message_file(conn, mailbox_id, uid)
            if token is None:
                raise MessageNotFound(f"no message with UID {uid}")
            return user.files.read(token, start, length)

        return await self._db.read(user_id, run)

    async def read_messages(
        self, user_id: int, mailbox_id: int, uids: Sequence[int]
    ) -> dict[int, bytes]:
        """One pool hop and one transaction for the lot: a FETCH of 500 small bodies paid a
        thread round trip per message, which a busy machine makes costly."""
        from mailkeep.store.errors import MessageNotFound

        def run(conn: sqlite3.Connection, user: UserDb) -> dict[int, bytes]:
            index.mailbox_row_by_id(conn, mailbox_id)
            out = {}
            for uid in uids:
                token = messages.message_file(conn, mailbox_id, uid)
                if token is None:
                    continue
                try:
                    out[uid] = user.files.read(token)
                except MessageNotFound:
                    continue
            return out

        return await self._db.read(user_id, run)

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

        return await self._db.write(user_id, run)

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

        return await self._db.write(user_id, run)

    async def expunge(self, user_id: int, mailbox_id: int, uids: UidSet | None = None) -> UidSet:
        def run(conn: sqlite3.Connection) -> tuple[UidSet, list[Change], list[str]]:
            gone, files, events = messages.expunge(conn, mailbox_id, uids)
            return gone, events, files

        return await self._db.write(user_id, run)

    async def vanished(self, user_id: int, mailbox_id: int, since_modseq: int) -> UidSet:
        return await self._db.read(
            user_id, lambda c, u: messages.vanished(c, mailbox_id, since_modseq)
        )

    async def search(self, user_id: int, mailbox_id: int, criterion: Criterion) -> list[int]:
        now = self._clock()
        return await self._db.read(
            user_id, lambda c, u: searchsql.search(c, mailbox_id, criterion, now)
        )

    async def get_metadata(self, user_id: int, mailbox: str | None) -> dict[str, bytes]:
        name = None if mailbox is None else self._name(mailbox)

        def run(conn: sqlite3.Connection, user: UserDb) -> dict[str, bytes]:
            box = SERVER_METADATA if name is None else int(index.mailbox_row(conn, name)["id"])
            return metadata.read(conn, box)

        return await self._db.read(user_id, run)

    async def set_metadata(
        self,
        user_id: int,
        mailbox: str | None,
        changes: Sequence[tuple[str, bytes | None]],
        limits: MetadataLimits,
    ) -> None:
        name = None if mailbox is None else self._name(mailbox)

        def run(conn: sqlite3.Connection) -> tuple[None, list[Change], list[str]]:
            box = SERVER_METADATA if name is None else int(index.mailbox_row(conn, name)["id"])
            metadata.write(conn, box, changes, limits)
            return None, [], []

        await self._db.write(user_id, run)

    async def quota_usage(self, user_id: int) -> QuotaUsage:
        used_bytes, used_messages = await self._db.read(user_id, lambda c, u: index.totals(c))
        return QuotaUsage(used_bytes, used_messages)

    # --- administration -------------------------------------------------------------------

    async def verify(self, user_id: int, repair: bool = False) -> VerifyReport:
        user = await self._db.get(user_id)
        now = self._clock()
        if not repair:
            return await self._db.read(
                user_id, lambda c, u: verification.verify(c, u.files, user_id, False, now)
            )
        return await self._db.write(
            user_id,
            lambda c: (verification.verify(c, user.files, user_id, True, now), [], []),
        )

    async def delete_user(self, user_id: int) -> None:
        user = await self._db.forget(user_id)

        def remove() -> None:
            self._db.close_connections(user)
            shutil.rmtree(user.path, ignore_errors=True)
            fsync_dir(self.root)

        await self._in_pool(remove)

    async def close(self) -> None:
        await self._db.close()
