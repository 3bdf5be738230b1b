"""Next hops for a remote domain: MX order, null MX, implicit MX, failures."""

from __future__ import annotations

import asyncio
import random

from mailkeep.delivery.destinations import NextHop, RouteFailure, find_host, find_next_hops
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType


def hops(resolver: FakeResolver, domain: str, seed: int = 0) -> tuple[NextHop, ...] | RouteFailure:
    return asyncio.run(find_next_hops(domain, resolver, rng=random.Random(seed)))


def zone() -> FakeResolver:
    resolver = FakeResolver()
    resolver.add_mx("b.test", 20, "mx3.b.test")
    resolver.add_mx("b.test", 10, "mx1.b.test")
    resolver.add_mx("b.test", 10, "mx2.b.test")
    resolver.add("mx1.b.test", RecordType.A, "127.0.0.2")
    resolver.add("mx1.b.test", RecordType.AAAA, "::1")
    resolver.add("mx2.b.test", RecordType.A, "127.0.0.3")
    resolver.add("mx3.b.test", RecordType.A, "127.0.0.4")
    return resolver


def test_preference_order_with_equal_preferences_shuffled() -> None:
    orders = set()
    for seed in range(20):
        result = hops(zone(), "b.test", seed)
        assert isinstance(result, tuple)
        assert result[-1].host == "mx3.b.test"
        orders.add(tuple(h.host for h in result[:2]))
    assert orders == {("mx1.b.test", "mx2.b.test"), ("mx2.b.test", "mx1.b.test")}


def test_ipv6_first_then_ipv4() -> None:
    result = hops(zone(), "b.test")
    assert isinstance(result, tuple)
    mx1 = next(h for h in result if h.host == "mx1.b.test")
    assert mx1.addresses == ("::1", "127.0.0.2")
    only4 = asyncio.run(find_next_hops("b.test", zone(), rng=random.Random(), ipv6=False))
    assert isinstance(only4, tuple)
    assert all(":" not in a for h in only4 for a in h.addresses)


def test_null_mx_fails_at_once() -> None:
    resolver = FakeResolver()
    resolver.add_mx("none.test", 0, ".")
    result = hops(resolver, "none.test")
    assert isinstance(result, RouteFailure) and result.permanent and result.status == "5.1.10"


def test_no_mx_falls_back_to_the_address() -> None:
    resolver = FakeResolver()
    resolver.add("plain.test", RecordType.A, "127.0.0.9")
    result = hops(resolver, "plain.test")
    assert result == (NextHop("plain.test", ("127.0.0.9",), 0),)


def test_missing_domain_is_permanent_and_dns_trouble_temporary() -> None:
    missing = hops(FakeResolver(), "nowhere.test")
    assert isinstance(missing, RouteFailure) and missing.permanent
    resolver = FakeResolver()
    resolver.fail("flaky.test", RecordType.MX)
    flaky = hops(resolver, "flaky.test")
    assert isinstance(flaky, RouteFailure) and not flaky.permanent
    assert flaky.status == "4.4.3"


def test_mx_hosts_without_addresses_defer() -> None:
    resolver = FakeResolver()
    resolver.add_mx("b.test", 10, "ghost.b.test")
    result = hops(resolver, "b.test")
    assert isinstance(result, RouteFailure) and not result.permanent


def test_address_literals_and_relay_hosts() -> None:
    assert hops(FakeResolver(), "[127.0.0.5]") == (NextHop("[127.0.0.5]", ("127.0.0.5",), 0),)
    relay = asyncio.run(find_host("127.0.0.6", FakeResolver()))
    assert relay == (NextHop("127.0.0.6", ("127.0.0.6",), 0),)
    unknown = asyncio.run(find_host("relay.test", FakeResolver()))
    assert isinstance(unknown, RouteFailure) and not unknown.permanent
