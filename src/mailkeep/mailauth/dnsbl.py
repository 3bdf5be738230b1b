"""DNS blocklists (RFC 5782): is the client IP listed? A hint for the log and a header;
rejecting on it is the caller's policy.

IPv4 10.2.0.192 is asked as ``192.0.2.10.<zone>`` reversed (2.1), IPv6 as 32 reversed
nibbles (2.4). An A record in 127.0.0.0/8 means listed (2.3), TXT says why. Answers
outside 127/8, and 127.255.255.0/24 (used by operators to signal refused or over-quota
queries), are errors, never listings, so a misbehaving list cannot reject all mail.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from mailkeep.dns.resolver import RecordType, Resolver, Status


class Listing(enum.StrEnum):
    LISTED = "listed"
    NOT_LISTED = "not-listed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DNSBLResult:
    zone: str
    listing: Listing
    codes: tuple[str, ...] = ()  # the 127.x.y.z answers
    reason: str = ""  # the TXT text, or what went wrong


def query_name(ip: str, zone: str) -> str:
    """RFC 5782 2.1 and 2.4."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        labels = reversed(str(address).split("."))
    else:
        labels = reversed(address.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone.rstrip(".")


_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_OPERATOR_ERRORS = ipaddress.ip_network("127.255.255.0/24")


async def check_one(resolver: Resolver, ip: str, zone: str) -> DNSBLResult:
    name = query_name(ip, zone)
    answer = await resolver.lookup(name, RecordType.A)
    if answer.status is Status.TEMPFAIL:
        return DNSBLResult(zone, Listing.ERROR, reason=answer.reason)
    if answer.status is not Status.OK:
        return DNSBLResult(zone, Listing.NOT_LISTED)
    codes = tuple(answer.addresses())
    addresses = [ipaddress.ip_address(c) for c in codes]
    if not all(a in _LOOPBACK and a not in _OPERATOR_ERRORS for a in addresses):
        return DNSBLResult(
            zone, Listing.ERROR, codes, "answer outside 127.0.0.0/8 or an error code"
        )
    txt = await resolver.lookup(name, RecordType.TXT)
    reason = b" ".join(txt.texts()).decode("utf-8", "replace")[:200]
    return DNSBLResult(zone, Listing.LISTED, codes, reason)


async def check_dnsbl(
    resolver: Resolver, ip: str, zones: Sequence[str], *, time_limit: float = 5.0
) -> list[DNSBLResult]:
    """Ask every zone at once; a zone that does not answer in time is an error."""

    async def bounded(zone: str) -> DNSBLResult:
        try:
            async with asyncio.timeout(time_limit):
                return await check_one(resolver, ip, zone)
        except TimeoutError:
            return DNSBLResult(zone, Listing.ERROR, reason="timed out")

    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return [DNSBLResult(z, Listing.ERROR, reason="not an IP address") for z in zones]
    return list(await asyncio.gather(*(bounded(z) for z in zones)))
