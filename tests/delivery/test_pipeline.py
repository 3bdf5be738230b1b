"""Delivery after the end of DATA: trace fields, one copy per user, spool, failures."""

from __future__ import annotations

import asyncio
import dataclasses
import re

from mailkeep.delivery.pipeline import (
    QUOTA_EXCEEDED,
    SPOOL_UNAVAILABLE,
    AcceptedRecipient,
    ClientInfo,
    Sender,
    Transaction,
    received_field,
)
from mailkeep.mail.address import Address, parse_address
from mailkeep.protocol.smtp.grammar import Notify, Ret
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.store.models import INBOX, Quota, Recipient
from tests.delivery.conftest import World

CLIENT = ClientInfo(conn_id="c1", listener="smtp", ip="192.0.2.7", helo="mx.example.org")
TLS_CLIENT = ClientInfo(
    conn_id="c2",
    listener="smtp",
    ip="2001:db8::7",
    helo="mx.example.org",
    tls_version="TLSv1.3",
    tls_cipher="TLS_AES_256_GCM_SHA384",
    tls_bits=256,
)
RAW = b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
DATE = "Wed, 25 Nov 2026 12:00:00 -0000"


def a(text: str) -> Address:
    return parse_address(text)


def txn(*recipients: AcceptedRecipient, sender: str | None = "a@example.org") -> Transaction:
    return Transaction(Sender(a(sender) if sender else None), list(recipients))


def inbox(world: World, address: str) -> list[bytes]:
    user_id = world.directory.get_user(address).id

    async def run() -> list[bytes]:
        snap = await world.store.select(user_id, INBOX)
        return [await world.store.read_message(user_id, snap.status.id, u) for u in snap.uids]

    return asyncio.run(run())


def local(world: World, address: str, quota: Quota | None = None) -> Recipient:
    return Recipient(world.directory.get_user(address).id, quota or Quota())


def deliver(
    world: World, client: ClientInfo, t: Transaction, raw: bytes = RAW, message_id: str = "01ab"
) -> Reply:
    prepend = world.pipeline.received_field(client, t, message_id)
    return asyncio.run(
        world.pipeline.deliver(client, t, raw, message_id=message_id, prepend=prepend)
    )


def test_received_field_plain_single_recipient() -> None:
    t = txn(AcceptedRecipient(a("bob@example.test")))
    field = received_field(CLIENT, t, hostname="mail.example.test", message_id="01ab", date=DATE)
    assert field == (
        b"Received: from mx.example.org ([192.0.2.7])\r\n"
        b"\tby mail.example.test (mailkeep)\r\n"
        b"\twith ESMTP id 01ab\r\n"
        b"\tfor <bob@example.test>;\r\n"
        b"\tWed, 25 Nov 2026 12:00:00 -0000\r\n"
    )


def test_received_field_with_tls_auth_and_several_recipients(world: World) -> None:
    user = world.directory.get_user("alice@example.test")
    client = dataclasses.replace(TLS_CLIENT, user=user)
    t = txn(AcceptedRecipient(a("bob@example.test")), AcceptedRecipient(a("c@remote.example")))
    field = received_field(client, t, hostname="h.test", message_id="01", date=DATE)
    assert b"from mx.example.org ([IPv6:2001:db8::7])" in field
    assert b"\twith ESMTPSA id 01\r\n" in field
    assert b"for <" not in field  # RFC 5321 7.2: never list several recipients
    assert b"\ttls TLS_AES_256_GCM_SHA384 (TLSv1.3 256 bits);\r\n" in field


def test_received_field_neutralises_control_characters_in_helo() -> None:
    client = ClientInfo(conn_id="c", listener="smtp", ip="192.0.2.1", helo="evil\r\nX-Bad: 1")
    field = received_field(client, txn(), hostname="h", message_id="1", date=DATE)
    assert b"\r\nX-Bad" not in field
    assert field.count(b"\r\n") == 4


def test_local_copies_get_return_path_and_one_copy_per_user(world: World) -> None:
    alice, bob = local(world, "alice@example.test"), local(world, "bob@example.test")
    t = txn(
        AcceptedRecipient(a("team@example.test"), (alice, bob)),
        AcceptedRecipient(a("alice@example.test"), (alice,)),
    )
    reply = deliver(world, CLIENT, t)
    assert reply.code == 250 and "01ab" in reply.text
    for name in ("alice", "bob"):
        [stored] = inbox(world, f"{name}@example.test")
        assert stored.startswith(b"Return-Path: <a@example.org>\r\nReceived: from mx.example.org")
        assert stored.endswith(RAW)
    assert world.spool.list_ids() == []


