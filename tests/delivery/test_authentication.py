"""The MX's mail authentication wiring (delivery.authentication, InboundPolicy) and DKIM
signing of submissions (delivery.signing, SubmissionPolicy), over the in-memory store and
the in-memory DNS; the end-to-end runs are in tests/scenarios/test_mail_authentication.py."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from mailkeep.delivery.authentication import (
    CHECK_TIMED_OUT,
    DMARC_REJECTED,
    AuthenticationSettings,
    DMARCPolicy,
    InboundAuthenticator,
)
from mailkeep.delivery.inbound import InboundPolicy
from mailkeep.delivery.pipeline import AcceptedRecipient, ClientInfo, Sender, Transaction
from mailkeep.delivery.signing import CANNOT_SIGN, DKIMSigner
from mailkeep.delivery.submission import SubmissionPolicy
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import CachingResolver, RecordType
from mailkeep.mail.address import parse_address
from mailkeep.mailauth.dkim import sign_message, verify_dkim
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.results import DKIMResult
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.store.models import INBOX
from tests.delivery.conftest import World

HOST = "mail.example.test"
CLIENT = ClientInfo(conn_id="c", listener="smtp", ip="192.0.2.9", helo="mx.sender.test")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("dkim"))
    store.generate("sender.test", "s1")
    store.generate("example.test", "e1")
    return store


def zones(keys: KeyStore) -> FakeResolver:
    dns = FakeResolver()
    for domain in ("sender.test", "example.test"):
        for key in keys.keys(domain):
            dns.add_txt(key.record_name, key.txt_record())
        dns.add_txt(domain, "v=spf1 ip4:192.0.2.9 -all")
    dns.add_txt("_dmarc.sender.test", "v=DMARC1; p=reject")
    dns.add_txt("_dmarc.victim.test", "v=DMARC1; p=reject")
    dns.add_txt("_dmarc.quar.test", "v=DMARC1; p=quarantine")
    dns.add_txt("evil.test", "v=spf1 +all")
    dns.add("9.2.0.192.bl.test", RecordType.A, "127.0.0.2")
    dns.add_txt("9.2.0.192.bl.test", "listed for testing")
    return dns


def message(author: str, body: bytes = b"Hello.\r\n") -> bytes:
    return (
        f"From: {author}\r\nTo: alice@example.test\r\nSubject: hi\r\n"
        "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\n\r\n"
    ).encode() + body


def inbound(world: World, dns: object, **settings: object) -> InboundPolicy:
    auth = InboundAuthenticator(
        dns,  # type: ignore[arg-type]
        AuthenticationSettings(authserv_id=HOST, **settings),  # type: ignore[arg-type]
        random=lambda: 0.0,
    )
    return InboundPolicy(world.router, world.pipeline, auth)


def send(policy: InboundPolicy, world: World, mail_from: str, raw: bytes) -> Reply:
    async def run() -> Reply:
        txn = Transaction(Sender(parse_address(mail_from)))
        rcpt = await policy.check_recipient(
            CLIENT, txn, parse_address("alice@example.test"), frozenset(), None
        )
        assert isinstance(rcpt, AcceptedRecipient)
        txn.recipients.append(rcpt)
        return await policy.finish(CLIENT, txn, raw)

    return asyncio.run(run())


def stored(world: World, mailbox: str = INBOX) -> list[bytes]:
    user = world.directory.get_user("alice@example.test").id

    async def run() -> list[bytes]:
        snap = await world.store.select(user, mailbox)
        return [await world.store.read_message(user, snap.status.id, u) for u in snap.uids]

    return asyncio.run(run())


def signed(keys: KeyStore, raw: bytes) -> bytes:
    return sign_message(raw, keys.signing_keys("sender.test")) + raw


def test_passing_message_gets_our_results_and_loses_forged_ones(
    world: World, keys: KeyStore
) -> None:
    forged = (
        b"Authentication-Results: MAIL.example.test; dmarc=pass header.from=victim.test\r\n"
        b"Authentication-Results: other.example; spf=fail\r\n"
    )
    raw = signed(keys, forged + message("Bob <bob@sender.test>"))
    reply = send(inbound(world, zones(keys)), world, "bob@sender.test", raw)
    assert reply.code == 250
    [got] = stored(world)
    head = got.split(b"\r\n\r\n")[0]
    ours = [
        line
        for line in head.split(b"\r\n")
        if line.startswith(b"Authentication-Results: " + HOST.encode())
    ]
    assert len(ours) == 1
    assert b"dmarc=pass header.from=victim.test" not in got
    assert b"Authentication-Results: other.example; spf=fail" in got
    for result in (b"spf=pass", b"dkim=pass", b"dmarc=pass"):
        assert result in head


def test_forged_from_under_p_reject_is_refused(world: World, keys: KeyStore) -> None:
    raw = message("CEO <ceo@victim.test>")
    assert send(inbound(world, zones(keys)), world, "x@evil.test", raw) == DMARC_REJECTED
    assert stored(world) == []


def test_quarantine_goes_to_junk(world: World, keys: KeyStore) -> None:
    reply = send(inbound(world, zones(keys)), world, "x@evil.test", message("a@quar.test"))
    assert reply.code == 250
    assert stored(world) == []
    [junk] = stored(world, "Junk")
    assert b"dmarc=fail" in junk and b"dis=quarantine" in junk


def test_junk_policy_never_refuses(world: World, keys: KeyStore) -> None:
    policy = inbound(world, zones(keys), dmarc_policy=DMARCPolicy.JUNK)
    assert send(policy, world, "x@evil.test", message("ceo@victim.test")).code == 250
    [junk] = stored(world, "Junk")
    assert b"dis=reject" in junk


def test_record_policy_only_records(world: World, keys: KeyStore) -> None:
    policy = inbound(world, zones(keys), dmarc_policy=DMARCPolicy.RECORD)
    assert send(policy, world, "x@evil.test", message("ceo@victim.test")).code == 250
    [got] = stored(world)
    assert b"dmarc=fail" in got


def test_stalled_dns_defers_under_enforce_and_records_temperror_otherwise(
    world: World, keys: KeyStore
) -> None:
    dns = zones(keys)
    dns.stall("_dmarc.victim.test", RecordType.TXT)
    raw = message("ceo@victim.test")
    enforcing = inbound(world, dns, check_timeout=0.3)
    assert send(enforcing, world, "x@evil.test", raw) == CHECK_TIMED_OUT
    recording = inbound(world, dns, check_timeout=0.3, dmarc_policy=DMARCPolicy.RECORD)
    assert send(recording, world, "x@evil.test", raw).code == 250
    [got] = stored(world)
    assert b"spf=temperror" in got and b"dmarc=temperror" in got


def test_dnsbl_listing_is_a_header_or_a_refusal(world: World, keys: KeyStore) -> None:
    noting = inbound(world, zones(keys), dnsbl_zones=("bl.test", "clean.test"))
    assert asyncio.run(noting.check_client(CLIENT)) is None
    forged = b"X-DNSBL: zone=bl.test; result=not-listed\r\n"
    raw = signed(keys, forged + message("bob@sender.test"))
    assert send(noting, world, "bob@sender.test", raw).code == 250
    [got] = stored(world)
    assert forged not in got
    assert b'X-DNSBL: zone=bl.test; result=listed; codes=127.0.0.2; reason="listed for' in got
    assert b"X-DNSBL: zone=clean.test; result=not-listed\r\n" in got
    refusing = inbound(world, zones(keys), dnsbl_zones=("bl.test",), dnsbl_reject=True)
    reply = asyncio.run(refusing.check_client(CLIENT))
    assert reply is not None  # sent instead of the greeting
    assert (reply.code, reply.enhanced) == (554, "5.7.1") and "bl.test" in reply.text


# --- submission ------------------------------------------------------------------------


def submit(world: World, signer: DKIMSigner, raw: bytes) -> Reply:
    user = world.directory.get_user("alice@example.test")
    client = dataclasses.replace(CLIENT, listener="submission", user=user)
    policy = SubmissionPolicy(world.directory, world.router, world.pipeline, signer)

    async def run() -> Reply:
        txn = Transaction(Sender(parse_address("alice@example.test")))
        rcpt = await policy.check_recipient(
            client, txn, parse_address("bob@example.test"), frozenset(), None
        )
        assert isinstance(rcpt, AcceptedRecipient)
        txn.recipients.append(rcpt)
        return await policy.finish(client, txn, raw)

    return asyncio.run(run())


def bob_inbox(world: World) -> list[bytes]:
    user = world.directory.get_user("bob@example.test").id

    async def run() -> list[bytes]:
        snap = await world.store.select(user, INBOX)
        return [await world.store.read_message(user, snap.status.id, u) for u in snap.uids]

    return asyncio.run(run())


def test_submission_signs_with_both_keys_of_the_from_domain(world: World, keys: KeyStore) -> None:
    raw = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: s\r\n\r\nhi\r\n"
    assert submit(world, DKIMSigner(keys), raw).code == 250
    [got] = bob_inbox(world)
    assert got.count(b"DKIM-Signature:") == 2
    outcomes = asyncio.run(verify_dkim(zones(keys), got))
    assert [(o.result, o.domain) for o in outcomes] == [(DKIMResult.PASS, "example.test")] * 2
    assert {o.algorithm for o in outcomes} == {"ed25519-sha256", "rsa-sha256"}


def test_submission_without_keys_is_sent_unsigned(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: s\r\n\r\nhi\r\n"
    assert submit(world, DKIMSigner(KeyStore(tmp_path)), raw).code == 250
    [got] = bob_inbox(world)
    assert b"DKIM-Signature" not in got
    assert any("no dkim keys" in r.getMessage() for r in caplog.records)


def test_signer_rereads_keys_after_activation(keys: KeyStore, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.generate("rot.test", "old")
    signer = DKIMSigner(store)
    assert {k.selector for k in signer.signing_keys("rot.test")} == {"old-ed25519", "old-rsa"}
    store.generate("rot.test", "new")
    assert {k.selector for k in signer.signing_keys("rot.test")} == {"old-ed25519", "old-rsa"}
    store.activate("rot.test", ["new-ed25519"])
    assert [k.selector for k in signer.signing_keys("rot.test")] == ["new-ed25519"]


def test_unsignable_header_section_is_refused(world: World, keys: KeyStore) -> None:
    raw = b"From: alice@example.test\r\nno colon here\r\nSubject: s\r\n\r\nhi\r\n"
    assert submit(world, DKIMSigner(keys), raw) == CANNOT_SIGN
    assert bob_inbox(world) == []


# --- cost -------------------------------------------------------------------------------


def test_mx_path_passes_repeatedly_from_cached_dns(keys: KeyStore) -> None:
    """InboundAuthenticator.check (SPF+DKIM Ed25519+RSA+ARC+DMARC, forged results removed,
    header built) on a 4 KB message, again and again from the DNS cache (its CPU cost is a
    benchmark's question: bench/mailauth_cpu.py)."""
    body = b"".join(
        b"line %04d of a four kilobyte message body, nothing else\r\n" % i for i in range(68)
    )
    raw = signed(keys, message("Bob <bob@sender.test>", body))
    assert 4000 <= len(raw) <= 5500
    resolver = CachingResolver(zones(keys))
    auth = InboundAuthenticator(resolver, AuthenticationSettings(authserv_id=HOST))
    txn = Transaction(Sender(parse_address("bob@sender.test")))

    async def run() -> None:
        for _ in range(5):
            checked = await auth.check(CLIENT, txn, raw)
            assert not isinstance(checked, Reply) and b"dmarc=pass" in checked.fields

    asyncio.run(run())


def test_verify_off_adds_no_results_and_refuses_nothing_but_removes_forged_ones(
    world: World, keys: KeyStore
) -> None:
    """mailauth.verify = false (a checking gateway in front): p=reject is not enforced,
    no Authentication-Results are added, and none may claim our name."""
    forged = b"Authentication-Results: mail.example.test; dmarc=pass header.from=victim.test\r\n"
    policy = inbound(world, zones(keys), verify=False)
    assert send(policy, world, "x@evil.test", forged + message("ceo@victim.test")).code == 250
    [got] = stored(world)
    assert b"Authentication-Results" not in got
    assert b"ceo@victim.test" in got
