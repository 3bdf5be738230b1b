"""The AD bit through a real validating resolver: Knot DNS signs the zones (DNSSEC on the
fly), Unbound validates them with the zone's DS as trust anchor, and mailkeep's dnspython
resolver asks Unbound. Signed answers carry AD; an insecure zone's do not; a zone whose
signatures do not match its trust anchor is SERVFAIL (bogus), a temporary failure."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.resolver import Answer, RecordType, Status, TLSARecord
from tests.tools import require_tool

pytestmark = pytest.mark.interop

ZONE = """$ORIGIN {name}.
$TTL 300
@ SOA ns.{name}. hostmaster.{name}. 1 3600 600 86400 300
@ NS ns.{name}.
ns A 127.0.0.1
@ TXT "v=spf1 -all"
_25._tcp.mx TLSA 3 1 1 {tlsa}
"""
TLSA_DATA = bytes(range(1, 33))
# a DS record for a key that does not exist: validation of bogus.test must fail
FAKE_DS = "bogus.test. DS 11111 13 2 " + "ab" * 32


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_answering(port: int, name: str, deadline: float) -> None:
    resolver = DnspythonResolver([f"127.0.0.1:{port}"], timeout=0.5)
    while time.monotonic() < deadline:
        answer = asyncio.run(resolver.lookup(name, RecordType.TXT))
        if answer.status is Status.OK:
            return
        time.sleep(0.2)
    raise AssertionError(f"no answer for {name} on port {port}")


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def validating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    knotd, keymgr = require_tool("knotd"), require_tool("keymgr")
    unbound = require_tool("unbound")
    work = tmp_path_factory.mktemp("dnssec")
    (work / "db").mkdir()
    zones = ("signed.test", "plain.test", "bogus.test")
    for name in zones:
        (work / f"{name}.zone").write_text(ZONE.format(name=name, tlsa=TLSA_DATA.hex()))
    knot_port, unbound_port = _port(), _port()
    zone_conf = "".join(
        f"  - domain: {name}\n    storage: {work}\n    file: {name}.zone\n"
        + ("    dnssec-signing: on\n    dnssec-policy: ecdsa\n" if name != "plain.test" else "")
        for name in zones
    )
    (work / "knot.conf").write_text(
        f"server:\n    listen: 127.0.0.1@{knot_port}\n    rundir: {work}\n    user: root:root\n"
        f"database:\n    storage: {work}/db\n"
        "log:\n  - target: stderr\n    any: warning\n"
        "policy:\n  - id: ecdsa\n    algorithm: ecdsap256sha256\n"
        f"zone:\n{zone_conf}"
    )
    processes = [_start([knotd, "-c", str(work / "knot.conf")], work / "knot.log")]
    try:
        deadline = time.monotonic() + 20
        _wait_until_answering(knot_port, "signed.test", deadline)
        ds = ""
        while not ds and time.monotonic() < deadline:  # keys exist once signing has run
            out = subprocess.run(
                [keymgr, "-c", str(work / "knot.conf"), "signed.test", "ds"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            ds = next((line for line in out.stdout.splitlines() if " 13 2 " in line), "")
        stubs = "".join(
            f'stub-zone:\n    name: "{name}"\n    stub-addr: 127.0.0.1@{knot_port}\n'
            for name in zones
        )
        (work / "unbound.conf").write_text(
            "server:\n"
            f"    interface: 127.0.0.1\n    port: {unbound_port}\n"
            "    do-not-query-localhost: no\n"
            f'    username: ""\n    chroot: ""\n    directory: "{work}"\n'
            f'    pidfile: "{work}/unbound.pid"\n    use-syslog: no\n    logfile: ""\n'
            '    module-config: "validator iterator"\n'
            '    local-zone: "test." nodefault\n'
            '    domain-insecure: "plain.test"\n'
            f'    trust-anchor: "{ds}"\n    trust-anchor: "{FAKE_DS}"\n'
            f"{stubs}"
            "remote-control:\n    control-enable: no\n"
        )
        processes.append(_start([unbound, "-d", "-c", str(work / "unbound.conf")], work / "u.log"))
        _wait_until_answering(unbound_port, "signed.test", deadline)
        yield f"127.0.0.1:{unbound_port}"
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)


def lookup(address: str, name: str, rtype: RecordType) -> Answer:
    return asyncio.run(DnspythonResolver([address], timeout=3).lookup(name, rtype))


def test_validated_answers_carry_the_ad_bit(validating: str) -> None:
    txt = lookup(validating, "signed.test", RecordType.TXT)
    assert txt.status is Status.OK and txt.authenticated
    tlsa = lookup(validating, "_25._tcp.mx.signed.test", RecordType.TLSA)
    assert tlsa.authenticated and tlsa.tlsa() == [TLSARecord(3, 1, 1, TLSA_DATA)]
    nx = lookup(validating, "nothing.signed.test", RecordType.A)
    assert nx.status is Status.NXDOMAIN and nx.authenticated  # authenticated denial


def test_insecure_zone_answers_without_ad(validating: str) -> None:
    answer = lookup(validating, "plain.test", RecordType.TXT)
    assert answer.status is Status.OK and not answer.authenticated


def test_bogus_zone_is_a_temporary_failure(validating: str) -> None:
    answer = lookup(validating, "_25._tcp.mx.bogus.test", RecordType.TLSA)
    assert answer.status is Status.TEMPFAIL and not answer.authenticated
