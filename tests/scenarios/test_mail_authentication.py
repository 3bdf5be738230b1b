"""Mail authentication end to end on a real ``mailkeep serve`` with DNS from a real server
on loopback: submitted mail is DKIM-signed (verified by Perl's Mail::DKIM and by mailkeep),
the MX records SPF/DKIM/DMARC, removes forged results, refuses p=reject forgeries, puts
p=quarantine failures in Junk and notes DNSBL listings."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailkeep.app import store_root
from mailkeep.config.load import load_config
from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.mailauth.dkim import sign_message, verify_dkim
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.results import DKIMResult
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX
from tests.dns.server import Zones, dns_server
from tests.mailauth.test_dkim import PERL_VERIFY, _perl_with_mail_dkim
from tests.mailserver import DOMAIN, PASSWORD, MailServer, make_server
from tests.net.test_smtp_server import add_users, addr, submission
from tests.process.server import LISTENERS, free_port, write_config

HOST = "mail.example.test"


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[Zones, str]]:
    with dns_server() as served:
        yield served


@pytest.fixture(scope="module")
def sender_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    keys = KeyStore(tmp_path_factory.mktemp("sender-keys"))
    keys.generate("sender.test", "s1")
    return keys


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[Zones, str], sender_keys: KeyStore
) -> Iterator[MailServer]:
    zones, address = dns
    settings = (
        f'[smtp]\ngreet_pause_seconds = 0\n[dns]\nnameservers = ["{address}"]\n'
        '[mailauth]\ndnsbl_zones = ["bl.test"]\n'
    )
    srv = make_server(tmp_path_factory.mktemp("mailauth"), settings)
    add_users(srv, ["alice", "bob"], {})
    for keys, domain in ((KeyStore(srv.data_dir), DOMAIN), (sender_keys, "sender.test")):
        for key in keys.keys(domain):
            zones.add_txt(key.record_name, key.txt_record())
    zones.add_txt(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
    zones.add_txt("sender.test", "v=spf1 ip4:127.0.0.1 -all")
    zones.add_txt("_dmarc.sender.test", "v=DMARC1; p=reject")
    zones.add_txt("_dmarc.victim.test", "v=DMARC1; p=reject")
    zones.add_txt("_dmarc.quar.test", "v=DMARC1; p=quarantine")
    zones.add_txt("evil.test", "v=spf1 +all")
    zones.add_a("1.0.0.127.bl.test", "127.0.0.2")  # the test client, listed
    srv.start()
    yield srv
    srv.stop()


def read_mailbox(server: MailServer, address: str, name: str = INBOX) -> list[bytes]:
    user_id = server.user_id(address)

    async def run() -> list[bytes]:
        store = DiskStore(store_root(load_config(server.config)))
        try:
            snap = await store.select(user_id, name)
            return [await store.read_message(user_id, snap.status.id, u) for u in snap.uids]
        finally:
            await store.close()

    return asyncio.run(run())


def header(message: bytes) -> bytes:
    return message.split(b"\r\n\r\n", 1)[0]


def mx_send(server: MailServer, mail_from: str, raw: bytes, rcpt: str = "bob") -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as client:
        client.ehlo("mx.sender.test")
        client.sendmail(mail_from, [addr(rcpt)], raw)


def message(author: str, subject: str, extra: bytes = b"") -> bytes:
    return (
        extra
        + (
            f"From: {author}\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
            f"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{subject}@sender.test>\r\n"
            "\r\nHello Bob.\r\n"
        ).encode()
    )


def test_submitted_mail_is_signed_and_verifies_with_mail_dkim_and_mailkeep(
    server: MailServer, dns: tuple[Zones, str]
) -> None:
    raw = (
        b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: signed\r\n"
        b"\r\nSee you  at   noon.\r\n"
    )
    with submission(server, "alice") as client:
        client.sendmail(addr("alice"), [addr("bob")], raw)
    [stored] = [m for m in read_mailbox(server, addr("bob")) if b"Subject: signed" in m]
    assert header(stored).count(b"DKIM-Signature:") == 2
    # mailkeep's own verifier, through the same DNS server
    resolver = DnspythonResolver([dns[1]], timeout=5)
    outcomes = asyncio.run(verify_dkim(resolver, stored))
    assert sorted((o.result, o.domain, o.algorithm) for o in outcomes) == [
        (DKIMResult.PASS, DOMAIN, "ed25519-sha256"),
        (DKIMResult.PASS, DOMAIN, "rsa-sha256"),
    ]
    # Perl's Mail::DKIM: Debian 12's version verifies RSA only (Ed25519 came later).
    perl = _perl_with_mail_dkim()
    port = dns[1].rpartition(":")[2]
    done = subprocess.run(
        [perl, "-e", PERL_VERIFY, port], input=stored, capture_output=True, check=True, timeout=60
    )
    lines = done.stdout.decode().splitlines()
    assert any(line.startswith(f"{DOMAIN} ") and line.endswith("rsa-sha256 pass") for line in lines)


def test_passing_mail_shows_spf_dkim_dmarc_pass_and_forged_results_are_removed(
    server: MailServer, sender_keys: KeyStore
) -> None:
    forged = f"Authentication-Results: {HOST}; dmarc=pass header.from=bank.test\r\n".encode()
    raw = message("Carol <carol@sender.test>", "passing", forged)
    signed = sign_message(raw, sender_keys.signing_keys("sender.test")) + raw
    mx_send(server, "carol@sender.test", signed)
    [stored] = [m for m in read_mailbox(server, addr("bob")) if b"Subject: passing" in m]
    head = header(stored)
    assert b"header.from=bank.test" not in stored
    assert head.count(b"Authentication-Results: " + HOST.encode()) == 1
    results = head.split(b"Authentication-Results: ", 1)[1].split(b"\r\nX-DNSBL")[0]
    for expected in (b"spf=pass", b"dkim=pass", b"dmarc=pass", b"header.from=sender.test"):
        assert expected in results, results
    assert b"X-DNSBL: zone=bl.test; result=listed; codes=127.0.0.2" in head


def test_forged_from_of_a_p_reject_domain_is_refused(server: MailServer) -> None:
    raw = message("CEO <ceo@victim.test>", "forged")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        mx_send(server, "x@evil.test", raw)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1")
    assert not [m for m in read_mailbox(server, addr("bob")) if b"Subject: forged" in m]
    assert server.served is not None
    server.served.wait_for(r"dmarc=fail.*from_domain=victim\.test.*disposition=reject")


def test_p_quarantine_failure_lands_in_junk(server: MailServer) -> None:
    mx_send(server, "x@evil.test", message("news@quar.test", "quarantined"), rcpt="alice")
    assert not [m for m in read_mailbox(server, addr("alice")) if b"quarantined" in m]
    [junk] = read_mailbox(server, addr("alice"), "Junk")
    assert b"dmarc=fail" in junk and b"dis=quarantine" in junk


def two_domain_server(root: Path, domain: str, settings: str, mx: str | None = None) -> MailServer:
    """A server for ``domain`` with the user alice or bob; its MX on ``mx`` if given."""
    ports = {name: free_port() for name in LISTENERS}
    listen = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    if mx is not None:
        listen["smtp"] = mx
    config, _ = write_config(root, listen=listen, extra=settings)
    srv = MailServer(root, config, ports)
    srv.cli("domain", "add", domain)
    srv.add_user(("alice@" if domain == "a.test" else "bob@") + domain)
    return srv


def test_mailkeep_to_mailkeep_through_the_queue_passes_spf_dkim_dmarc(
    tmp_path: Path, dns: tuple[Zones, str]
) -> None:
    zones, address = dns
    port = free_port()
    common = f'[smtp]\ngreet_pause_seconds = 0\n[dns]\nnameservers = ["{address}"]\n'
    outbound = (
        f"[outbound]\nport = {port}\nscan_interval_seconds = 0.2\nipv6 = false\n"
        "retry_first_seconds = 1\nretry_max_seconds = 1\n"
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = two_domain_server(tmp_path / "a", "a.test", common + outbound)
    b = two_domain_server(tmp_path / "b", "b.test", common, mx=f"127.0.0.2:{port}")
    for key in KeyStore(a.data_dir).keys("a.test"):
        zones.add_txt(key.record_name, key.txt_record())
    zones.add_txt("a.test", "v=spf1 ip4:127.0.0.0/8 -all")
    zones.add_txt("_dmarc.a.test", "v=DMARC1; p=reject")
    zones.add_mx("b.test", 10, "mx.b.test")
    zones.add_a("mx.b.test", "127.0.0.2")
    try:
        a.start()
        b.start()
        raw = b"From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: across\r\n\r\nHi.\r\n"
        client = smtplib.SMTP("localhost", a.ports["submission"], timeout=30)
        try:
            client.starttls(context=ssl.create_default_context(cafile=str(a.ca_file)))
            client.login("alice@a.test", PASSWORD)
            client.sendmail("alice@a.test", ["bob@b.test"], raw)
        finally:
            client.quit()
        deadline = time.monotonic() + 60
        while not (got := read_mailbox(b, "bob@b.test")):
            assert time.monotonic() < deadline, a.served.text if a.served else ""
            time.sleep(0.2)
        [stored] = got
        results = header(stored).split(b"Authentication-Results: ", 1)[1]
        for expected in (b"spf=pass", b"dkim=pass", b"dmarc=pass", b"header.d=a.test"):
            assert expected in results, results
        assert results.count(b"dkim=pass") == 2  # Ed25519 and RSA
    finally:
        a.stop()
        b.stop()


def test_dns_failures_are_temperror_and_the_session_goes_on(
    server: MailServer, dns: tuple[Zones, str], sender_keys: KeyStore
) -> None:
    """SERVFAIL for the sender's SPF and DMARC records: the message is delivered with
    temperror results (nothing to enforce), and the same session sends the next one."""
    zones, _ = dns
    zones.servfail.update({("down.test", "TXT"), ("_dmarc.down.test", "TXT")})
    good = message("Carol <carol@sender.test>", "after-failure")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as client:
        client.ehlo("mx.sender.test")
        client.sendmail("x@down.test", [addr("bob")], message("x@down.test", "dns-down"))
        client.sendmail(
            "carol@sender.test",
            [addr("bob")],
            sign_message(good, sender_keys.signing_keys("sender.test")) + good,
        )
    stored = read_mailbox(server, addr("bob"))
    [down] = [m for m in stored if b"Subject: dns-down" in m]
    assert b"spf=temperror" in header(down) and b"dmarc=temperror" in header(down)
    [after] = [m for m in stored if b"Subject: after-failure" in m]
    assert b"dmarc=pass" in header(after)
