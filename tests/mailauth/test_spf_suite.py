"""The RFC 7208 SPF test suite (the YAML pyspf's own tests use, as Debian's python3-spf
ships it) run through ``verify_spf`` with each scenario's DNS data served by a real DNS
server on loopback (dnslib) and looked up by mailkeep's dnspython resolver."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import pytest

from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.resolver import CachingResolver
from mailkeep.mailauth.spf import verify_spf
from tests.dns.server import Zones, dns_server
from tests.tools import REQUIRE_TOOLS

SUITE = Path("/usr/share/doc/python3-spf/rfc7208-tests.yml.gz")
yaml = pytest.importorskip("yaml")


def _scenarios() -> list[dict[str, Any]]:
    if not SUITE.exists():
        if REQUIRE_TOOLS:
            pytest.fail(f"{SUITE} missing: install python3-spf (see .ci/debian-packages)")
        return []
    with gzip.open(SUITE, "rt", encoding="utf-8") as f:
        return [s for s in yaml.safe_load_all(f) if s]


SCENARIOS = _scenarios()
CASES = [
    pytest.param(index, name, id=name)
    for index, scenario in enumerate(SCENARIOS)
    for name in scenario["tests"]
]


def _load(zones: Zones, zonedata: dict[str, list[Any]]) -> None:
    """The suite's zone format: name → [{TYPE: value} | "TIMEOUT"]; SPF-type records are
    also served as TXT when the name has no TXT (as the suite's drivers do)."""
    zones.clear()
    for name, records in zonedata.items():
        zones.names.add(name.rstrip(".").lower())
        has_txt = any(isinstance(r, dict) and "TXT" in r for r in records)
        seen: set[str] = set()
        for record in records:
            if record == "TIMEOUT":  # times out for the types not listed before it
                for rtype in {"A", "AAAA", "MX", "PTR", "TXT", "CNAME"} - seen:
                    zones.servfail.add((name.lower(), rtype))
                continue
            ((rtype, value),) = record.items()
            if value != "NONE" and not (rtype == "SPF" and has_txt):
                seen.add("TXT" if rtype == "SPF" else rtype)
            if value == "TIMEOUT":
                if rtype != "SPF":  # type 99 is never asked for (RFC 7208 3.1)
                    zones.servfail.add((name.lower(), rtype))
                continue
            if rtype == "SPF":
                if has_txt or value == "NONE":
                    continue
                rtype = "TXT"
            if rtype == "TXT":
                if value == "NONE":
                    continue
                strings = value if isinstance(value, list) else [value]
                if not strings:  # RFC 1035 3.3.14: a TXT needs a string; none can be served
                    continue
                zones.add_txt(name, *[s.encode("utf-8") for s in strings])
            elif rtype in ("A", "AAAA"):
                zones.add_a(name, value)
            elif rtype == "MX":
                zones.add_mx(name, int(value[0]), value[1] or ".")
            elif rtype == "PTR":
                zones.add_ptr(name, value)
            elif rtype == "CNAME":
                zones.add_cname(name, value)


@pytest.fixture(scope="module")
def server() -> Any:
    with dns_server() as (zones, address):
        yield zones, address


@pytest.mark.skipif(not SCENARIOS, reason="RFC 7208 suite not installed (python3-spf)")
@pytest.mark.parametrize(("index", "name"), CASES)
def test_rfc7208_case(server: tuple[Zones, str], index: int, name: str) -> None:
    zones, address = server
    scenario = SCENARIOS[index]
    case = scenario["tests"][name]
    _load(zones, scenario["zonedata"])
    resolver = CachingResolver(DnspythonResolver([address], timeout=2), timeout=2)
    outcome = asyncio.run(
        verify_spf(
            resolver,
            ip=case["host"],
            mail_from=case.get("mailfrom", ""),
            helo=case.get("helo", ""),
            receiver="receiver.test",
        )
    )
    expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
    assert outcome.result.value in expected, f"{case.get('description', '')} {outcome.reason}"
    if "explanation" in case and outcome.result.value == "fail":
        explanation = case["explanation"]
        assert outcome.reason == (
            "SPF fail - not authorized" if explanation == "DEFAULT" else explanation
        )