def test_null_sender_gives_an_empty_return_path(world: World) -> None:
    t = txn(
        AcceptedRecipient(a("bob@example.test"), (local(world, "bob@example.test"),)), sender=None
    )
    assert deliver(world, CLIENT, t).code == 250
    assert inbox(world, "bob@example.test")[0].startswith(b"Return-Path: <>\r\n")


def test_remote_recipients_are_spooled_with_dsn_parameters(world: World) -> None:
    t = Transaction(
        Sender(a("a@example.org"), ret=Ret.FULL, envid="e1", requiretls=True),
        [
            AcceptedRecipient(
                a("fwd@example.test"),
                (local(world, "alice@example.test"),),
                (a("x@remote.example"),),
                frozenset({Notify.NEVER}),
            )
        ],
    )
    assert deliver(world, CLIENT, t).code == 250
    [spool_id] = world.spool.list_ids()
    assert spool_id == "01ab"
    queued = world.spool.load_sync(spool_id)
    assert (queued.mail_from, queued.ret, queued.envid, queued.requiretls) == (
        "a@example.org",
        Ret.FULL,
        "e1",
        True,
    )
    [rcpt] = queued.recipients
    assert (rcpt.address, rcpt.notify, rcpt.orcpt) == (
        "x@remote.example",
        frozenset({Notify.NEVER}),
        ("rfc822", "fwd@example.test"),
    )
    stored = world.spool.read_message_sync(spool_id)
    assert stored.startswith(b"Received: ") and stored.endswith(RAW)
    assert queued.size == len(stored)


def test_every_copy_over_quota_refuses_the_message(world: World) -> None:
    small = local(world, "small@example.test", Quota(max_messages=1))
    assert (
        deliver(world, CLIENT, txn(AcceptedRecipient(a("small@example.test"), (small,)))).code
        == 250
    )
    again = deliver(world, CLIENT, txn(AcceptedRecipient(a("small@example.test"), (small,))))
    assert again == QUOTA_EXCEEDED
    assert len(inbox(world, "small@example.test")) == 1


def test_a_refused_copy_beside_accepted_ones_is_spooled_for_retry(world: World) -> None:
    small = local(world, "small@example.test", Quota(max_messages=1))
    deliver(world, CLIENT, txn(AcceptedRecipient(a("small@example.test"), (small,))))
    bob = local(world, "bob@example.test")
    t = txn(
        AcceptedRecipient(a("small@example.test"), (small,)),
        AcceptedRecipient(a("bob@example.test"), (bob,)),
    )
    assert deliver(world, CLIENT, t).code == 250
    assert len(inbox(world, "bob@example.test")) == 1
    [queued] = [world.spool.load_sync(i) for i in world.spool.list_ids()]
    [rcpt] = queued.recipients
    assert rcpt.local_user_id == small.user_id
    assert rcpt.last_error is not None and "quota" in rcpt.last_error
    assert rcpt.local_mailbox is None  # INBOX


def test_a_refused_junk_copy_is_spooled_with_its_mailbox(world: World) -> None:
    """A DMARC quarantine's copy that the store refused is retried into Junk, not INBOX."""
    small = local(world, "small@example.test", Quota(max_messages=1))
    deliver(world, CLIENT, txn(AcceptedRecipient(a("small@example.test"), (small,))))
    junk = dataclasses.replace(small, mailbox="Junk")
    bob = dataclasses.replace(local(world, "bob@example.test"), mailbox="Junk")
    t = txn(
        AcceptedRecipient(a("small@example.test"), (junk,)),
        AcceptedRecipient(a("bob@example.test"), (bob,)),
    )
    assert deliver(world, CLIENT, t).code == 250
    [queued] = [world.spool.load_sync(i) for i in world.spool.list_ids()]
    [rcpt] = queued.recipients
    assert (rcpt.local_user_id, rcpt.local_mailbox) == (small.user_id, "Junk")


def test_spool_failure_is_a_temporary_error(world: World) -> None:
    messages = world.spool.root / "messages"
    messages.rmdir()
    messages.write_bytes(b"")  # the directory is gone: every write fails
    t = txn(AcceptedRecipient(a("x@remote.example"), (), (a("x@remote.example"),)))
    assert deliver(world, CLIENT, t) == SPOOL_UNAVAILABLE


