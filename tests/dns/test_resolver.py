"""The resolver layer: dnspython against a real DNS server on loopback, the cache, the fake."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from dnslib import TLSA

from mailkeep.dns.blocking import BlockingLookup
from mailkeep.dns.dnspython import DnspythonResolver, parse_nameserver
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import (
    Answer,
    CachingResolver,
    MXRecord,
    RecordType,
    Status,
    TLSARecord,
)
from tests.dns.server import Zones, dns_server


@pytest.fixture(scope="module")
def served() -> object:
    zones = Zones()
    zones.add_a("mail.example.test", "192.0.2.10")
    zones.add_a("mail.example.test", "2001:db8::10")
    zones.add_mx("example.test", 10, "mail.example.test")
    zones.add_mx("example.test", 20, "backup.example.test")
    zones.add_mx("nullmx.test", 0, ".")
    zones.add_txt("example.test", "v=spf1 " + "a " * 200 + "-all")  # > 255: 2 strings
    zones.add_ptr("10.2.0.192.in-addr.arpa", "mail.example.test")
    zones.add_cname("alias.example.test", "mail.example.test")
    zones.add("_25._tcp.mail.example.test", "TLSA", TLSA(3, 1, 1, bytes(range(32))))
    zones.servfail.add(("broken.test", "*"))
    zones.validated.add("_25._tcp.mail.example.test")
    with dns_server(zones) as (zones, address):
        yield address


def run(coro: object) -> Answer:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_addresses_mx_txt_ptr_tlsa(served: str) -> None:
    resolver = DnspythonResolver([served], timeout=2)
    a = run(resolver.lookup("MAIL.example.test.", RecordType.A))
    assert (a.status, a.addresses(), a.name) == (Status.OK, ["192.0.2.10"], "mail.example.test")
    assert a.ttl == 300 and not a.authenticated
    aaaa = run(resolver.lookup("mail.example.test", RecordType.AAAA))
    assert aaaa.addresses() == ["2001:db8::10"]
    mx = run(resolver.lookup("example.test", RecordType.MX))
    assert sorted(mx.mx(), key=lambda m: m.preference) == [
        MXRecord(10, "mail.example.test"),
        MXRecord(20, "backup.example.test"),
    ]
    assert run(resolver.lookup("nullmx.test", RecordType.MX)).mx() == [MXRecord(0, "")]
    txt = run(resolver.lookup("example.test", RecordType.TXT))
    assert len(txt.records[0]) == 2  # type: ignore[arg-type]
    assert txt.texts()[0].startswith(b"v=spf1 a a") and txt.texts()[0].endswith(b"-all")
    ptr = run(resolver.lookup("10.2.0.192.in-addr.arpa", RecordType.PTR))
    assert ptr.names() == ["mail.example.test"]
    tlsa = run(resolver.lookup("_25._tcp.mail.example.test", RecordType.TLSA))
    assert tlsa.tlsa() == [TLSARecord(3, 1, 1, bytes(range(32)))]
    assert tlsa.authenticated  # the AD bit of the response is carried through


def test_cname_is_followed(served: str) -> None:
    answer = run(DnspythonResolver([served]).lookup("alias.example.test", RecordType.A))
    assert answer.status is Status.OK
    assert answer.addresses() == ["192.0.2.10"]
    assert answer.name == "alias.example.test"


def test_negative_answers(served: str) -> None:
    resolver = DnspythonResolver([served], timeout=2)
    nx = run(resolver.lookup("nothing.example.test", RecordType.A))
    assert nx.status is Status.NXDOMAIN and nx.status.is_void and nx.ttl == 300
    nodata = run(resolver.lookup("example.test", RecordType.AAAA))
    assert nodata.status is Status.NODATA and nodata.records == ()
    bad = run(resolver.lookup("a" * 64 + ".test", RecordType.TXT))
    assert bad.status is Status.NXDOMAIN and "invalid name" in bad.reason


def test_servfail_is_a_temporary_failure(served: str) -> None:
    answer = run(DnspythonResolver([served], timeout=2).lookup("broken.test", RecordType.TXT))
    assert answer.status is Status.TEMPFAIL
    assert answer.reason


def test_silent_server_times_out_quickly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:  # reads nothing, answers never
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        resolver = DnspythonResolver([f"127.0.0.1:{port}"], timeout=0.3)
        answer = run(resolver.lookup("example.test", RecordType.TXT))
    assert answer.status is Status.TEMPFAIL and "timeout" in answer.reason


def test_nameserver_forms() -> None:
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:53") == ("::1", 53)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_keeps_answers_for_their_ttl() -> None:
    fake, clock = FakeResolver(), Clock()
    fake.add_txt("example.test", "v=spf1 -all")
    fake.ttl = 60
    cache = CachingResolver(fake, clock=clock)

    async def twice() -> None:
        await cache.lookup("example.test", RecordType.TXT)
        await cache.lookup("EXAMPLE.test.", RecordType.TXT)

    asyncio.run(twice())
    assert fake.queries[("example.test", RecordType.TXT)] == 1
    assert cache.cached("example.test", RecordType.TXT) is not None
    clock.now += 61
    assert cache.cached("example.test", RecordType.TXT) is None
    asyncio.run(cache.lookup("example.test", RecordType.TXT))
    assert fake.queries[("example.test", RecordType.TXT)] == 2


def test_cache_bounds_negative_ttl_and_skips_failures() -> None:
    fake, clock = FakeResolver(), Clock()
    fake.ttl = 86_400
    fake.fail("down.test", RecordType.A)
    cache = CachingResolver(fake, negative_ttl=30, clock=clock)
    nx = asyncio.run(cache.lookup("missing.test", RecordType.A))
    assert nx.status is Status.NXDOMAIN
    clock.now += 31
    assert cache.cached("missing.test", RecordType.A) is None  # negative: at most 30 s
    asyncio.run(cache.lookup("down.test", RecordType.A))
    assert cache.cached("down.test", RecordType.A) is None  # failures are never cached


def test_cache_is_bounded_lru() -> None:
    fake = FakeResolver()
    for i in range(5):
        fake.add(f"h{i}.test", RecordType.A, f"192.0.2.{i}")
    cache = CachingResolver(fake, max_entries=3)

    async def fill() -> None:
        for i in range(5):
            await cache.lookup(f"h{i}.test", RecordType.A)

    asyncio.run(fill())
    assert len(cache) == 3
    assert cache.cached("h0.test", RecordType.A) is None
    assert cache.cached("h4.test", RecordType.A) is not None


def test_concurrent_lookups_share_one_query() -> None:
    fake = FakeResolver()
    fake.add("h.test", RecordType.A, "192.0.2.1")
    cache = CachingResolver(fake)

    async def many() -> list[Answer]:
        return await asyncio.gather(*(cache.lookup("h.test", RecordType.A) for _ in range(20)))

    answers = asyncio.run(many())
    assert {a.addresses()[0] for a in answers} == {"192.0.2.1"}
    assert fake.queries[("h.test", RecordType.A)] == 1


def test_stalled_lookup_ends_at_the_timeout() -> None:
    fake = FakeResolver()
    fake.stall("slow.test", RecordType.TXT)
    answer = asyncio.run(CachingResolver(fake, timeout=0.05).lookup("slow.test", RecordType.TXT))
    assert answer.status is Status.TEMPFAIL


def test_fake_reports_ad_bit_and_nodata() -> None:
    fake = FakeResolver()
    fake.add_tlsa("_25._tcp.mx.test", TLSARecord(3, 1, 1, b"x"))
    fake.sign("_25._tcp.mx.test")
    fake.add_name("empty.test")
    assert asyncio.run(fake.lookup("_25._tcp.mx.test", RecordType.TLSA)).authenticated
    assert asyncio.run(fake.lookup("empty.test", RecordType.A)).status is Status.NODATA


def test_blocking_lookup_from_a_worker_thread(served: str) -> None:
    cache = CachingResolver(DnspythonResolver([served]))

    async def from_thread() -> tuple[Answer, Answer, int]:
        lookup = BlockingLookup(cache, asyncio.get_running_loop(), timeout=2)

        def work() -> tuple[Answer, Answer, int]:
            assert threading.current_thread() is not threading.main_thread()
            first = lookup.lookup("mail.example.test", RecordType.A)
            second = lookup.lookup("mail.example.test", RecordType.A)
            return first, second, cache.misses

        return await asyncio.to_thread(work)

    first, second, misses = asyncio.run(from_thread())
    assert first == second and first.addresses() == ["192.0.2.10"]
    assert misses == 1  # the second came from the cache without a hop to the loop
