"""The retry ledger: what a transaction answered 4xx already delivered."""

from __future__ import annotations

from mailkeep.delivery.retry_ledger import NOTHING_DONE, RetryLedger
from mailkeep.mail.address import parse_address

SENDER = parse_address("a@example.org")


def test_empty_ledger_hashes_nothing() -> None:
    ledger = RetryLedger()
    assert ledger.done(SENDER, b"x") == (None, NOTHING_DONE)


def test_record_then_match_same_sender_and_bytes_only() -> None:
    ledger = RetryLedger()
    ledger.record(None, SENDER, b"msg", local_user_ids=[1, 2], remote_keys=["b@x.test"])
    key, done = ledger.done(SENDER, b"msg")
    assert key is not None
    assert done.local_user_ids == {1, 2} and done.remote_keys == {"b@x.test"}
    assert ledger.done(SENDER, b"msg2")[1] == NOTHING_DONE
    assert ledger.done(None, b"msg")[1] == NOTHING_DONE
    assert ledger.done(parse_address("A@EXAMPLE.org"), b"msg")[1] == done  # same key
    ledger.forget(key)
    assert len(ledger) == 0


def test_records_accumulate_and_empty_records_are_not_kept() -> None:
    ledger = RetryLedger()
    ledger.record(None, SENDER, b"m", local_user_ids=[], remote_keys=[])
    assert len(ledger) == 0
    ledger.record(None, SENDER, b"m", local_user_ids=[1], remote_keys=[])
    key, _ = ledger.done(SENDER, b"m")
    ledger.record(key, SENDER, b"m", local_user_ids=[2], remote_keys=["r@x.test"])
    assert ledger.done(SENDER, b"m")[1].local_user_ids == {1, 2}


def test_entries_expire_and_are_bounded() -> None:
    now = [1000.0]
    ledger = RetryLedger(ttl_seconds=60, max_entries=2, clock=lambda: now[0])
    for i in range(3):
        ledger.record(None, SENDER, b"%d" % i, local_user_ids=[i], remote_keys=[])
    assert len(ledger) == 2
    assert ledger.done(SENDER, b"0")[1] == NOTHING_DONE  # the oldest went first
    now[0] += 61
    assert ledger.done(SENDER, b"1")[1] == NOTHING_DONE
    assert len(ledger) == 0