def test_received_date_uses_the_clock(world: World) -> None:
    t = txn(AcceptedRecipient(a("bob@example.test"), (local(world, "bob@example.test"),)))
    field = world.pipeline.received_field(CLIENT, t, "01")
    assert re.search(rb"\t\w{3}, \d{2} \w{3} 2026 \d{2}:\d{2}:\d{2} -0000\r\n$", field)


def _break_spool(world: World) -> None:
    """A real write failure: the messages directory becomes a file."""
    messages = world.spool.root / "messages"
    messages.rename(world.spool.root / "messages.away")
    messages.write_bytes(b"")


def _mend_spool(world: World) -> None:
    messages = world.spool.root / "messages"
    messages.unlink()
    (world.spool.root / "messages.away").rename(messages)


def test_spool_failure_comes_before_any_local_copy(world: World) -> None:
    bob = local(world, "bob@example.test")
    t = txn(
        AcceptedRecipient(a("bob@example.test"), (bob,)),
        AcceptedRecipient(a("x@remote.example"), (), (a("x@remote.example"),)),
    )
    _break_spool(world)
    assert deliver(world, CLIENT, t) == SPOOL_UNAVAILABLE
    assert inbox(world, "bob@example.test") == []  # nothing durable: the retry cannot duplicate
    _mend_spool(world)
    assert deliver(world, CLIENT, t, message_id="02cd").code == 250
    assert len(inbox(world, "bob@example.test")) == 1
    assert len(world.spool.list_ids()) == 1


def test_retry_after_a_late_spool_failure_does_not_duplicate(world: World) -> None:
    """A refused copy beside an accepted one needs a spool write after the local copies;
    when it fails, the client's retry of the same message delivers only what is missing."""
    small = local(world, "small@example.test", Quota(max_messages=1))
    deliver(world, CLIENT, txn(AcceptedRecipient(a("small@example.test"), (small,))), b"first\r\n")
    bob = local(world, "bob@example.test")
    t = txn(
        AcceptedRecipient(a("small@example.test"), (small,)),
        AcceptedRecipient(a("bob@example.test"), (bob,)),
        AcceptedRecipient(a("x@remote.example"), (), (a("x@remote.example"),)),
    )
    ids_before = set(world.spool.list_ids())
    # The remote part goes first and succeeds; then break the spool for the retry copy.
    real_put = world.spool.put_sync
    calls: list[str] = []

    def put_then_break(envelope, raw):  # type: ignore[no-untyped-def]
        calls.append(envelope.id)
        real_put(envelope, raw)
        if len(calls) == 1:
            _break_spool(world)

    world.spool.put_sync = put_then_break  # type: ignore[method-assign]
    assert deliver(world, CLIENT, t) == SPOOL_UNAVAILABLE
    assert len(calls) == 2  # the remote part, then the failed retry copy
    assert len(inbox(world, "bob@example.test")) == 1
    assert len(world.pipeline.ledger) == 1
    _mend_spool(world)
    assert deliver(world, CLIENT, t, message_id="02cd").code == 250  # the retry, same bytes
    assert len(inbox(world, "bob@example.test")) == 1  # not twice
    new = [world.spool.load_sync(i) for i in set(world.spool.list_ids()) - ids_before]
    remote = [q for q in new if any(r.local_user_id is None for r in q.recipients)]
    retry = [q for q in new if all(r.local_user_id is not None for r in q.recipients)]
    assert [r.address for q in remote for r in q.recipients] == ["x@remote.example"]
    assert [r.local_user_id for q in retry for r in q.recipients] == [small.user_id]
    assert len(world.pipeline.ledger) == 0  # done: the entry is forgotten


def test_another_message_from_the_same_sender_is_not_held_back(world: World) -> None:
    bob = local(world, "bob@example.test")
    t = txn(AcceptedRecipient(a("bob@example.test"), (bob,)))
    world.pipeline.ledger.record(
        None, t.sender.address, RAW, local_user_ids=[bob.user_id], remote_keys=[]
    )
    assert deliver(world, CLIENT, t, RAW + b"other\r\n").code == 250
    assert len(inbox(world, "bob@example.test")) == 1
    assert deliver(world, CLIENT, t, RAW).code == 250  # the remembered one: already there
    assert len(inbox(world, "bob@example.test")) == 1
