"""A real DNS server on loopback for tests: dnslib serving zones held in a dict.

UDP and TCP on one port of 127.0.0.1. Names never added answer NXDOMAIN, names with other
types NODATA (with an SOA in the authority section), names marked ``servfail`` SERVFAIL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.dns import RD
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


class _Quiet(DNSLogger):
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


class Zones(BaseResolver):  # type: ignore[misc]
    """The records served; edit them while the server runs."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[RD]] = {}
        self.names: set[str] = set()
        self.servfail: set[tuple[str, str]] = set()  # (name, qtype); qtype "*" for all
        self.validated: set[str] = set()  # names answered with AD set, as a validator would
        self.ttl = 300

    @staticmethod
    def _key(name: str) -> str:
        return name.rstrip(".").lower()

    def add(self, name: str, qtype: str, rdata: RD) -> None:
        name = self._key(name)
        self.names.add(name)
        self.records.setdefault((name, qtype), []).append(rdata)

    def add_txt(self, name: str, *strings: str | bytes) -> None:
        """One TXT record; a long str is split into 255-octet character-strings."""
        if len(strings) == 1 and isinstance(strings[0], str):
            data = strings[0].encode()
            parts: list[bytes] = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
        else:
            parts = [s.encode() if isinstance(s, str) else s for s in strings]
        self.add(name, "TXT", TXT(parts))

    def add_a(self, name: str, address: str) -> None:
        self.add(name, "AAAA" if ":" in address else "A", (AAAA if ":" in address else A)(address))

    def add_mx(self, name: str, preference: int, exchange: str) -> None:
        self.add(name, "MX", MX(exchange.rstrip(".") + ".", preference))

    def add_ptr(self, name: str, target: str) -> None:
        self.add(name, "PTR", PTR(target.rstrip(".") + "."))

    def add_cname(self, name: str, target: str) -> None:
        self.add(name, "CNAME", CNAME(target.rstrip(".") + "."))

    def clear(self) -> None:
        self.records.clear()
        self.names.clear()
        self.servfail.clear()
        self.validated.clear()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = request.q.qname
        name = self._key(".".join(label.decode("latin-1") for label in qname.label))
        reply.header.ad = int(name in self.validated)
        qtype = QTYPE[request.q.qtype]
        if (name, qtype) in self.servfail or (name, "*") in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        seen = 0
        while (name, "CNAME") in self.records and qtype != "CNAME" and seen < 8:
            target = self.records[(name, "CNAME")][0]
            reply.add_answer(RR(qname, QTYPE.CNAME, rdata=target, ttl=self.ttl))
            qname = target.label
            name = self._key(".".join(label.decode("latin-1") for label in qname.label))
            seen += 1
        rdatas = self.records.get((name, qtype), [])
        for rdata in rdatas:
            reply.add_answer(RR(qname, getattr(QTYPE, qtype), rdata=rdata, ttl=self.ttl))
        if not rdatas:
            if name not in self.names:
                reply.header.rcode = RCODE.NXDOMAIN
            soa = SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, self.ttl))
            reply.add_auth(RR("test.", QTYPE.SOA, rdata=soa, ttl=self.ttl))
        return reply


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


@contextmanager
def dns_server(zones: Zones | None = None) -> Iterator[tuple[Zones, str]]:
    """Run a server for ``zones``; yields (zones, "127.0.0.1:port")."""
    zones = zones or Zones()
    port = _free_port()
    servers = [
        DNSServer(zones, port=port, address="127.0.0.1", tcp=tcp, logger=_Quiet())
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    try:
        yield zones, f"127.0.0.1:{port}"
    finally:
        for server in servers:
            server.server.shutdown()
            server.server.server_close()
