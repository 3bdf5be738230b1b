"""MX and submission policies: recipients at RCPT time, relaying, sender ownership."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from mailkeep.delivery import routing
from mailkeep.delivery.pipeline import AcceptedRecipient, ClientInfo, Sender, Transaction
from mailkeep.delivery.ratelimit import RateLimiter
from mailkeep.delivery.submission import NO_FROM, NULL_SENDER_REFUSED
from mailkeep.mail.address import parse_address
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.store.models import Recipient
from tests.delivery.conftest import World

MX_CLIENT = ClientInfo(conn_id="c", listener="smtp", ip="192.0.2.9", helo="h.example")


def user_client(world: World, address: str) -> ClientInfo:
    user = world.directory.get_user(address)
    return dataclasses.replace(MX_CLIENT, listener="submission", user=user)


def rcpt_mx(world: World, address: str, size: int | None = None) -> AcceptedRecipient | Reply:
    t = Transaction(Sender(parse_address("s@example.org"), size=size))
    return asyncio.run(
        world.inbound.check_recipient(MX_CLIENT, t, parse_address(address), frozenset(), None)
    )


@pytest.mark.parametrize(
    ("address", "reply"),
    [
        ("nobody@example.test", routing.NO_SUCH_USER),
        ("x@remote.example", routing.RELAY_DENIED),
        ("alice@[192.0.2.1]", routing.RELAY_DENIED),
        ('"x@remote.example"@example.test', routing.NO_SUCH_USER),
        ("x%remote.example@example.test", routing.NO_SUCH_USER),
        ("remote.example!x@example.test", routing.NO_SUCH_USER),
        ("off@example.test", routing.MAILBOX_DISABLED),
    ],
)
def test_mx_refusals(world: World, address: str, reply: Reply) -> None:
    assert rcpt_mx(world, address) == reply


def test_mx_accepts_users_aliases_and_subaddresses(world: World) -> None:
    alice = world.directory.get_user("alice@example.test").id
    for address in ("alice@example.test", "ALICE+tag@Example.Test", "self@example.test"):
        got = rcpt_mx(world, address)
        assert isinstance(got, AcceptedRecipient)
        assert [r.user_id for r in got.local] == [alice]
    forwarded = rcpt_mx(world, "fwd@example.test")
    assert isinstance(forwarded, AcceptedRecipient)
    assert [r.text for r in forwarded.remote] == ["x@remote.example"]


def test_mx_quota_checks_at_rcpt(world: World) -> None:
    user = world.directory.update_user("small@example.test", quota_bytes=1000, quota_messages=0)
    assert rcpt_mx(world, "small@example.test", size=2000) == routing.MESSAGE_TOO_BIG_FOR_MAILBOX
    assert isinstance(rcpt_mx(world, "small@example.test", size=500), AcceptedRecipient)
    world.directory.update_user("small@example.test", quota_bytes=0, quota_messages=1)
    asyncio.run(world.store.deliver([Recipient(user.id)], b"Subject: x\r\n\r\n"))
    assert rcpt_mx(world, "small@example.test") == routing.MAILBOX_FULL


def test_submission_relays_for_its_users(world: World) -> None:
    client = user_client(world, "alice@example.test")
    t = Transaction(Sender(parse_address("alice@example.test")))
    got = asyncio.run(
        world.submission.check_recipient(
            client, t, parse_address("y@remote.example"), frozenset(), None
        )
    )
    assert isinstance(got, AcceptedRecipient) and got.remote == (parse_address("y@remote.example"),)


@pytest.mark.parametrize(
    ("user", "sender", "ok"),
    [
        ("alice@example.test", "alice@example.test", True),
        ("alice@example.test", "alice+lists@example.test", True),
        ("alice@example.test", "self@example.test", True),
        ("alice@example.test", "team@example.test", True),
        ("alice@example.test", "bob@example.test", False),
        ("alice@example.test", "alice@other.test", False),
        ("admin@example.test", "anyone@other.test", True),
        ("admin@example.test", "bob@example.test", False),
    ],
)
def test_submission_sender_must_be_the_users(
    world: World, user: str, sender: str, ok: bool
) -> None:
    client = user_client(world, user)
    reply = asyncio.run(world.submission.check_sender(client, Sender(parse_address(sender))))
    if ok:
        assert reply == replies.MAIL_OK
    else:
        assert (reply.code, reply.enhanced) == (550, "5.7.1")
        assert sender in reply.text and user in reply.text


def test_submission_refuses_null_sender_and_unauthenticated(world: World) -> None:
    client = user_client(world, "alice@example.test")
    assert asyncio.run(world.submission.check_sender(client, Sender(None))) == NULL_SENDER_REFUSED
    anonymous = asyncio.run(
        world.submission.check_sender(MX_CLIENT, Sender(parse_address("alice@example.test")))
    )
    assert anonymous == replies.AUTH_REQUIRED


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (b"From: Alice <alice@example.test>\r\n", True),
        (b"From: alice@example.test, self@example.test\r\n", True),
        (b"From: Friends: alice@example.test;\r\n", True),
        (b"From: Alice <alice@example.test>, Bob <bob@example.test>\r\n", False),
        (b"From: =?utf-8?q?Bob?= <bob@example.test>\r\n", False),
        (b"From: alice@example.test\r\nFrom: bob@example.test\r\n", False),
        (b"From: undisclosed\r\n", False),
        (b"Subject: no from\r\n", False),
    ],
)
def test_submission_from_header_check(world: World, header: bytes, ok: bool) -> None:
    client = user_client(world, "alice@example.test")
    got = asyncio.run(world.submission.check_from(client, header + b"\r\nbody\r\n"))
    if ok:
        assert got is None
    else:
        assert got is not None and got.code == 550
        if b"From:" not in header:
            assert got == NO_FROM


def test_missing_date_and_message_id_are_added_only_when_missing(world: World) -> None:
    added = world.submission.missing_fields(b"From: a@example.test\r\n\r\nx\r\n", "01ab")
    assert added.startswith(b"Date: ")
    assert added.endswith(b"Message-ID: <01ab@mail.example.test>\r\n")
    full = b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <m@x>\r\n\r\n"
    assert world.submission.missing_fields(full, "01ab") == b""


def test_rate_limiter_window_and_memory_bound() -> None:
    now = [0.0]
    limiter = RateLimiter(2, lambda: now[0], max_tracked=3)
    assert [limiter.allow("ip") for _ in range(3)] == [True, True, False]
    now[0] = 59.0
    assert not limiter.allow("ip")
    now[0] = 60.5
    assert limiter.allow("ip")
    for key in ("a", "b", "c", "d"):
        limiter.allow(key)
    assert limiter.allow("ip")  # forgotten (least recently seen), so counted afresh


def test_mx_catch_all_takes_unknown_local_parts_only(world: World) -> None:
    carol = world.directory.get_user("carol@example.test").id
    alice = world.directory.get_user("alice@example.test").id
    world.directory.set_catchall("example.test", "carol@example.test")
    caught = rcpt_mx(world, "never-made@example.test")
    assert isinstance(caught, AcceptedRecipient) and [r.user_id for r in caught.local] == [carol]
    own = rcpt_mx(world, "alice+tag@example.test")  # a real user (subaddress) is not caught
    assert isinstance(own, AcceptedRecipient) and [r.user_id for r in own.local] == [alice]
    assert rcpt_mx(world, "x@remote.example") == routing.RELAY_DENIED
    world.directory.set_catchall("example.test", None)
    assert rcpt_mx(world, "never-made@example.test") == routing.NO_SUCH_USER
