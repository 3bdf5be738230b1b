"""Where mail for a remote domain goes: the next-hop hosts and their addresses.

RFC 5321 5.1 (MX lookup, preference order, equal preferences in random order, the implicit
MX of a domain with only A/AAAA), RFC 7505 (null MX: the domain takes no mail, fail at
once with 5.1.10), RFC 3463 (4.4.3 directory server failure, 5.1.2 bad destination).

(Inbound recipient routing lives in delivery.routing; this is the outbound side.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from dataclasses import dataclass

from mailkeep.dns.resolver import Answer, RecordType, Resolver, Status


@dataclass(frozen=True, slots=True)
class NextHop:
    """One host to try, with its addresses in the order to try them."""

    host: str  # the MX exchange (or the domain for an implicit MX), lower case
    addresses: tuple[str, ...]
    preference: int
    mx_authenticated: bool = False  # the MX answer had the AD bit (RFC 7672 2.2.1)


@dataclass(frozen=True, slots=True)
class RouteFailure:
    """No host to try: ``permanent`` bounces at once, otherwise the queue defers."""

    permanent: bool
    status: str  # RFC 3463 code
    detail: str


def _literal(domain: str) -> str | None:
    """The address of an address-literal domain ("[192.0.2.1]", "[IPv6:2001:db8::1]")."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    text = domain[1:-1]
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


async def _addresses(resolver: Resolver, host: str, *, ipv6: bool) -> tuple[list[str], bool]:
    """(addresses, any lookup failed temporarily): AAAA first when ``ipv6``, then A."""
    kinds = [RecordType.AAAA, RecordType.A] if ipv6 else [RecordType.A]
    answers: list[Answer] = await asyncio.gather(*(resolver.lookup(host, k) for k in kinds))
    found: list[str] = []
    for answer in answers:
        found.extend(answer.addresses())
    return found, any(a.status is Status.TEMPFAIL for a in answers)


async def find_next_hops(
    domain: str, resolver: Resolver, *, rng: random.Random, ipv6: bool = True
) -> tuple[NextHop, ...] | RouteFailure:
    """The hosts to try for ``domain`` in order, or why there are none."""
    literal = _literal(domain)
    if literal is not None:
        return (NextHop(domain, (literal,), 0),)
    answer = await resolver.lookup(domain, RecordType.MX)
    if answer.status is Status.TEMPFAIL:
        return RouteFailure(False, "4.4.3", f"MX lookup for {domain} failed: {answer.reason}")
    if answer.status is Status.NXDOMAIN:
        return RouteFailure(True, "5.1.2", f"the domain {domain} does not exist")
    records = answer.mx()
    if answer.status is Status.NODATA or not records:
        return await _implicit_mx(domain, resolver, ipv6=ipv6)
    if any(r.exchange in ("", ".") for r in records):  # RFC 7505 3: null MX
        return RouteFailure(True, "5.1.10", f"the domain {domain} accepts no mail (null MX)")
    by_preference: dict[int, list[str]] = {}
    for record in records:
        by_preference.setdefault(record.preference, []).append(record.exchange)
    ordered: list[tuple[int, str]] = []
    for preference in sorted(by_preference):
        hosts = sorted(set(by_preference[preference]))
        rng.shuffle(hosts)  # RFC 5321 5.1: spread load over equal preferences
        ordered.extend((preference, host) for host in hosts)
    looked_up = await asyncio.gather(*(_addresses(resolver, h, ipv6=ipv6) for _, h in ordered))
    hops = [
        NextHop(host, tuple(addresses), preference, answer.authenticated)
        for (preference, host), (addresses, _) in zip(ordered, looked_up, strict=True)
        if addresses
    ]
    if hops:
        return tuple(hops)
    if any(failed for _, failed in looked_up):
        return RouteFailure(False, "4.4.3", f"address lookups for the MX hosts of {domain} failed")
    return RouteFailure(False, "4.4.4", f"no MX host of {domain} has an address")


async def _implicit_mx(
    domain: str, resolver: Resolver, *, ipv6: bool
) -> tuple[NextHop, ...] | RouteFailure:
    """RFC 5321 5.1: no MX records, so the domain itself is the host (A/AAAA)."""
    addresses, failed = await _addresses(resolver, domain, ipv6=ipv6)
    if addresses:
        return (NextHop(domain, tuple(addresses), 0),)
    if failed:
        return RouteFailure(False, "4.4.3", f"address lookup for {domain} failed")
    return RouteFailure(True, "5.1.2", f"the domain {domain} has no MX and no address")


async def find_host(
    host: str, resolver: Resolver, *, ipv6: bool = True
) -> tuple[NextHop, ...] | RouteFailure:
    """A configured relay host (no MX lookup): its addresses, or why there are none."""
    literal = _literal(host) or _ip(host)
    if literal is not None:
        return (NextHop(host, (literal,), 0),)
    addresses, failed = await _addresses(resolver, host, ipv6=ipv6)
    if addresses:
        return (NextHop(host, tuple(addresses), 0),)
    return RouteFailure(False, "4.4.3" if failed else "4.4.4", f"relay host {host} not found")


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
