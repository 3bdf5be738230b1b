"""The spool: durable put, atomic updates, round trips of every envelope field, sweep."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mailkeep.protocol.smtp.grammar import Body, Notify, Ret
from mailkeep.queue.models import (
    QueuedMessage,
    QueuedRecipient,
    RecipientStatus,
    SpoolFormatError,
)
from mailkeep.queue.spool import Spool, new_id


def envelope(spool_id: str) -> QueuedMessage:
    return QueuedMessage(
        id=spool_id,
        mail_from="sender@example.test",
        recipients=(
            QueuedRecipient(
                "a@remote.example",
                frozenset({Notify.FAILURE, Notify.DELAY}),
                ("rfc822", "list@example.test"),
                next_attempt=5.0,
            ),
            QueuedRecipient("b@remote.example", local_user_id=None, last_error="451 later"),
        ),
        created=1.5,
        size=10,
        ret=Ret.HDRS,
        envid="id+2Bx",
        requiretls=True,
        body=Body.EIGHT_BIT_MIME,
        smtputf8=True,
        received_from="192.0.2.1",
        authenticated_as="sender@example.test",
    )


def test_put_then_load_round_trips_every_field(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "queue")
    item = envelope(new_id(1000.0))
    spool.put_sync(item, b"Subject: x\r\n\r\nbody\r\n")
    assert spool.list_ids() == [item.id]
    assert spool.load_sync(item.id) == item
    assert spool.read_message_sync(item.id) == b"Subject: x\r\n\r\nbody\r\n"
    assert list((tmp_path / "queue" / "tmp").iterdir()) == []


def test_ids_are_time_ordered_and_unique() -> None:
    ids = [new_id(t) for t in (1.0, 1.0, 2.0, 3000.0)]
    assert len(set(ids)) == 4
    assert ids[2:] == sorted(ids[2:]) and ids[0] < ids[2]


def test_update_replaces_the_envelope(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    item = envelope(new_id(1.0))
    spool.put_sync(item, b"x")
    done = item.recipients[0].__class__(
        "a@remote.example", status=RecipientStatus.DELIVERED, attempts=1
    )
    changed = item.with_recipients((done, item.recipients[1]))
    spool.update_sync(changed)
    loaded = spool.load_sync(item.id)
    assert loaded.recipients[0].status is RecipientStatus.DELIVERED
    assert [r.address for r in loaded.pending] == ["b@remote.example"]


def test_remove_and_sweep_of_interrupted_puts(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    kept = envelope(new_id(1.0))
    spool.put_sync(kept, b"kept")
    gone = envelope(new_id(2.0))
    spool.put_sync(gone, b"gone")
    spool.remove_sync(gone.id)
    # An interrupted put: the message file renamed, the envelope never written.
    (tmp_path / "messages" / f"{new_id(3.0)}.eml").write_bytes(b"half")
    (tmp_path / "tmp" / "junk.json").write_bytes(b"{")
    removed = spool.sweep()
    assert len(removed) == 2
    assert spool.list_ids() == [kept.id]
    assert sorted(p.name for p in (tmp_path / "messages").iterdir()) == [f"{kept.id}.eml"]


def test_async_put_is_durable_before_it_returns(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    item = envelope(new_id(1.0))
    asyncio.run(spool.put(item, b"data"))
    assert Spool(tmp_path).load_sync(item.id) == item


@pytest.mark.parametrize("bad", ["../etc", "", "ABC", "01/02"])
def test_ids_that_name_other_paths_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="spool id"):
        Spool(tmp_path).message_path(bad)


@pytest.mark.parametrize(
    "data", [b"", b"[]", b'{"version": 99}', b'{"version": 1}', b'{"version": 1, "id": 1}']
)
def test_damaged_envelopes_raise_spool_format_error(data: bytes) -> None:
    with pytest.raises(SpoolFormatError):
        QueuedMessage.decode(data)


def test_subscribers_hear_of_each_put(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    heard: list[int] = []
    spool.subscribe(lambda: heard.append(len(spool.list_ids())))
    asyncio.run(spool.put(envelope(new_id(1.0)), b"x"))
    assert heard == [1]  # called after the message is committed
