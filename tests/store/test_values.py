"""Property tests of the store's small pure pieces: names, UID sets, the change feed."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from mailkeep.store.changes import ChangeFeed, MailboxCreated
from mailkeep.store.errors import InvalidMailboxName
from mailkeep.store.models import UidSet
from mailkeep.store.names import normalize_mailbox_name

NAME_CHARS = st.characters(codec="utf-8") | st.sampled_from(list("/.*% \t\x00\x7f\x85"))


@given(st.text(NAME_CHARS, max_size=80))
def test_names_are_accepted_only_when_safe(name: str) -> None:
    try:
        canonical = normalize_mailbox_name(name, max_bytes=200, max_depth=5)
    except InvalidMailboxName:
        return
    levels = canonical.split("/")
    assert all(levels) and len(levels) <= 5
    assert not any(level in (".", "..") for level in levels)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "*%" for c in canonical)
    assert len(canonical.encode()) <= 200
    assert normalize_mailbox_name(canonical, max_bytes=200, max_depth=5) == canonical


def test_inbox_is_case_insensitive() -> None:
    assert normalize_mailbox_name("iNbOx") == "INBOX"
    assert normalize_mailbox_name("inbox/Sub") == "INBOX/Sub"
    assert normalize_mailbox_name("Inboxes") == "Inboxes"


RANGES = st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300)), max_size=12)


@given(RANGES, RANGES)
def test_uid_sets_behave_like_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    def plain(ranges: list[tuple[int, int]]) -> set[int]:
        return {u for x, y in ranges for u in range(min(x, y), max(x, y) + 1)}

    sa, sb = UidSet.from_ranges(a), UidSet.from_ranges(b)
    assert set(sa) == plain(a) and len(sa) == len(plain(a))
    assert set(sa.union(sb)) == plain(a) | plain(b)
    assert all((u in sa) == (u in plain(a)) for u in range(0, 302))
    assert UidSet.of(sa) == sa  # the normal form is unique
    pairs = sa.ranges
    assert all(lo <= hi for lo, hi in pairs)
    assert all(pairs[i][1] + 1 < pairs[i + 1][0] for i in range(len(pairs) - 1))
    text = sa.to_imap()
    assert text == ",".join(f"{lo}" if lo == hi else f"{lo}:{hi}" for lo, hi in pairs)


def test_a_slow_subscriber_overflows_instead_of_growing() -> None:
    async def body() -> None:
        feed = ChangeFeed(max_pending=3)
        with feed.subscribe(1) as slow, feed.subscribe(1) as fast:
            for i in range(5):
                feed.publish(1, MailboxCreated(i, f"m{i}"))
                if i < 3:
                    assert (await fast.get()).mailbox_id == i
            assert slow.overflowed and slow.drain() == []
            slow.clear_overflow()
            feed.publish(1, MailboxCreated(9, "after"))
            assert [c.mailbox_id for c in slow.drain()] == [9]
            assert [c.mailbox_id for c in fast.drain()] == [3, 4, 9]
            feed.publish(2, MailboxCreated(7, "other user"))
            assert fast.drain() == []
        assert feed.subscriber_count(1) == 0

    asyncio.run(body())
