"""DNS blocklists (RFC 5782) over a real DNS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType
from mailkeep.mailauth.dnsbl import DNSBLResult, Listing, check_dnsbl, query_name
from tests.dns.server import dns_server


def test_query_names() -> None:
    assert query_name("192.0.2.99", "bl.test") == "99.2.0.192.bl.test"
    assert query_name("::ffff:192.0.2.99", "bl.test.") == "99.2.0.192.bl.test"
    v6 = query_name("2001:db8:1:2:3:4:567:89ab", "bl.test")
    assert v6 == "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with dns_server() as (zones, address):
        zones.add_a("2.0.0.127.bl.test", "127.0.0.2")  # RFC 5782 5: the test entry
        zones.add_txt("2.0.0.127.bl.test", "listed for testing")
        zones.add_a("9.2.0.192.bl.test", "127.0.0.4")
        zones.add_a("9.2.0.192.odd.test", "192.0.2.1")  # not 127/8: a broken list
        zones.add_a("9.2.0.192.quota.test", "127.255.255.254")  # operator: query refused
        zones.servfail.add(("9.2.0.192.down.test", "*"))
        yield address


@pytest.mark.parametrize(
    ("ip", "zone", "listing"),
    [
        ("127.0.0.2", "bl.test", Listing.LISTED),
        ("127.0.0.1", "bl.test", Listing.NOT_LISTED),  # RFC 5782 5: never listed
        ("192.0.2.9", "bl.test", Listing.LISTED),
        ("192.0.2.9", "odd.test", Listing.ERROR),
        ("192.0.2.9", "quota.test", Listing.ERROR),
        ("192.0.2.9", "down.test", Listing.ERROR),
    ],
)
def test_listings(served: str, ip: str, zone: str, listing: Listing) -> None:
    (result,) = asyncio.run(check_dnsbl(DnspythonResolver([served], timeout=2), ip, [zone]))
    assert result.listing is listing, result


def test_reason_and_several_zones(served: str) -> None:
    results = asyncio.run(
        check_dnsbl(DnspythonResolver([served]), "127.0.0.2", ["bl.test", "other.test"])
    )
    assert results == [
        DNSBLResult("bl.test", Listing.LISTED, ("127.0.0.2",), "listed for testing"),
        DNSBLResult("other.test", Listing.NOT_LISTED),
    ]


def test_stalled_list_and_bad_ip() -> None:
    fake = FakeResolver()
    fake.stall("9.2.0.192.slow.test", RecordType.A)
    (slow,) = asyncio.run(check_dnsbl(fake, "192.0.2.9", ["slow.test"], time_limit=0.1))
    assert slow.listing is Listing.ERROR and slow.reason == "timed out"
    (bad,) = asyncio.run(check_dnsbl(fake, "not-an-ip", ["bl.test"]))
    assert bad.listing is Listing.ERROR
