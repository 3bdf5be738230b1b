"""The real resolver: dnspython's asyncio stub resolver.

RFC 1035, RFC 2308 (negative answers), RFC 6840 5.7 (we set AD in queries so a validating
resolver reports DNSSEC validation in its answers' AD bit), RFC 6891 (EDNS0 buffer size).

``nameservers`` are "host:port" strings ("[v6]:port" for IPv6); none means the system's
resolv.conf. Only trust the AD bit from a validating resolver on a trusted path
(loopback): RFC 4035 4.9.3.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.rrset

from mailkeep.dns.resolver import (
    Answer,
    MXRecord,
    Rdata,
    RecordType,
    Status,
    TLSARecord,
    normalize_name,
    tempfail,
)

EDNS_PAYLOAD = 1232  # RFC 9715 / DNS flag day 2020: avoids IP fragmentation
NEGATIVE_TTL_FALLBACK = 60  # RFC 2308 5: when the response carries no SOA


def parse_nameserver(value: str) -> tuple[str, int]:
    """Split "host:port" or "[v6]:port" (the [dns] nameservers form)."""
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class DnspythonResolver:
    """A ``mailkeep.dns.resolver.Resolver`` over ``dns.asyncresolver``."""

    def __init__(self, nameservers: Sequence[str] | None = None, *, timeout: float = 5.0) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port)
                for host, port in map(parse_nameserver, nameservers)
            ]
        self._resolver.flags = dns.flags.RD | dns.flags.AD
        self._resolver.use_edns(0, 0, EDNS_PAYLOAD)
        self._resolver.cache = None  # CachingResolver above us does the caching
        self._timeout = timeout

    async def lookup(self, name: str, rtype: RecordType) -> Answer:
        name = normalize_name(name)
        try:
            qname = _qname(name)
        except (dns.exception.DNSException, UnicodeError) as exc:
            # An unrepresentable name (empty or over-long label) cannot exist.
            return Answer(name, rtype, Status.NXDOMAIN, reason=f"invalid name: {exc}")
        try:
            result = await self._resolver.resolve(
                qname,
                rtype.value,
                raise_on_no_answer=False,
                lifetime=self._timeout,
                search=False,
            )
        except dns.resolver.NXDOMAIN as exc:
            response = exc.response(qname) if qname in exc.qnames() else None  # type: ignore[no-untyped-call]
            return Answer(
                name,
                rtype,
                Status.NXDOMAIN,
                ttl=_negative_ttl(response),
                authenticated=_ad(response),
            )
        except dns.resolver.LifetimeTimeout:
            return tempfail(name, rtype, f"timeout after {self._timeout:g} s")
        except dns.resolver.NoNameservers as exc:
            if any(isinstance(e[3], dns.message.ChainTooLong) for e in exc.kwargs["errors"]):
                # a CNAME loop is the zone's lasting fault, not a reason to retry
                return Answer(name, rtype, Status.NODATA, reason="CNAME chain too long")
            return tempfail(name, rtype, f"no server answered: {_short(exc)}")
        except dns.exception.DNSException as exc:
            return tempfail(name, rtype, f"{type(exc).__name__}: {_short(exc)}")
        response = result.response
        if result.rrset is None or len(result.rrset) == 0:
            return Answer(
                name,
                rtype,
                Status.NODATA,
                ttl=_negative_ttl(response),
                authenticated=_ad(response),
            )
        return Answer(
            name,
            rtype,
            Status.OK,
            records=tuple(_convert(rtype, result.rrset)),
            ttl=result.rrset.ttl,
            authenticated=_ad(response),
        )


def _qname(name: str) -> dns.name.Name:
    """Labels taken literally (SPF macros may expand to any octets, RFC 7208 7.3);
    non-ASCII names go through IDNA."""
    if not name.isascii():
        return dns.name.from_text(name)
    labels = [label.encode("ascii") for label in name.split(".")] if name else []
    return dns.name.Name([*labels, b""])


def _convert(rtype: RecordType, rrset: dns.rrset.RRset) -> list[Rdata]:
    out: list[Rdata] = []
    for rdata in rrset:
        if rtype in (RecordType.A, RecordType.AAAA):
            out.append(str(rdata.address))
        elif rtype is RecordType.MX:
            out.append(MXRecord(int(rdata.preference), normalize_name(rdata.exchange.to_text())))
        elif rtype is RecordType.TXT:
            out.append(tuple(bytes(s) for s in rdata.strings))
        elif rtype is RecordType.PTR:
            out.append(normalize_name(rdata.target.to_text()))
        elif rtype is RecordType.TLSA:
            out.append(
                TLSARecord(int(rdata.usage), int(rdata.selector), int(rdata.mtype), rdata.cert)
            )
    return out


def _ad(response: dns.message.Message | None) -> bool:
    return response is not None and bool(response.flags & dns.flags.AD)


def _negative_ttl(response: dns.message.Message | None) -> int:
    """RFC 2308 5: the SOA's TTL, bounded by its minimum field."""
    if response is None:
        return NEGATIVE_TTL_FALLBACK
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return int(min(rrset.ttl, rrset[0].minimum))
    return NEGATIVE_TTL_FALLBACK


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
