"""What only the disk store has: persistence, shared files, temporary errors, verify."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from mailkeep.store import files as files_module
from mailkeep.store.disk import DiskStore
from mailkeep.store.errors import StoreTemporaryError
from mailkeep.store.models import (
    INBOX,
    Flag,
    FlagOp,
    NewMessage,
    Quota,
    Recipient,
    StoreLimits,
    UidSet,
)
from tests.store.conftest import Clock, message


def run(coro_fn, root: Path, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = DiskStore(root, clock=clock)
        try:
            await coro_fn(store)
        finally:
            await store.close()

    asyncio.run(main())


def user_files(root: Path, user: int) -> list[Path]:
    return sorted(p for p in (root / str(user) / "msg").rglob("*") if p.is_file())


def test_state_survives_reopen(tmp_path: Path, clock: Clock) -> None:
    state: dict[str, int] = {}

    async def first(store: DiskStore) -> None:
        for i in range(3):
            await store.append(1, INBOX, [NewMessage(message(f"m{i}"))], Quota())
        inbox = await store.status(1, INBOX)
        await store.store_flags(1, inbox.id, UidSet.of([3]), FlagOp.ADD, Flag.DELETED)
        await store.expunge(1, inbox.id)
        await store.create_mailbox(1, "Kept/Deep")
        state["uidvalidity"] = inbox.uidvalidity
        state["modseq"] = (await store.status(1, INBOX)).highestmodseq

    async def second(store: DiskStore) -> None:
        inbox = await store.status(1, INBOX)
        assert inbox.uidvalidity == state["uidvalidity"]
        assert inbox.highestmodseq == state["modseq"] and inbox.uidnext == 4
        result = await store.append(1, INBOX, [NewMessage(message("m4"))], Quota())
        assert result.uids == UidSet.of([4])  # UID 3 is never reused
        assert await store.read_message(1, inbox.id, 1) == message("m0")
        assert "Kept/Deep" in [b.name for b in await store.list_mailboxes(1)]
        assert (await store.verify(1)).problems == ()

    run(first, tmp_path, clock)
    run(second, tmp_path, clock)


def test_one_file_hard_linked_for_several_users(tmp_path: Path, clock: Clock) -> None:
    async def body(store: DiskStore) -> None:
        await store.deliver([Recipient(1), Recipient(2)], message("to both"))

    run(body, tmp_path, clock)
    [one], [two] = user_files(tmp_path, 1), user_files(tmp_path, 2)
    assert os.path.samefile(one, two) and one.stat().st_nlink == 2


def test_expunging_the_last_copy_removes_the_file(tmp_path: Path, clock: Clock) -> None:
    async def body(store: DiskStore) -> None:
        await store.append(1, INBOX, [NewMessage(message(), flags=Flag.DELETED)], Quota())
        inbox = (await store.status(1, INBOX)).id
        await store.copy(1, inbox, UidSet.of([1]), "Archive", Quota())
        await store.expunge(1, inbox)
        assert len(user_files(tmp_path, 1)) == 1  # still used by the copy
        archive = (await store.status(1, "Archive")).id
        await store.expunge(1, archive)
        assert user_files(tmp_path, 1) == []

    run(body, tmp_path, clock)


def test_disk_full_is_temporary_and_leaves_nothing(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def body(store: DiskStore) -> None:
        await store.list_mailboxes(1)
        monkeypatch.setattr(files_module.os, "write", full)
        with pytest.raises(StoreTemporaryError, match="ENOSPC"):
            await store.append(1, INBOX, [NewMessage(message())], Quota())
        [result] = await store.deliver([Recipient(1)], message())
        assert isinstance(result, StoreTemporaryError)
        monkeypatch.setattr(files_module.os, "write", real_write)
        status = await store.status(1, INBOX)
        assert status.messages == 0 and status.uidnext == 1
        assert user_files(tmp_path, 1) == []
        assert (await store.verify(1)).problems == ()
        ok = await store.append(1, INBOX, [NewMessage(message())], Quota())
        assert ok.uids == UidSet.of([1])

    run(body, tmp_path, clock)


def test_unwritable_directory_is_a_temporary_error(tmp_path: Path, clock: Clock) -> None:
    async def body(store: DiskStore) -> None:
        await store.list_mailboxes(1)
        msg_dir = tmp_path / "1" / "msg"
        msg_dir.parent.mkdir(parents=True, exist_ok=True)
        msg_dir.write_bytes(b"")  # a file where the message directory should be
        with pytest.raises(StoreTemporaryError):
            await store.append(1, INBOX, [NewMessage(message())], Quota())
        msg_dir.unlink()
        assert (await store.status(1, INBOX)).messages == 0

    run(body, tmp_path, clock)


def test_verify_finds_and_repairs_damage(tmp_path: Path, clock: Clock) -> None:
    async def body(store: DiskStore) -> None:
        for i in range(3):
            await store.append(1, INBOX, [NewMessage(message(f"m{i}"))], Quota())
        inbox = await store.status(1, INBOX)
        assert (await store.verify(1)).problems == ()
        victim, *_ = user_files(tmp_path, 1)
        victim.unlink()
        stray = victim.parent / ".tmp-leftover"
        stray.write_bytes(b"partial")
        young = victim.parent / "in-flight"
        young.write_bytes(b"a delivery not yet committed")
        old = clock.now.timestamp() - 2 * 3600
        os.utime(stray, (old, old))
        report = await store.verify(1)
        assert any("missing" in p for p in report.problems)
        assert any("stray" in p for p in report.problems)
        assert not report.repaired
        repaired = await store.verify(1, repair=True)
        assert repaired.repaired and repaired.messages == 2
        assert (await store.verify(1)).problems == ()
        assert not stray.exists() and young.exists()
        after = await store.status(1, INBOX)
        assert after.messages == 2 and after.highestmodseq > inbox.highestmodseq
        gone = await store.vanished(1, inbox.id, inbox.highestmodseq)
        assert len(gone) == 1
        assert (await store.quota_usage(1)).messages == 2

    run(body, tmp_path, clock)


def test_concurrent_deliveries_share_commits(tmp_path: Path, clock: Clock) -> None:
    commits: list[int] = []

    async def body(store: DiskStore) -> None:
        await store.list_mailboxes(1)
        original = store._db._commit_batch

        def counting(user, batch):  # type: ignore[no-untyped-def]
            commits.append(len(batch))
            original(user, batch)

        store._db._commit_batch = counting  # type: ignore[method-assign]
        results = await asyncio.gather(
            *(store.deliver([Recipient(1)], message(f"m{i}")) for i in range(40))
        )
        assert all(not isinstance(r[0], Exception) for r in results)
        snap = await store.select(1, INBOX)
        assert list(snap.uids) == list(range(1, 41))
        assert sum(commits) == 40 and len(commits) < 40  # some commits carried several

    run(body, tmp_path, clock)


def test_a_batch_fsyncs_its_bucket_once_before_its_commit(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailkeep.store import userdb

    events: list[str] = []
    real_fsync_dir = userdb.fsync_dir

    def fsync_dir(path: Path) -> None:
        events.append(f"dir {path.name}")
        real_fsync_dir(path)

    async def body(store: DiskStore) -> None:
        await store.list_mailboxes(1)
        original = store._db._commit_batch

        def counting(user, batch):  # type: ignore[no-untyped-def]
            events.append(f"batch {len(batch)}")
            original(user, batch)
            events.append("committed")

        store._db._commit_batch = counting  # type: ignore[method-assign]
        monkeypatch.setattr(userdb, "fsync_dir", fsync_dir)
        results = await asyncio.gather(
            *(store.deliver([Recipient(1)], message(f"m{i}")) for i in range(40))
        )
        assert all(not isinstance(r[0], Exception) for r in results)
        store._db._commit_batch = original  # type: ignore[method-assign]

    run(body, tmp_path, clock)
    batches = [e for e in events if e.startswith("batch")]
    dir_syncs = [e for e in events if e.startswith("dir")]
    assert sum(int(b.split()[1]) for b in batches) == 40
    # Every batch synced its one bucket exactly once, between taking the batch and the
    # commit that publishes the files (so fewer directory fsyncs than deliveries).
    assert len(dir_syncs) == len(batches) < 40
    for i, event in enumerate(events):
        if event.startswith("batch"):
            assert events[i + 1].startswith("dir") and events[i + 2] == "committed"


def test_a_failed_directory_fsync_fails_the_batch_and_removes_its_files(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailkeep.store import userdb

    def broken(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    async def body(store: DiskStore) -> None:
        await store.list_mailboxes(1)
        monkeypatch.setattr(userdb, "fsync_dir", broken)
        results = await asyncio.gather(
            *(store.deliver([Recipient(1)], message(f"m{i}")) for i in range(5))
        )
        assert all(isinstance(r[0], StoreTemporaryError) for r in results)
        assert user_files(tmp_path, 1) == []  # nothing acknowledged, nothing left behind
        monkeypatch.setattr(userdb, "fsync_dir", files_module.fsync_dir)
        [ok] = await store.deliver([Recipient(1)], message("after"))
        assert not isinstance(ok, Exception) and list(ok.uids) == [1]  # no UID was used up

    run(body, tmp_path, clock)


def test_search_sees_mail_before_and_after_indexing(tmp_path: Path, clock: Clock) -> None:
    from mailkeep.store import query as q

    async def body(store: DiskStore) -> None:
        await store.append(1, INBOX, [NewMessage(message("x", "zebra crossing"))], Quota())
        inbox = (await store.status(1, INBOX)).id
        found_early = await store.search(1, inbox, q.Body("ZEBRA"))
        await store.wait_indexed(1)
        assert found_early == await store.search(1, inbox, q.Body("ebra cro")) == [1]

    run(body, tmp_path, clock)


async def settle(store: DiskStore) -> None:
    """Wait (bounded) until idle users beyond the limit are closed."""
    for _ in range(200):
        await store.status(9, INBOX)  # each call retries the eviction
        if len(store._db._users) <= 3:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{len(store._db._users)} users still open")


def test_least_recently_used_users_are_closed(tmp_path: Path, clock: Clock) -> None:
    async def body() -> None:
        store = DiskStore(tmp_path, clock=clock, limits=StoreLimits(max_open_users=3))
        try:
            for user in range(10):
                await store.append(user, INBOX, [NewMessage(message(f"u{user}"))], Quota())
            await settle(store)  # users still flushing stay open (a soft bound)
            for user in range(10):  # reopened on use, nothing lost
                inbox = await store.status(user, INBOX)
                assert await store.read_message(user, inbox.id, 1) == message(f"u{user}")
            await asyncio.gather(
                *(store.deliver([Recipient(u)], message("again")) for u in range(10))
            )
            assert [(await store.status(u, INBOX)).messages for u in range(10)] == [2] * 10
            await settle(store)
        finally:
            await store.close()

    asyncio.run(body())


def test_select_reuses_the_uid_list_only_while_the_mailbox_is_unchanged(
    tmp_path: Path, clock: Clock
) -> None:
    async def body(store: DiskStore) -> None:
        await store.append(1, INBOX, [NewMessage(message(f"m{i}")) for i in range(3)], Quota())
        first = await store.select(1, INBOX)
        first.uids.append(99)  # the caller owns its copy
        assert list((await store.select(1, INBOX)).uids) == [1, 2, 3]
        await store.store_flags(1, first.status.id, UidSet.of([2]), FlagOp.ADD, Flag.DELETED)
        await store.expunge(1, first.status.id)
        assert list((await store.select(1, INBOX)).uids) == [1, 3]
        await store.append(1, INBOX, [NewMessage(message("new"))], Quota())
        snap = await store.select(1, INBOX)
        assert list(snap.uids) == [1, 3, 4] and snap.status.messages == 3
        await store.move(1, snap.status.id, UidSet.of([1]), "Trash", Quota())
        assert list((await store.select(1, INBOX)).uids) == [3, 4]
        assert list((await store.select(1, "Trash")).uids) == [1]

    run(body, tmp_path, clock)


def test_select_reuses_and_extends_its_uid_list_only_while_it_holds(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailkeep.store import messages

    whole_reads: list[int] = []
    real_all_uids = messages.all_uids

    def all_uids(conn, mailbox_id):  # type: ignore[no-untyped-def]
        whole_reads.append(mailbox_id)
        return real_all_uids(conn, mailbox_id)

    monkeypatch.setattr(messages, "all_uids", all_uids)

    async def uids(store: DiskStore) -> list[int]:
        return list((await store.select(1, INBOX)).uids)

    async def deliver(store: DiskStore, n: int) -> None:
        for i in range(n):
            [result] = await store.deliver([Recipient(1)], message(f"m{i}"))
            assert not isinstance(result, Exception)

    async def body(store: DiskStore) -> None:
        await deliver(store, 5)
        inbox = (await store.status(1, INBOX)).id
        assert await uids(store) == [1, 2, 3, 4, 5] and len(whole_reads) == 1
        await store.store_flags(1, inbox, UidSet.of([2]), FlagOp.ADD, Flag.SEEN)
        assert await uids(store) == [1, 2, 3, 4, 5] and len(whole_reads) == 1  # flags only
        await deliver(store, 2)
        assert await uids(store) == [1, 2, 3, 4, 5, 6, 7] and len(whole_reads) == 1  # extended
        await store.store_flags(1, inbox, UidSet.of([3]), FlagOp.ADD, Flag.DELETED)
        assert list(await store.expunge(1, inbox)) == [3]
        assert await uids(store) == [1, 2, 4, 5, 6, 7] and len(whole_reads) == 2  # read again
        # One gone and one arrived: UIDNEXT moved but the count did not grow by the arrivals.
        await store.store_flags(1, inbox, UidSet.of([4]), FlagOp.ADD, Flag.DELETED)
        await store.expunge(1, inbox)
        await deliver(store, 1)
        assert await uids(store) == [1, 2, 5, 6, 7, 8] and len(whole_reads) == 3
        # A MOVE out and a COPY in behave the same way.
        await store.move(1, inbox, UidSet.of([1]), "Archive", Quota())
        archive = (await store.status(1, "Archive")).id
        await store.copy(1, archive, UidSet.of([1]), INBOX, Quota())
        assert await uids(store) == [2, 5, 6, 7, 8, 9]
        assert await uids(store) == [2, 5, 6, 7, 8, 9]

    run(body, tmp_path, clock)
