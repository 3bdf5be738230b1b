"""SPF through mailkeep's entry point: identities, limits, DNS failures, time bounds."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import Answer, CachingResolver, RecordType
from mailkeep.mailauth.results import SPFIdentity, SPFOutcome, SPFResult
from mailkeep.mailauth.spf import verify_spf


def zones() -> FakeResolver:
    fake = FakeResolver()
    fake.add_txt("a.test", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:b.test -all")
    fake.add_txt("b.test", "v=spf1 a:mx.b.test ~all")
    fake.add("mx.b.test", RecordType.A, "198.51.100.5")
    fake.add_txt("helo.test", "v=spf1 a -all")
    fake.add("helo.test", RecordType.A, "203.0.113.7")
    fake.add_txt("loop.test", "v=spf1 include:loop.test -all")
    fake.add_txt(
        "many.test", "v=spf1 " + " ".join(f"a:h{i}.many.test" for i in range(11)) + " -all"
    )
    for i in range(11):  # only the 11th would match: the 10-lookup limit comes first
        fake.add(f"h{i}.many.test", RecordType.A, "192.0.2.200" if i == 10 else "192.0.2.1")
    fake.add_txt("void.test", "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test -all")
    fake.add_txt("long.test", "v=spf1 " + "ip4:203.0.113.1 " * 700 + "-all")
    fake.add_txt("two.test", "v=spf1 -all")
    fake.add_txt("two.test", "v=spf1 +all")
    fake.fail("down.test", RecordType.TXT)
    return fake


def check(ip: str, mail_from: str, helo: str = "client.test", **kw: object) -> SPFOutcome:
    return asyncio.run(verify_spf(zones(), ip=ip, mail_from=mail_from, helo=helo, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ip", "mail_from", "result"),
    [
        ("192.0.2.9", "u@a.test", SPFResult.PASS),
        ("2001:db8::1", "u@A.TEST", SPFResult.PASS),
        ("198.51.100.5", "u@a.test", SPFResult.PASS),  # through include:
        ("203.0.113.9", "u@a.test", SPFResult.FAIL),
        ("203.0.113.9", "u@b.test", SPFResult.SOFTFAIL),
        ("192.0.2.9", "u@nothing.test", SPFResult.NONE),
        ("192.0.2.9", "u@down.test", SPFResult.TEMPERROR),
        ("192.0.2.9", "u@loop.test", SPFResult.PERMERROR),  # include loop
        ("192.0.2.200", "u@many.test", SPFResult.PERMERROR),  # > 10 lookups, RFC 7208 4.6.4
        ("192.0.2.9", "u@void.test", SPFResult.PERMERROR),  # > 2 void lookups
        ("192.0.2.9", "u@two.test", SPFResult.PERMERROR),  # two records, RFC 7208 4.5
        ("203.0.113.1", "u@long.test", SPFResult.PASS),  # a 11 KB record is still evaluated
        ("192.0.2.9", "a.test", SPFResult.PASS),  # no local part: postmaster (RFC 7208 4.3)
    ],
)
def test_mail_from_identity(ip: str, mail_from: str, result: SPFResult) -> None:
    outcome = check(ip, mail_from)
    assert outcome.result is result, outcome.reason
    assert outcome.identity is SPFIdentity.MAILFROM
    if result in (SPFResult.PERMERROR, SPFResult.TEMPERROR):
        assert outcome.reason


def test_null_sender_checks_the_helo_name() -> None:
    outcome = check("203.0.113.7", "", helo="helo.test")
    assert (outcome.result, outcome.identity) == (SPFResult.PASS, SPFIdentity.HELO)
    assert outcome.domain == "helo.test" and outcome.sender == "postmaster@helo.test"
    assert check("192.0.2.1", "", helo="helo.test").result is SPFResult.FAIL


def test_invalid_domains_are_none() -> None:
    assert check("192.0.2.1", "u@").result is SPFResult.NONE
    assert check("192.0.2.1", "u@bad_label..test").result is SPFResult.NONE


def test_internationalized_domain_is_checked_as_a_labels() -> None:
    fake = FakeResolver()
    fake.add_txt("xn--bcher-kva.test", "v=spf1 ip4:192.0.2.1 -all")
    outcome = asyncio.run(verify_spf(fake, ip="192.0.2.1", mail_from="u@bücher.test", helo="h"))
    assert outcome.result is SPFResult.PASS and outcome.domain == "xn--bcher-kva.test"


def test_stalled_dns_is_a_temperror_within_the_time_limit() -> None:
    fake = FakeResolver()
    fake.stall("slow.test", RecordType.TXT)
    start = time.monotonic()
    outcome = asyncio.run(
        verify_spf(fake, ip="192.0.2.1", mail_from="u@slow.test", helo="h", time_limit=0.5)
    )
    assert outcome.result is SPFResult.TEMPERROR
    assert time.monotonic() - start < 3


def test_answers_from_the_cache_give_the_same_results_without_asking_again() -> None:
    """With every answer cached the check runs on the event loop from the cache alone; a
    record missing from the cache midway (b.test, only reached through include:) sends
    the check to a thread that asks DNS; failures are never cached."""
    fake = zones()
    threads: list[int] = []

    class Recording(CachingResolver):
        def cached(self, name: str, rtype: RecordType) -> Answer | None:
            threads.append(threading.get_ident())
            return super().cached(name, rtype)

    cache = Recording(fake)

    async def run(ip: str, mail_from: str) -> SPFOutcome:
        return await verify_spf(cache, ip=ip, mail_from=mail_from, helo="client.test")

    async def scenario() -> None:
        assert (await run("192.0.2.9", "u@a.test")).result is SPFResult.PASS  # a.test only
        assert fake.queries[("b.test", RecordType.TXT)] == 0
        first = await run("198.51.100.5", "u@a.test")  # a.test cached, b.test asked
        assert first.result is SPFResult.PASS
        asked = sum(fake.queries.values())
        threads.clear()
        again = await run("198.51.100.5", "u@a.test")
        assert again == first
        assert sum(fake.queries.values()) == asked  # all from the cache
        assert set(threads) == {threading.get_ident()}  # on the loop's thread, no hop
        for _ in range(2):
            assert (await run("192.0.2.9", "u@down.test")).result is SPFResult.TEMPERROR
        assert fake.queries[("down.test", RecordType.TXT)] >= 2

    asyncio.run(scenario())
