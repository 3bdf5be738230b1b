"""Outbound TLS policy against a real peer: a second ``mailkeep serve`` (domain
example.test, MX and submission with STARTTLS, a self-signed certificate for
mail.example.test) and an HTTPS server with its own certificate serving MTA-STS policies.

Covers opportunistic TLS, verify, a wrong certificate name, DANE-EE match and mismatch,
MTA-STS enforce (right CA, wrong CA: held, never sent in plaintext; MX outside the policy),
REQUIRETLS, the smart host with AUTH, and the TLS report lines each attempt leaves."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailkeep.certs.selfsigned import make_certificate
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType, TLSARecord
from mailkeep.net.smtp_client import (
    ClientTimeouts,
    OutboundSettings,
    RelayHost,
    SMTPClientTransport,
    TLSLevel,
)
from mailkeep.queue.models import QueuedMessage, QueuedRecipient
from mailkeep.queue.transport import OutboundMessage, Outcome, RecipientResult
from mailkeep.tlspolicy import dane
from mailkeep.tlspolicy.mtasts import PolicySource
from mailkeep.tlspolicy.tlsrpt import TLSReportLog
from tests.mailserver import PASSWORD, MailServer, make_server
from tests.process.server import free_port

pytestmark = pytest.mark.slow

BOB = "bob@example.test"
MX = "mail.example.test"


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    server = make_server(tmp_path_factory.mktemp("peer"))
    server.add_user(BOB)
    server.start()
    yield server
    server.stop()


def zone(*, mx: str = MX, signed: bool = False) -> FakeResolver:
    resolver = FakeResolver()
    resolver.add_mx("example.test", 10, mx)
    resolver.add(mx, RecordType.A, "127.0.0.1")
    if signed:
        resolver.sign("example.test")
    return resolver


def message(rcpt: str = BOB, sender: str = "a@a.test", **kw: object) -> OutboundMessage:
    body = f"From: {sender}\r\nTo: {rcpt}\r\nSubject: tls test\r\n\r\nhello\r\n".encode()
    envelope = QueuedMessage(
        id="0123abcd",
        mail_from=sender,
        recipients=(QueuedRecipient(rcpt),),
        created=0.0,
        size=len(body),
        **kw,  # type: ignore[arg-type]
    )
    return OutboundMessage(envelope, envelope.recipients, body)


def send(
    peer: MailServer,
    resolver: FakeResolver,
    *,
    port: int | None = None,
    item: OutboundMessage | None = None,
    reports: TLSReportLog | None = None,
    sts: PolicySource | None = None,
    **settings: object,
) -> RecipientResult:
    config = OutboundSettings(
        hostname="mx.a.test",
        port=port or peer.ports["smtp"],
        timeouts=ClientTimeouts(connect=5, greeting=10, command=10),
        **settings,  # type: ignore[arg-type]
    )
    transport = SMTPClientTransport(config, resolver, sts=sts, tls_reports=reports)
    got: list[RecipientResult] = []

    async def sink(item: OutboundMessage, rows: list[RecipientResult]) -> None:
        got.extend(rows)

    asyncio.run(transport.deliver("example.test", [item or message()], sink))
    (result,) = got
    return result


def test_opportunistic_tls_without_checking(peer: MailServer, tmp_path: Path) -> None:
    reports = TLSReportLog(tmp_path / "tlsrpt")
    result = send(peer, zone(), reports=reports)
    assert result.outcome is Outcome.DELIVERED, result
    # RFC 8460 4.4: sessions without a policy are reported as "no-policy-found".
    assert reports.summary() == {("example.test", "no-policy-found"): {"success": 1}}


def test_verify_with_the_right_ca_and_name(peer: MailServer) -> None:
    result = send(peer, zone(), default_tls=TLSLevel.VERIFY, ca_file=peer.ca_file)
    assert result.outcome is Outcome.DELIVERED, result


def test_verify_refuses_a_certificate_for_another_name(peer: MailServer) -> None:
    resolver = zone(mx="other.example.test")
    result = send(
        peer,
        resolver,
        domain_tls={"example.test": TLSLevel.VERIFY},
        ca_file=peer.ca_file,
    )
    assert result.outcome is Outcome.DEFERRED and "handshake failed" in result.detail


def test_requiretls_needs_verified_tls(peer: MailServer) -> None:
    unverified = send(peer, zone(), item=message(requiretls=True))
    assert unverified.outcome is Outcome.FAILED and unverified.status == "5.7.10"
    verified = send(
        peer,
        zone(),
        item=message(requiretls=True),
        default_tls=TLSLevel.VERIFY,
        ca_file=peer.ca_file,
    )
    assert verified.outcome is Outcome.DELIVERED, verified


def _tlsa(peer: MailServer, *, right: bool) -> TLSARecord:
    certificate = x509.load_pem_x509_certificate(peer.ca_file.read_bytes())
    der = certificate.public_bytes(Encoding.DER)
    record = dane.tlsa_for(der)
    if right:
        return record
    return TLSARecord(record.usage, record.selector, record.mtype, bytes(32))


@pytest.mark.parametrize("right", [True, False])
def test_dane_ee(peer: MailServer, tmp_path: Path, right: bool) -> None:
    resolver = zone(signed=True)
    port = peer.ports["smtp"]
    resolver.add_tlsa(f"_{port}._tcp.{MX}", _tlsa(peer, right=right))
    resolver.sign(f"_{port}._tcp.{MX}")
    reports = TLSReportLog(tmp_path / "tlsrpt")
    # No CA file: DANE does not need the certificate to chain to anything.
    result = send(peer, resolver, item=message(requiretls=True), reports=reports)
    summary = reports.summary()[("example.test", "tlsa")]
    if right:
        assert result.outcome is Outcome.DELIVERED, result
        assert summary == {"success": 1}
    else:
        assert result.outcome is Outcome.DEFERRED and "TLSA" in result.detail
        assert summary == {"validation-failure": 1}


def test_tlsa_without_dnssec_is_ignored(peer: MailServer) -> None:
    resolver = zone(signed=False)
    port = peer.ports["smtp"]
    resolver.add_tlsa(f"_{port}._tcp.{MX}", _tlsa(peer, right=False))
    assert send(peer, resolver).outcome is Outcome.DELIVERED


@pytest.fixture(scope="module")
def policy_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, Path, dict[str, str]]]:
    """HTTPS on 127.0.0.4 for mta-sts.example.test; the policy text is editable."""
    root = tmp_path_factory.mktemp("sts")
    cert_pem, key_pem = make_certificate(
        "mta-sts.example.test", datetime.datetime.now(datetime.UTC)
    )
    (root / "cert.pem").write_bytes(cert_pem)
    (root / "key.pem").write_bytes(key_pem)
    state = {"policy": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state["policy"].encode()
            ok = self.path == "/.well-known/mta-sts.txt"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.4", port), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(root / "cert.pem", root / "key.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield port, root / "cert.pem", state
    httpd.shutdown()
    httpd.server_close()


def sts_zone(policy_id: str, mx: str = MX) -> FakeResolver:
    resolver = zone(mx=mx)
    resolver.add_txt("_mta-sts.example.test", f"v=STSv1; id={policy_id}")
    resolver.add("mta-sts.example.test", RecordType.A, "127.0.0.4")
    return resolver


def test_mta_sts_enforce(
    peer: MailServer, tmp_path: Path, policy_server: tuple[int, Path, dict[str, str]]
) -> None:
    https_port, https_ca, state = policy_server
    state["policy"] = "version: STSv1\r\nmode: enforce\r\nmx: *.example.test\r\nmax_age: 600\r\n"
    resolver = sts_zone("a1")
    sts = PolicySource(resolver, ca_file=https_ca, port=https_port)
    reports = TLSReportLog(tmp_path / "tlsrpt")
    # The MX certificate is not trusted by the system CAs: held, not sent in plaintext.
    wrong = send(peer, resolver, sts=sts, reports=reports)
    assert wrong.outcome is Outcome.DEFERRED and "handshake failed" in wrong.detail
    assert reports.summary()[("example.test", "sts")] == {"certificate-not-trusted": 1}
    good = send(peer, resolver, sts=sts, reports=reports, ca_file=peer.ca_file)
    assert good.outcome is Outcome.DELIVERED, good
    assert reports.summary()[("example.test", "sts")]["success"] == 1


def test_mta_sts_skips_mx_hosts_outside_the_policy(
    peer: MailServer, policy_server: tuple[int, Path, dict[str, str]]
) -> None:
    https_port, https_ca, state = policy_server
    state["policy"] = "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 600\n"
    resolver = sts_zone("b2")
    sts = PolicySource(resolver, ca_file=https_ca, port=https_port)
    result = send(peer, resolver, sts=sts, ca_file=peer.ca_file)
    assert result.outcome is Outcome.DEFERRED and "MTA-STS" in result.detail


def test_mta_sts_testing_only_reports(
    peer: MailServer, tmp_path: Path, policy_server: tuple[int, Path, dict[str, str]]
) -> None:
    https_port, https_ca, state = policy_server
    state["policy"] = "version: STSv1\nmode: testing\nmx: mx.elsewhere.test\nmax_age: 600\n"
    resolver = sts_zone("c3")
    sts = PolicySource(resolver, ca_file=https_ca, port=https_port)
    reports = TLSReportLog(tmp_path / "tlsrpt")
    result = send(peer, resolver, sts=sts, reports=reports)
    assert result.outcome is Outcome.DELIVERED, result
    assert ("example.test", "sts") in reports.summary()


def test_smart_host_with_auth(peer: MailServer) -> None:
    resolver = FakeResolver()
    resolver.add(MX, RecordType.A, "127.0.0.1")
    relay = RelayHost(MX, peer.ports["submission"], BOB, PASSWORD, TLSLevel.VERIFY)
    result = send(peer, resolver, item=message(sender=BOB), relay=relay, ca_file=peer.ca_file)
    assert result.outcome is Outcome.DELIVERED, result
    wrong = RelayHost(MX, peer.ports["submission"], BOB, "wrong", TLSLevel.VERIFY)
    refused = send(peer, resolver, item=message(sender=BOB), relay=wrong, ca_file=peer.ca_file)
    assert refused.outcome is Outcome.DEFERRED and "AUTH refused" in refused.detail


def test_mta_sts_policy_survives_a_restart(
    peer: MailServer, tmp_path: Path, policy_server: tuple[int, Path, dict[str, str]]
) -> None:
    """RFC 8461 5.1: a cached policy outlives the process. After the policy was fetched
    once, an attacker who blocks the fetch gains nothing from a restart; max_age still
    ends the policy."""
    https_port, https_ca, state = policy_server
    state["policy"] = "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 600\n"
    resolver = sts_zone("e5")
    cache = tmp_path / "mta-sts-cache.json"

    def source(**kw: object) -> PolicySource:
        return PolicySource(resolver, ca_file=https_ca, port=https_port, **kw)  # type: ignore[arg-type]

    first = send(peer, resolver, sts=source(cache_file=cache))
    assert first.outcome is Outcome.DEFERRED and "MTA-STS" in first.detail, first
    state["policy"] = "no policy here"  # every fetch fails from now on
    # Without the saved cache a new process would fall back to opportunistic TLS:
    assert send(peer, resolver, sts=source()).outcome is Outcome.DELIVERED
    # With it, the restarted process keeps enforcing the policy.
    after = send(peer, resolver, sts=source(cache_file=cache))
    assert after.outcome is Outcome.DEFERRED and "MTA-STS" in after.detail, after
    # 601 seconds later the policy's max_age (600) is over and it no longer applies.
    later = source(cache_file=cache, clock=lambda: time.time() + 601)
    assert send(peer, resolver, sts=later).outcome is Outcome.DELIVERED
