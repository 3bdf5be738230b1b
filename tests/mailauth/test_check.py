"""The whole inbound check and the Authentication-Results field; CPU per message."""

from __future__ import annotations

import asyncio

import authres
import pytest

from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.resolver import Answer, CachingResolver, RecordType
from mailkeep.mailauth.authresults import (
    authentication_results,
    claimed_authserv_id,
    remove_our_results,
)
from mailkeep.mailauth.check import Verdict, authenticate_message
from mailkeep.mailauth.dkim import sign_message
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.results import (
    Disposition,
    DKIMOutcome,
    DKIMResult,
    DMARCOutcome,
    DMARCResult,
    SPFIdentity,
    SPFOutcome,
    SPFResult,
)
from tests.dns.server import dns_server

BODY = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod.\r\n") * 56


def message(from_addr: bytes) -> bytes:
    return (
        b"From: " + from_addr + b"\r\nTo: bob@b.test\r\nSubject: report\r\n"
        b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <m1@a.test>\r\n"
        b"Authentication-Results: MX.B.TEST; spf=pass smtp.mailfrom=a.test; dmarc=pass\r\n"
        b"Authentication-Results: other.example; spf=fail\r\n\r\n" + BODY
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> object:
    keys = KeyStore(tmp_path_factory.mktemp("data"))
    keys.generate("a.test", "s")
    with dns_server() as (zones, address):
        for key in keys.keys("a.test"):
            zones.add_txt(key.record_name, key.txt_record())
        zones.add_txt("a.test", "v=spf1 ip4:192.0.2.0/24 -all")
        zones.add_txt("_dmarc.a.test", "v=DMARC1; p=reject")
        yield keys, address


def check(address: str, msg: bytes, ip: str) -> Verdict:
    resolver = CachingResolver(DnspythonResolver([address]))
    return asyncio.run(
        authenticate_message(
            resolver,
            msg,
            ip=ip,
            mail_from="alice@a.test",
            helo="mx.a.test",
            authserv_id="mx.b.test",
        )
    )


def test_signed_aligned_message_passes_everything(setup: tuple[KeyStore, str]) -> None:
    keys, address = setup
    msg = message(b"Alice <alice@a.test>")
    verdict = check(address, sign_message(msg, keys.signing_keys("a.test")) + msg, "192.0.2.7")
    assert verdict.spf.result is SPFResult.PASS
    assert [d.result for d in verdict.dkim] == [DKIMResult.PASS, DKIMResult.PASS]
    assert verdict.dmarc.result is DMARCResult.PASS
    assert verdict.disposition is Disposition.NONE
    header = verdict.header.decode()
    assert header.startswith("Authentication-Results: mx.b.test;\r\n\tspf=pass")
    stamped = verdict.stamp(msg, "mx.b.test")
    assert stamped.count(b"Authentication-Results: other.example") == 1
    assert b"MX.B.TEST" not in stamped  # the forged result claiming our id is gone


def test_forged_from_fails_dmarc_and_asks_for_reject(setup: tuple[KeyStore, str]) -> None:
    _, address = setup
    verdict = check(address, message(b"Alice <alice@a.test>"), "203.0.113.9")
    assert verdict.spf.result is SPFResult.FAIL
    assert verdict.dmarc.result is DMARCResult.FAIL
    assert verdict.disposition is Disposition.REJECT
    assert b"dmarc=fail" in verdict.header


def test_header_parses_back_with_authres() -> None:
    field = authentication_results(
        "mx.b.test",
        spf=SPFOutcome(
            SPFResult.TEMPERROR, SPFIdentity.HELO, "h.test", "postmaster@h.test", 'DNS "x"'
        ),
        dkim=[
            DKIMOutcome(DKIMResult.PERMERROR, "a.test", "s", "rsa-sha256", "", "abcdefgh", "no key")
        ],
        dmarc=DMARCOutcome(DMARCResult.NONE, "a.test", reason="no DMARC record"),
    )
    unfolded = field.decode().replace("\r\n\t", " ").strip()
    parsed = authres.AuthenticationResultsHeader.parse(unfolded)
    assert parsed.authserv_id == "mx.b.test"
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "temperror"),
        ("dkim", "permerror"),
        ("dmarc", "none"),
    ]
    assert parsed.results[0].reason == "DNS 'x'"


@pytest.mark.parametrize(
    ("value", "claimed"),
    [
        (b" mx.b.test; spf=pass", "mx.b.test"),
        (b" (comment (nested)) MX.B.test 1; none", "mx.b.test"),
        (b' "mx.b.test"; none', "mx.b.test"),
        (b" other.test;", "other.test"),
        (b"", ""),
    ],
)
def test_claimed_authserv_id(value: bytes, claimed: str) -> None:
    assert claimed_authserv_id(value) == claimed


def test_remove_our_results_keeps_body_and_other_fields() -> None:
    msg = (
        b"Authentication-Results: mx.b.test;\r\n\tdkim=pass\r\nX: 1\r\n"
        b"authentication-results : mx.b.test.; spf=pass\r\n\r\n"
        b"Authentication-Results: mx.b.test; in the body\r\n"
    )
    assert remove_our_results(msg, "mx.b.test") == (
        b"X: 1\r\n\r\nAuthentication-Results: mx.b.test; in the body\r\n"
    )
    assert remove_our_results(b"Subject: x\n\nbody", "mx.b.test") == b"Subject: x\n\nbody"


def test_repeated_checks_are_answered_from_the_dns_cache(setup: tuple[KeyStore, str]) -> None:
    """The MX path's steady state: after the first message, no DNS query per message (the
    CPU cost of that path is measured by bench/mailauth_cpu.py, not here)."""
    keys, address = setup
    msg = message(b"Alice <alice@a.test>")
    signed = sign_message(msg, keys.signing_keys("a.test")) + msg
    inner = CountingResolver(DnspythonResolver([address]))
    resolver = CachingResolver(inner)

    async def run() -> list[int]:
        counts = []
        for _ in range(5):
            verdict = await authenticate_message(
                resolver, signed, ip="192.0.2.7", mail_from="alice@a.test",
                helo="mx.a.test", authserv_id="mx.b.test",
            )  # fmt: skip
            assert verdict.dmarc.result is DMARCResult.PASS
            counts.append(inner.queries)
        return counts

    counts = asyncio.run(run())
    assert counts[0] > 0
    assert counts[1:] == [counts[0]] * 4


class CountingResolver:
    """Counts the lookups that reach the real resolver."""

    def __init__(self, inner: DnspythonResolver) -> None:
        self.inner = inner
        self.queries = 0

    async def lookup(self, name: str, rtype: RecordType) -> Answer:
        self.queries += 1
        return await self.inner.lookup(name, rtype)
