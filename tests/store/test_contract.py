"""The store contract: every backend (memory, disk) must pass this one suite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailkeep.mail.mime import MessageInfo
from mailkeep.store import query as q
from mailkeep.store.changes import (
    FlagsChanged,
    MailboxCreated,
    MailboxRenamed,
    MessagesAdded,
    MessagesExpunged,
)
from mailkeep.store.errors import (
    InvalidKeyword,
    InvalidMailboxName,
    MailboxExists,
    MailboxNotAllowed,
    MailboxNotFound,
    MessageNotFound,
    MetadataLimitReached,
    MetadataTooLarge,
    MetadataTooMany,
    QuotaExceeded,
)
from mailkeep.store.interface import MailStore
from mailkeep.store.models import (
    INBOX,
    Flag,
    FlagOp,
    MetadataLimits,
    NewMessage,
    Quota,
    Recipient,
    SpecialUse,
    UidSet,
)
from tests.store.conftest import Body, Clock, message

Run = Callable[[Body], None]
NOQ = Quota()


async def put(store: MailStore, raw: bytes, user: int = 1, mailbox: str = INBOX, **kw: object):
    return await store.append(user, mailbox, [NewMessage(raw, **kw)], NOQ)  # type: ignore[arg-type]


def test_new_user_has_inbox_and_special_use_mailboxes(run: Run) -> None:
    async def body(store: MailStore) -> None:
        boxes = await store.list_mailboxes(7)
        uses = {b.name: b.special_use for b in boxes}
        assert uses == {
            "INBOX": None,
            "Drafts": SpecialUse.DRAFTS,
            "Sent": SpecialUse.SENT,
            "Trash": SpecialUse.TRASH,
            "Junk": SpecialUse.JUNK,
            "Archive": SpecialUse.ARCHIVE,
        }
        assert all(b.subscribed for b in boxes)
        assert len({b.id for b in boxes}) == 6

    run(body)


def test_deliver_then_select_fetch_and_read_back(run: Run) -> None:
    raw = message("Greetings", "line one\r\nline two")

    async def body(store: MailStore) -> None:
        [result] = await store.deliver([Recipient(1)], raw)
        assert not isinstance(result, Exception)
        assert result.uids == UidSet.of([1])
        snap = await store.select(1, "inbox")
        assert list(snap.uids) == [1]
        st = snap.status
        assert (st.name, st.messages, st.unseen, st.uidnext, st.size) == (
            INBOX,
            1,
            1,
            2,
            len(raw),
        )
        assert st.first_unseen_uid == 1 and st.uidvalidity == result.uidvalidity
        assert await store.read_message(1, st.id, 1) == raw
        assert await store.read_message(1, st.id, 1, 2, 5) == raw[2:7]
        [meta] = await store.fetch(1, st.id, UidSet.span(1, 100), with_info=True, with_fields=True)
        assert meta.uid == 1 and meta.size == len(raw) and meta.flags == Flag.NONE
        assert meta.fields is not None and meta.fields.subject == "Greetings"
        assert meta.fields.sort_from == "alice"
        assert meta.preview.startswith("line one")
        assert meta.info is not None
        info = MessageInfo.from_bytes(meta.info)
        assert info.size == len(raw)
        [with_env] = await store.fetch(1, st.id, UidSet.of([1]), with_envelope=True)
        assert with_env.envelope == info.envelope
        assert with_env.envelope is not None and with_env.envelope.subject == b"Greetings"
        with pytest.raises(MessageNotFound):
            await store.read_message(1, st.id, 2)
        # several at once; UIDs the mailbox lacks are left out
        [second] = await store.deliver([Recipient(1)], raw + b"more\r\n")
        assert not isinstance(second, Exception)
        got = await store.read_messages(1, st.id, [2, 7, 1])
        assert got == {1: raw, 2: raw + b"more\r\n"}
        assert await store.read_messages(1, st.id, []) == {}
        with pytest.raises(MailboxNotFound):
            await store.read_messages(1, 999, [1])

    run(body)


def test_uids_ascend_and_are_never_reused(run: Run) -> None:
    async def body(store: MailStore) -> None:
        for i in range(3):
            await put(store, message(f"m{i}"))
        inbox = (await store.status(1, INBOX)).id
        await store.store_flags(1, inbox, UidSet.span(2, 3), FlagOp.ADD, Flag.DELETED)
        assert await store.expunge(1, inbox) == UidSet.span(2, 3)
        result = await put(store, message("m4"))
        assert result.uids == UidSet.of([4])
        snap = await store.select(1, INBOX)
        assert list(snap.uids) == [1, 4] and snap.status.uidnext == 5

    run(body)


def test_uidvalidity_changes_when_a_name_is_recreated(run: Run, clock: Clock) -> None:
    async def body(store: MailStore) -> None:
        first = await store.create_mailbox(1, "Projects")
        v1 = (await store.status(1, "Projects")).uidvalidity
        await store.delete_mailbox(1, "Projects")
        second = await store.create_mailbox(1, "Projects")
        v2 = (await store.status(1, "Projects")).uidvalidity
        assert v2 > v1 and second.id != first.id

    run(body)


def test_create_makes_parents_and_refuses_duplicates(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await store.create_mailbox(1, "a/b/c")
        names = [b.name for b in await store.list_mailboxes(1)]
        assert {"a", "a/b", "a/b/c"} <= set(names)
        parents = {b.name: b.has_children for b in await store.list_mailboxes(1)}
        assert parents["a"] and parents["a/b"] and not parents["a/b/c"]
        with pytest.raises(MailboxExists):
            await store.create_mailbox(1, "a/b")
        with pytest.raises(MailboxExists):
            await store.create_mailbox(1, "inbox")

    run(body)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a//b",
        "/a",
        "a/",
        "..",
        "a/../b",
        "./x",
        "a\x00b",
        "tab\there",
        "del\x7f",
        "c1\x85",
        "line\u2028sep",  # RFC 6855 3
        "para\u2029sep",
        "wild*",
        "per%cent",
        " lead",
        "x" * 600,
        "/".join(["d"] * 40),
    ],
)
def test_bad_mailbox_names_are_refused(run: Run, name: str) -> None:
    async def body(store: MailStore) -> None:
        with pytest.raises(InvalidMailboxName):
            await store.create_mailbox(1, name)
        with pytest.raises(InvalidMailboxName):
            await store.rename_mailbox(1, "Drafts", name)

    run(body)


def test_delete_refuses_inbox_and_parents_and_removes_messages(run: Run) -> None:
    async def body(store: MailStore) -> None:
        with pytest.raises(MailboxNotAllowed):
            await store.delete_mailbox(1, "INBOX")
        await store.create_mailbox(1, "p/q")
        with pytest.raises(MailboxNotAllowed):
            await store.delete_mailbox(1, "p")
        await put(store, message(), mailbox="p/q")
        q_id = (await store.status(1, "p/q")).id
        await store.delete_mailbox(1, "p/q")
        await store.delete_mailbox(1, "p")
        with pytest.raises(MailboxNotFound):
            await store.status(1, "p/q")
        with pytest.raises(MailboxNotFound):
            await store.fetch(1, q_id, UidSet.span(1, 10))
        with pytest.raises(MailboxNotFound):
            await store.delete_mailbox(1, "nothing")
        assert (await store.quota_usage(1)).messages == 0

    run(body)


def test_rename_moves_children_and_keeps_ids(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await store.create_mailbox(1, "old/kid")
        ids = {b.name: b.id for b in await store.list_mailboxes(1)}
        await put(store, message(), mailbox="old/kid")
        await store.rename_mailbox(1, "old", "new/place")
        after = {b.name: b.id for b in await store.list_mailboxes(1)}
        assert after["new/place"] == ids["old"] and after["new/place/kid"] == ids["old/kid"]
        assert "old" not in after and "new" in after
        assert (await store.status(1, "new/place/kid")).messages == 1
        with pytest.raises(MailboxExists):
            await store.rename_mailbox(1, "new/place", "Sent")
        with pytest.raises(MailboxNotAllowed):
            await store.rename_mailbox(1, "new/place", "new/place/kid/x")
        with pytest.raises(MailboxNotFound):
            await store.rename_mailbox(1, "absent", "elsewhere")

    run(body)


def test_rename_inbox_moves_its_messages(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await put(store, message("one"), flags=Flag.SEEN)
        await put(store, message("two"))
        before = await store.status(1, INBOX)
        await store.rename_mailbox(1, "INBOX", "Old mail")
        inbox = await store.status(1, INBOX)
        moved = await store.status(1, "Old mail")
        assert inbox.messages == 0 and inbox.uidnext == before.uidnext
        assert inbox.uidvalidity == before.uidvalidity
        assert moved.messages == 2 and moved.unseen == 1
        assert await store.vanished(1, inbox.id, 0) == UidSet.span(1, 2)

    run(body)


def test_subscriptions_may_name_absent_mailboxes(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await store.set_subscribed(1, "Later", True)
        await store.set_subscribed(1, "Junk", False)
        subs = await store.subscriptions(1)
        assert "Later" in subs and "Junk" not in subs and "INBOX" in subs
        flags = {b.name: b.subscribed for b in await store.list_mailboxes(1)}
        assert flags["Junk"] is False and flags["Sent"] is True

    run(body)


def test_flags_modseq_and_unchangedsince(run: Run) -> None:
    async def body(store: MailStore) -> None:
        for i in range(3):
            await put(store, message(f"m{i}"))
        st = await store.status(1, INBOX)
        base = st.highestmodseq
        res = await store.store_flags(1, st.id, UidSet.span(1, 2), FlagOp.ADD, Flag.SEEN)
        assert [c.uid for c in res.changed] == [1, 2]
        m1 = res.changed[0].modseq
        assert m1 > base and (await store.status(1, INBOX)).highestmodseq == m1
        # No change: no new modseq.
        again = await store.store_flags(1, st.id, UidSet.of([1]), FlagOp.ADD, Flag.SEEN)
        assert again.changed == () and (await store.status(1, INBOX)).highestmodseq == m1
        rep = await store.store_flags(1, st.id, UidSet.of([1]), FlagOp.REPLACE, Flag.FLAGGED)
        assert rep.changed[0].flags == Flag.FLAGGED and rep.changed[0].modseq > m1
        rem = await store.store_flags(1, st.id, UidSet.of([2]), FlagOp.REMOVE, Flag.SEEN)
        assert rem.changed[0].flags == Flag.NONE
        # UNCHANGEDSINCE: uid 1 changed after m1, uid 3 did not.
        cond = await store.store_flags(
            1, st.id, UidSet.of([1, 3]), FlagOp.ADD, Flag.ANSWERED, unchanged_since=m1
        )
        assert cond.modified == UidSet.of([1]) and [c.uid for c in cond.changed] == [3]
        changed = await store.fetch(1, st.id, UidSet.span(1, 3), changed_since=m1)
        assert [m.uid for m in changed] == [1, 2, 3]
        latest = (await store.status(1, INBOX)).highestmodseq
        assert await store.fetch(1, st.id, UidSet.span(1, 3), changed_since=latest) == []
        status = await store.status(1, INBOX)
        assert status.unseen == 3 and status.first_unseen_uid == 1

    run(body)


def test_keywords_are_case_insensitive_and_validated(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await put(store, message(), keywords=frozenset({"$Forwarded"}))
        await put(store, message())
        st = await store.status(1, INBOX)
        assert st.keywords == ("$Forwarded",)
        res = await store.store_flags(
            1, st.id, UidSet.of([2]), FlagOp.ADD, Flag.NONE, frozenset({"$FORWARDED", "Work"})
        )
        assert res.changed[0].keywords == frozenset({"$Forwarded", "Work"})
        res = await store.store_flags(
            1, st.id, UidSet.of([2]), FlagOp.REMOVE, Flag.NONE, frozenset({"work"})
        )
        assert res.changed[0].keywords == frozenset({"$Forwarded"})
        assert await store.search(1, st.id, q.HasKeyword("$forwarded")) == [1, 2]
        for bad in ("", "\\Seen", "two words", "par(en", "é"):
            with pytest.raises(InvalidKeyword):
                await store.store_flags(
                    1, st.id, UidSet.of([1]), FlagOp.ADD, Flag.NONE, frozenset({bad})
                )

    run(body)


def test_copy_and_move(run: Run, clock: Clock) -> None:
    when = datetime(2020, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-3)))

    async def body(store: MailStore) -> None:
        await put(
            store, message("a"), flags=Flag.SEEN, keywords=frozenset({"k1"}), internal_date=when
        )
        await put(store, message("b"))
        await put(store, message("c"))
        inbox = (await store.status(1, INBOX)).id
        clock.advance(60)
        res = await store.copy(1, inbox, UidSet.of([1, 3, 99]), "Archive", NOQ)
        assert res.source_uids == (1, 3) and res.dest_uids == (1, 2)
        archive = await store.status(1, "Archive")
        assert res.uidvalidity == archive.uidvalidity and archive.messages == 2
        [copied] = await store.fetch(1, archive.id, UidSet.of([1]))
        assert copied.flags == Flag.SEEN and copied.keywords == frozenset({"k1"})
        assert copied.internal_date == when and copied.internal_date.utcoffset() == timedelta(
            hours=-3
        )
        assert copied.save_date == clock.now.replace(microsecond=0)
        assert await store.read_message(1, archive.id, 2) == message("c")
        mv = await store.move(1, inbox, UidSet.span(2, 3), "Trash", NOQ)
        assert mv.source_uids == (2, 3) and mv.dest_uids == (1, 2)
        assert list((await store.select(1, INBOX)).uids) == [1]
        assert await store.vanished(1, inbox, 0) == UidSet.span(2, 3)
        assert (await store.quota_usage(1)).messages == 5
        with pytest.raises(MailboxNotFound):
            await store.copy(1, inbox, UidSet.of([1]), "Nowhere", NOQ)

    run(body)


def test_expunge_only_deleted_and_within_uids(run: Run) -> None:
    async def body(store: MailStore) -> None:
        for i in range(5):
            await put(store, message(f"m{i}"), flags=Flag.DELETED if i != 2 else Flag.NONE)
        inbox = await store.status(1, INBOX)
        assert inbox.deleted == 4
        mark = inbox.highestmodseq
        assert await store.expunge(1, inbox.id, UidSet.span(1, 2)) == UidSet.span(1, 2)
        assert await store.expunge(1, inbox.id) == UidSet.span(4, 5)
        assert list((await store.select(1, INBOX)).uids) == [3]
        assert await store.vanished(1, inbox.id, mark) == UidSet.of([1, 2, 4, 5])
        latest = (await store.status(1, INBOX)).highestmodseq
        assert await store.vanished(1, inbox.id, latest) == UidSet()
        assert await store.expunge(1, inbox.id) == UidSet()

    run(body)


def test_recent_goes_to_one_session(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await put(store, message())
        await put(store, message())
        inbox = await store.status(1, INBOX)
        assert inbox.recent == 2
        assert await store.claim_recent(1, inbox.id) == UidSet.span(1, 2)
        assert await store.claim_recent(1, inbox.id) == UidSet()
        await put(store, message())
        assert (await store.status(1, INBOX)).recent == 1
        assert await store.claim_recent(1, inbox.id) == UidSet.of([3])

    run(body)


def test_quota_is_enforced_with_a_reason(run: Run) -> None:
    raw = message("q", "x" * 1000)

    async def body(store: MailStore) -> None:
        await store.append(1, INBOX, [NewMessage(raw)], Quota(max_messages=2))
        await store.append(1, INBOX, [NewMessage(raw)], Quota(max_messages=2))
        with pytest.raises(QuotaExceeded) as info:
            await store.append(1, INBOX, [NewMessage(raw)], Quota(max_messages=2))
        assert (info.value.resource, info.value.limit, info.value.used) == ("messages", 2, 2)
        with pytest.raises(QuotaExceeded) as info:
            await store.append(1, INBOX, [NewMessage(raw)], Quota(max_bytes=len(raw) * 2 + 10))
        assert info.value.resource == "storage" and info.value.used == 2 * len(raw)
        inbox = (await store.status(1, INBOX)).id
        with pytest.raises(QuotaExceeded):
            await store.copy(1, inbox, UidSet.span(1, 2), "Archive", Quota(max_messages=3))
        await store.move(1, inbox, UidSet.span(1, 2), "Archive", Quota(max_messages=2))
        [rejected, accepted] = await store.deliver(
            [Recipient(1, Quota(max_messages=2)), Recipient(2, Quota(max_messages=2))], raw
        )
        assert isinstance(rejected, QuotaExceeded) and not isinstance(accepted, Exception)
        usage = await store.quota_usage(1)
        assert (usage.messages, usage.bytes) == (2, 2 * len(raw))
        assert (await store.status(1, INBOX)).messages == 0

    run(body)


def test_multiappend_is_all_or_nothing(run: Run) -> None:
    async def body(store: MailStore) -> None:
        items = [NewMessage(message("1")), NewMessage(message("2"), keywords=frozenset({"b d"}))]
        with pytest.raises(InvalidKeyword):
            await store.append(1, INBOX, items, NOQ)
        st = await store.status(1, INBOX)
        assert st.messages == 0 and st.uidnext == 1
        ok = await store.append(1, INBOX, [NewMessage(message("1")), NewMessage(message("2"))], NOQ)
        assert ok.uids == UidSet.span(1, 2)

    run(body)


def test_deliver_to_several_users(run: Run) -> None:
    raw = message("shared")

    async def body(store: MailStore) -> None:
        results = await store.deliver(
            [Recipient(1), Recipient(2), Recipient(3, mailbox="Nope")], raw
        )
        assert not isinstance(results[0], Exception) and not isinstance(results[1], Exception)
        assert isinstance(results[2], MailboxNotFound)
        for user in (1, 2):
            inbox = (await store.status(user, INBOX)).id
            assert await store.read_message(user, inbox, 1) == raw
        assert (await store.quota_usage(3)).messages == 0
        twice = await store.deliver([Recipient(4), Recipient(5), Recipient(4)], raw)
        assert [r.uids for r in twice if not isinstance(r, Exception)] == [
            UidSet.of([1]),
            UidSet.of([1]),
            UidSet.of([2]),
        ]

    run(body)


def test_change_feed_tells_other_sessions(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await store.list_mailboxes(1)
        with store.changes.subscribe(1) as sub, store.changes.subscribe(2) as other:
            await put(store, message())
            inbox = (await store.status(1, INBOX)).id
            await store.store_flags(1, inbox, UidSet.of([1]), FlagOp.ADD, Flag.DELETED)
            await store.expunge(1, inbox)
            await store.create_mailbox(1, "X")
            await store.rename_mailbox(1, "X", "Y")
            await sub.wait()
            changes = sub.drain()
            kinds = [type(c) for c in changes]
            assert kinds == [
                MessagesAdded,
                FlagsChanged,
                MessagesExpunged,
                MailboxCreated,
                MailboxRenamed,
            ]
            added, flagged, gone = changes[0], changes[1], changes[2]
            assert isinstance(added, MessagesAdded) and added.uids == UidSet.of([1])
            assert isinstance(flagged, FlagsChanged) and flagged.changes[0].flags == Flag.DELETED
            assert isinstance(gone, MessagesExpunged) and gone.uids == UidSet.of([1])
            assert gone.highestmodseq > flagged.highestmodseq > added.highestmodseq
            assert other.drain() == []
        assert store.changes.subscriber_count(1) == 0

    run(body)


def test_search_keys(run: Run, clock: Clock) -> None:
    async def body(store: MailStore) -> None:
        await put(
            store,
            message("Quarterly Report", "The numbers are in.\r\nCafé crème."),
            internal_date=datetime(2024, 1, 10, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        )
        await put(
            store,
            message(
                "lunch?",
                "Salut, on déjeune ?",
                X_Tag="blue",
                Date="Tue, 02 Jan 2024 10:00:00 +0000",
            ),
            flags=Flag.SEEN,
        )
        await put(store, message("RE: report", "short", Cc="Carol <carol@example.com>"))
        inbox = (await store.status(1, INBOX)).id

        async def s(c: q.Criterion) -> list[int]:
            return await store.search(1, inbox, c)

        assert await s(q.All()) == [1, 2, 3]
        assert await s(q.Header("subject", "REPORT")) == [1, 3]
        assert await s(q.Body("umber")) == [1]
        assert await s(q.Body("CAFÉ")) == [1]
        assert await s(q.Body("report")) == []
        assert await s(q.Text("report")) == [1, 3]
        assert await s(q.Text("DÉJ")) == [2]
        assert await s(q.Header("x-tag", "BLU")) == [2]
        assert await s(q.Header("x-tag", "")) == [2]
        assert await s(q.Header("cc", "carol@")) == [3]
        assert await s(q.Not(q.Header("x-tag", "blue"))) == [1, 3]
        assert await s(q.HasFlag(Flag.SEEN)) == [2]
        assert await s(q.Or(q.HasFlag(Flag.SEEN), q.Body("short"))) == [2, 3]
        assert await s(q.And((q.Not(q.HasFlag(Flag.SEEN)), q.Text("re")))) == [1, 3]
        assert await s(q.DateIs(q.DateField.INTERNAL, "on", datetime(2024, 1, 10).date())) == [1]
        assert await s(q.DateIs(q.DateField.SENT, "before", datetime(2024, 1, 3).date())) == [2]
        assert await s(q.DateIs(q.DateField.SAVED, "since", clock.now.date())) == [1, 2, 3]
        sizes = {m.uid: m.size for m in await store.fetch(1, inbox, UidSet.span(1, 3))}
        middle = sorted(sizes.values())[1]
        assert await s(q.SizeIs(">", middle)) == [u for u, n in sizes.items() if n > middle]
        assert await s(q.SizeIs("<", middle)) == [u for u, n in sizes.items() if n < middle]
        assert await s(q.Uids(UidSet.of([1, 3]))) == [1, 3]
        assert await s(q.Uids(UidSet.of(range(1, 400, 2)))) == [1, 3]
        assert await s(q.Age("younger", 3600)) == [2, 3]
        assert await s(q.ModSeqAtLeast((await store.status(1, INBOX)).highestmodseq)) == [3]
        assert await s(q.Body("")) == [1, 2, 3]

    run(body)


def test_import_keeps_uids_and_uidvalidity(run: Run) -> None:
    async def body(store: MailStore) -> None:
        await store.create_mailbox(1, "Old")
        items = [NewMessage(message(f"m{i}")) for i in range(3)]
        result = await store.import_messages(
            1, "Old", items, NOQ, uids=[3, 10, 11], uidvalidity=1234567
        )
        assert result.uidvalidity == 1234567 and result.uids == UidSet.of([3, 10, 11])
        status = await store.status(1, "Old")
        assert (status.uidvalidity, status.uidnext, status.messages) == (1234567, 12, 3)
        assert await store.read_message(1, status.id, 10) == message("m1")
        later = await store.append(1, "Old", [NewMessage(message("new"))], NOQ)
        assert later.uids == UidSet.of([12])
        with pytest.raises(MailboxNotAllowed):  # the mailbox already holds messages
            await store.import_messages(1, "Old", items[:1], NOQ, uidvalidity=99)
        with pytest.raises(MailboxNotAllowed):  # below UIDNEXT
            await store.import_messages(1, "Old", items[:1], NOQ, uids=[5])
        with pytest.raises(MailboxNotAllowed):  # not ascending
            await store.import_messages(1, "Sent", items[:2], NOQ, uids=[9, 9])
        assert (await store.status(1, "Sent")).messages == 0

    run(body)


def test_sort_fields_come_from_the_delivery_cache(run: Run) -> None:
    dated = (
        b"From: =?utf-8?q?=C3=89mile?= <emile@example.org>\r\nTo: amy@example.test\r\n"
        b"Cc: Bo <bo@example.net>\r\nSubject: Re: [list] Plans (fwd)\r\n"
        b"Date: Mon, 2 Nov 2026 11:30:00 +0200\r\nMessage-ID: <m2@example.org>\r\n"
        b"In-Reply-To: <m1@example.org>\r\n"
        b"References: <m0@example.org>\r\n <m1@example.org>\r\n\r\nbody\r\n"
    )
    undated = b"From: zed@example.org\r\nSubject: plain\r\n\r\nbody\r\n"
    internal = datetime(2026, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=1)))

    async def body(store: MailStore) -> None:
        await put(store, dated)
        await put(store, undated, internal_date=internal)
        await put(store, undated)
        inbox = (await store.status(1, INBOX)).id
        await store.store_flags(1, inbox, UidSet.of([3]), FlagOp.ADD, Flag.DELETED)
        await store.expunge(1, inbox)
        first, second = await store.sort_fields(1, inbox, UidSet.of([1, 2, 3, 7]))
        assert first.uid == 1 and first.size == len(dated)
        assert first.sent_ts == int(datetime(2026, 11, 2, 9, 30, tzinfo=UTC).timestamp())
        assert (first.subject, first.base_subject) == ("Re: [list] Plans (fwd)", "Plans")
        assert (first.sort_from, first.sort_to, first.sort_cc) == ("emile", "amy", "bo")
        assert (first.display_from, first.display_to) == ("Émile", "amy@example.test")
        assert first.message_id == "<m2@example.org>"
        assert first.in_reply_to == "<m1@example.org>"
        assert first.references == "<m0@example.org> <m1@example.org>"
        # RFC 5256 2.2: no Date header, so the internal date is the sent date
        assert second.uid == 2 and second.sent_ts == second.internal_ts
        assert second.internal_ts == int(internal.timestamp())
        assert (second.sort_to, second.display_to, second.message_id) == ("", "", "")
        assert await store.sort_fields(1, inbox, UidSet()) == []
        with pytest.raises(MailboxNotFound):
            await store.sort_fields(1, 9999, UidSet.of([1]))

    run(body)


def test_metadata_set_get_limits_rename_delete(run: Run) -> None:
    """RFC 5464 annotations: server and mailbox entries apart, NIL removes, all or nothing
    at a limit, the entries follow a RENAME and go with a DELETE."""
    limits = MetadataLimits(max_value=1024, max_entries=10, max_total=4096)

    async def body(store: MailStore) -> None:
        await store.create_mailbox(1, "Notes")
        await store.set_metadata(1, None, [("/shared/comment", b"server note")], limits)
        await store.set_metadata(
            1, "Notes", [("/private/comment", b"mine"), ("/shared/comment", b"ours")], limits
        )
        assert await store.get_metadata(1, None) == {"/shared/comment": b"server note"}
        assert await store.get_metadata(1, "Notes") == {
            "/private/comment": b"mine",
            "/shared/comment": b"ours",
        }
        assert await store.get_metadata(1, INBOX) == {}
        assert await store.get_metadata(2, None) == {}  # another user's are apart
        await store.set_metadata(1, "Notes", [("/private/comment", None)], limits)
        assert await store.get_metadata(1, "Notes") == {"/shared/comment": b"ours"}
        # a value over the size limit: nothing of the command is applied
        with pytest.raises(MetadataTooLarge) as info:
            await store.set_metadata(
                1, "Notes", [("/shared/a", b"x"), ("/shared/b", b"y" * 1025)], limits
            )
        assert info.value.limit == 1024
        with pytest.raises(MetadataTooMany):
            await store.set_metadata(
                1, "Notes", [(f"/shared/n{i}", b"v") for i in range(10)], limits
            )
        with pytest.raises(MetadataLimitReached):
            for i in range(5):
                await store.set_metadata(1, INBOX, [(f"/private/big{i}", b"z" * 1000)], limits)
        assert await store.get_metadata(1, "Notes") == {"/shared/comment": b"ours"}
        with pytest.raises(MailboxNotFound):
            await store.set_metadata(1, "Absent", [("/shared/comment", b"x")], limits)
        with pytest.raises(MailboxNotFound):
            await store.get_metadata(1, "Absent")
        await store.rename_mailbox(1, "Notes", "Archive/Notes")
        assert await store.get_metadata(1, "Archive/Notes") == {"/shared/comment": b"ours"}
        await store.delete_mailbox(1, "Archive/Notes")
        await store.create_mailbox(1, "Archive/Notes")
        assert await store.get_metadata(1, "Archive/Notes") == {}  # not inherited

    run(body)
