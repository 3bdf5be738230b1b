"""DKIM: mailkeep signs and verifies; Perl's Mail::DKIM verifies what we sign and signs what
we verify; real signed messages from the corpus; hostile signatures and keys."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import CachingResolver, RecordType, Resolver
from mailkeep.mailauth.dkim import sign_message, signed_field_names, verify_dkim
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.results import DKIMOutcome, DKIMResult
from tests.dns.server import Zones, dns_server
from tests.tools import REQUIRE_TOOLS, require_tool

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "mime" / "crymap"

MESSAGE = (
    b"From: Alice <alice@a.test>\r\n"
    b"To: Bob <bob@b.test>\r\n"
    b"Subject: quarterly numbers\r\n"
    b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <1@a.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Received: from x by y; Wed, 25 Nov 2026 12:00:00 +0000\r\n"
    b"\r\n"
    b"Hello Bob,\r\n\r\nthe numbers  are   fine.\r\n" + b"x" * 60 + b"\r\n"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    keys = KeyStore(tmp_path_factory.mktemp("data"))
    keys.generate("a.test", "k1")
    return keys


def publish(store: KeyStore, zones: Zones | FakeResolver) -> None:
    for key in store.keys("a.test"):
        zones.add_txt(key.record_name, key.txt_record())


@pytest.fixture(scope="module")
def served(store: KeyStore) -> Iterator[tuple[Zones, str]]:
    with dns_server() as (zones, address):
        publish(store, zones)
        yield zones, address


def verify(resolver: Resolver, message: bytes, **kwargs: object) -> list[DKIMOutcome]:
    return asyncio.run(verify_dkim(resolver, message, **kwargs))  # type: ignore[arg-type]


def test_signs_with_both_keys_and_verifies_over_real_dns(
    store: KeyStore, served: tuple[Zones, str]
) -> None:
    signed = sign_message(MESSAGE, store.signing_keys("a.test")) + MESSAGE
    outcomes = verify(CachingResolver(DnspythonResolver([served[1]])), signed)
    assert [(o.result, o.algorithm) for o in outcomes] == [
        (DKIMResult.PASS, "ed25519-sha256"),
        (DKIMResult.PASS, "rsa-sha256"),
    ]
    assert {o.selector for o in outcomes} == {"k1-ed25519", "k1-rsa"}
    assert all(o.domain == "a.test" and len(o.signature_prefix) == 8 for o in outcomes)


def test_signed_fields_and_oversigning() -> None:
    names = signed_field_names(MESSAGE)
    assert names.count(b"from") == 2 and names.count(b"to") == 2
    assert names.count(b"subject") == 2 and names.count(b"date") == 2
    assert b"message-id" in names and b"content-type" in names
    assert b"received" not in names  # RFC 6376 5.4: trace fields change in transit


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: b"Subject: urgent wire transfer\r\n" + m,  # a second Subject on top
        lambda m: m.replace(b"To: Bob <bob@b.test>\r\n", b"To: Bob <bob@b.test>\r\nTo: x@c\r\n"),
        lambda m: m.replace(b"fine", b"bad!"),
        lambda m: m + b"appended\r\n",
    ],
    ids=["added-subject", "added-to", "changed-body", "appended-body"],
)
def test_tampering_fails(store: KeyStore, tamper: object) -> None:
    fake = FakeResolver()
    publish(store, fake)
    signed = sign_message(MESSAGE, store.signing_keys("a.test")) + MESSAGE
    outcomes = verify(fake, tamper(signed))  # type: ignore[operator]
    assert [o.result for o in outcomes] == [DKIMResult.FAIL, DKIMResult.FAIL]


def test_relaxed_canonicalization_survives_whitespace_and_folding(store: KeyStore) -> None:
    fake = FakeResolver()
    publish(store, fake)
    signed = sign_message(MESSAGE, store.signing_keys("a.test")) + MESSAGE
    rewritten = signed.replace(b"Subject: quarterly numbers", b"subject:  quarterly\r\n\tnumbers")
    rewritten = rewritten.replace(b"are   fine", b"are fine")
    assert {o.result for o in verify(fake, rewritten)} == {DKIMResult.PASS}


def test_unsigned_message_is_none() -> None:
    assert verify(FakeResolver(), MESSAGE) == [DKIMOutcome(DKIMResult.NONE, reason="no signature")]


def test_dns_failure_is_temperror_and_missing_key_permerror(store: KeyStore) -> None:
    signed = sign_message(MESSAGE, store.signing_keys("a.test")) + MESSAGE
    fake = FakeResolver()
    fake.fail("k1-ed25519._domainkey.a.test", RecordType.TXT)
    results = [o.result for o in verify(fake, signed)]
    assert results == [DKIMResult.TEMPERROR, DKIMResult.PERMERROR]
    stalled = FakeResolver()
    stalled.stall("k1-ed25519._domainkey.a.test", RecordType.TXT)
    publish(store, stalled)
    outcomes = verify(stalled, signed, time_limit=0.2)
    assert outcomes[0].result is DKIMResult.TEMPERROR


def _with_signature_field(value: bytes) -> bytes:
    return b"DKIM-Signature: " + value + b"\r\n" + MESSAGE


@pytest.mark.parametrize(
    ("field", "result", "reason"),
    [
        (b"v=1; a=rsa-sha256; d=a.test; s=x", DKIMResult.PERMERROR, "missing"),
        (b"garbage without tags", DKIMResult.PERMERROR, "malformed"),
        (b"v=1; v=1; a=rsa-sha256", DKIMResult.PERMERROR, "malformed"),
        (
            b"v=1; a=rsa-sha1; d=a.test; s=x; h=from; bh=AAAA; b=AAAA",
            DKIMResult.PERMERROR,
            "not accepted",  # RFC 8301 3.1
        ),
        (
            b"v=1; a=rsa-sha256; d=a.test; s=x; h=to; bh=AAAA; b=AAAA",
            DKIMResult.PERMERROR,
            "From is not signed",
        ),
        (
            b"v=1; a=rsa-sha256; d=a.test; s=x; h=from; bh=AAAA; b=AAAA; x=1000; t=900",
            DKIMResult.FAIL,
            "expired",
        ),
        (
            b"v=1; a=rsa-sha256; d=a.test; s=x; h=from; bh=AAAA; b=AAAA; t=99999999999",
            DKIMResult.PERMERROR,
            "future",
        ),
        (
            b"v=1; a=rsa-sha256; d=a.test; s=nokey; h=from; bh=AAAA; b=AAAA",
            DKIMResult.PERMERROR,
            "no key record",
        ),
    ],
)
def test_malformed_signatures(field: bytes, result: DKIMResult, reason: str) -> None:
    (outcome,) = verify(FakeResolver(), _with_signature_field(field))
    assert outcome.result is result
    assert reason in outcome.reason


def _rsa_record(bits: int, exponent: int = 65537) -> str:
    modulus = (1 << (bits - 1)) | int.from_bytes(os.urandom(bits // 8)) | 1
    der = (
        rsa.RSAPublicNumbers(exponent, modulus)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.mark.parametrize(
    ("record", "result"),
    [
        ("v=DKIM1; k=rsa; p=", DKIMResult.PERMERROR),  # revoked key, RFC 6376 3.6.1
        ("v=DKIM1; k=rsa; p=!!notbase64!!", DKIMResult.PERMERROR),
        ("v=DKIM1; k=ed25519; p=AAAA", DKIMResult.PERMERROR),
        ("v=DKIM1; k=rsa; p=" + "A" * 5000, DKIMResult.PERMERROR),  # over-long record
        ("v=DKIM2; k=rsa; p=AAAA", DKIMResult.PERMERROR),
        (_rsa_record(512), DKIMResult.POLICY),  # RFC 8301 3.2: too small to trust
        (_rsa_record(2048, 2**40 + 1), DKIMResult.PERMERROR),  # absurd exponent: slow
        (_rsa_record(16384), DKIMResult.PERMERROR),  # absurd size
    ],
    ids=[
        "revoked",
        "bad-base64",
        "short-ed25519",
        "too-long",
        "bad-version",
        "rsa-512",
        "huge-exponent",
        "rsa-16384",
    ],
)
def test_bad_keys(store: KeyStore, record: str, result: DKIMResult) -> None:
    signed = sign_message(MESSAGE, [store.signing_keys("a.test")[1]]) + MESSAGE
    fake = FakeResolver()
    fake.add_txt("k1-rsa._domainkey.a.test", record)
    (outcome,) = verify(fake, signed)
    assert outcome.result is result, outcome.reason


def test_signature_count_is_bounded(store: KeyStore) -> None:
    fake = FakeResolver()
    publish(store, fake)
    sig = sign_message(MESSAGE, store.signing_keys("a.test")[:1])
    outcomes = verify(fake, sig * 30 + MESSAGE, max_signatures=10)
    assert len(outcomes) == 10 and {o.result for o in outcomes} == {DKIMResult.PASS}


@pytest.mark.parametrize(
    "message",
    [b"", b"no header separator at all", b"\x00\xff: \r\n\r\n", b"From: a@a.test\r\n"],
    ids=["empty", "no-colon", "binary", "headers-only"],
)
def test_truncated_or_garbage_messages_never_raise(message: bytes) -> None:
    outcomes = verify(FakeResolver(), message)
    assert outcomes[0].result in (DKIMResult.NONE, DKIMResult.PERMERROR)


def test_injected_clock_decides_expiry(store: KeyStore) -> None:
    fake = FakeResolver()
    publish(store, fake)
    signed = sign_message(MESSAGE, store.signing_keys("a.test")[:1]) + MESSAGE
    (outcome,) = verify(fake, signed, now=lambda: 0.0)  # "signed in the future"
    assert outcome.result is DKIMResult.PERMERROR and "future" in outcome.reason


# --- Mail::DKIM (Perl), an independent implementation ------------------------------------

PERL_VERIFY = r"""
use strict; use Mail::DKIM::Verifier; use Net::DNS::Resolver;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $ARGV[0], recurse => 1));
my $v = Mail::DKIM::Verifier->new();
while (<STDIN>) { s/\r?\n\z/\r\n/; $v->PRINT($_); }
$v->CLOSE;
foreach my $s ($v->signatures) {
    print join(" ", $s->domain, $s->selector, $s->algorithm, $s->result), "\n";
}
"""

PERL_SIGN = r"""
use strict; use Mail::DKIM::Signer; use Mail::DKIM::TextWrap;
my ($domain, $selector, $keyfile, $method) = @ARGV;
my $s = Mail::DKIM::Signer->new(Algorithm => 'rsa-sha256', Method => $method,
    Domain => $domain, Selector => $selector, KeyFile => $keyfile);
my $m = do { local $/; <STDIN> };
(my $c = $m) =~ s/\r?\n/\r\n/g;
$s->PRINT($c); $s->CLOSE;
print $s->signature->as_string, "\r\n", $m;
"""


def _perl_with_mail_dkim() -> str:
    perl = require_tool("perl")
    probe = subprocess.run([perl, "-MMail::DKIM", "-e", "1"], capture_output=True, check=False)
    if probe.returncode != 0:
        message = "Perl's Mail::DKIM is not installed (libmail-dkim-perl)"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    return perl


@pytest.mark.interop
def test_mail_dkim_verifies_what_mailkeep_signs(store: KeyStore, served: tuple[Zones, str]) -> None:
    perl = _perl_with_mail_dkim()
    signed = sign_message(MESSAGE, store.signing_keys("a.test")) + MESSAGE
    port = served[1].rpartition(":")[2]
    done = subprocess.run(
        [perl, "-e", PERL_VERIFY, port], input=signed, capture_output=True, check=True, timeout=60
    )
    lines = sorted(done.stdout.decode().splitlines())
    # Debian 12's Mail::DKIM (1.20230212) predates its Ed25519 support: it reports that
    # signature unverifiable, and verifies the RSA one.
    assert "a.test k1-rsa rsa-sha256 pass" in lines, done.stdout
    assert len(lines) == 2


@pytest.mark.interop
@pytest.mark.parametrize("method", ["relaxed", "simple", "relaxed/simple"])
def test_mailkeep_verifies_what_mail_dkim_signs(
    store: KeyStore, served: tuple[Zones, str], tmp_path: Path, method: str
) -> None:
    perl = _perl_with_mail_dkim()
    (rsa_key,) = [k for k in store.keys("a.test") if k.algorithm.value == "rsa"]
    pkcs1 = tmp_path / "rsa.pem"
    pkcs1.write_bytes(rsa_key.signing_key().private_key)
    os.chmod(pkcs1, 0o600)
    done = subprocess.run(
        [perl, "-e", PERL_SIGN, "a.test", rsa_key.selector, str(pkcs1), method],
        input=MESSAGE.replace(b"\r\n", b"\n"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.startswith(b"DKIM-Signature:")
    (outcome,) = verify(CachingResolver(DnspythonResolver([served[1]])), done.stdout)
    assert outcome.result is DKIMResult.PASS, outcome.reason
    assert outcome.selector == rsa_key.selector


# --- real signed messages ------------------------------------------------------------------


# RFC 8463 Appendix A.2: the key records of its example message (rfc-8463.eml)
RFC8463_KEYS = {
    "brisbane._domainkey.football.example.com": (
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    ),
    "test._domainkey.football.example.com": (
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qh"
        "dR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4h"
        "stT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
    ),
}


@pytest.fixture(scope="module")
def corpus_dns() -> Iterator[str]:
    keys = CORPUS / "dkim-dns"
    if not keys.is_dir():
        if REQUIRE_TOOLS:
            pytest.fail(f"corpus missing: {CORPUS}")
        pytest.skip("corpus not present")
    with dns_server() as (zones, address):
        for dat in keys.glob("*.dat"):
            p = base64.b64encode(dat.read_bytes()).decode()
            zones.add_txt(dat.name.removesuffix(".dat"), f"v=DKIM1; k=rsa; p={p}")
        for name, record in RFC8463_KEYS.items():
            zones.add_txt(name, record)
        yield address


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dkim-yahoo-rsa-sha256.eml", [(DKIMResult.PASS, "yahoo.com")]),
        # RFC 8463's example: an Ed25519 and an RSA signature by the RFC's authors
        ("rfc-8463.eml", [(DKIMResult.PASS, "football.example.com")] * 2),
        # rsa-sha1: verifiers must not accept it any more (RFC 8301 3.1)
        ("dkim-lingl-rsa-sha1.eml", [(DKIMResult.PERMERROR, "lin.gl")]),
        # the corpus has no key records for these selectors: no key is a permerror
        (
            "dkim-amazoncojp-2x-rsa-sha256.eml",
            [(DKIMResult.PERMERROR, "amazon.co.jp"), (DKIMResult.PERMERROR, "amazonses.com")],
        ),
    ],
)
def test_corpus_messages(
    corpus_dns: str, name: str, expected: list[tuple[DKIMResult, str]]
) -> None:
    message = (CORPUS / name).read_bytes()
    outcomes = verify(CachingResolver(DnspythonResolver([corpus_dns])), message)
    assert [(o.result, o.domain) for o in outcomes] == expected, [o.reason for o in outcomes]


# --- OpenDKIM, a second independent implementation (with Ed25519) ----------------------

OPENDKIM_RUN = r"""
set -e
ip link set lo up
echo "nameserver 127.0.0.1" > "$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
"$PYTHON" -m tests.dns.serve_zones "$WORK/zones.json" 53 > "$WORK/server.log" 2>&1 &
server=$!
trap 'kill $server' EXIT
for _ in $(seq 50); do grep -qs ready "$WORK/server.log" && break; sleep 0.1; done
set +e
for f in "$WORK"/*.eml; do
    rc=0
    opendkim-testmsg < "$f" > "$f.out" 2>&1 || rc=$?
    echo "${f##*/} $rc"
done
"""


@pytest.mark.interop
def test_opendkim_verifies_what_mailkeep_signs(store: KeyStore, tmp_path: Path) -> None:
    """opendkim-testmsg uses the system resolver, so it runs in a private network namespace
    whose resolv.conf points at a DNS server serving our key records on 127.0.0.1:53."""
    require_tool("opendkim-testmsg")
    unshare = require_tool("unshare")
    ed_key, rsa_key = store.signing_keys("a.test")
    (tmp_path / "zones.json").write_text(
        json.dumps({k.record_name: k.txt_record() for k in store.keys("a.test")})
    )
    (tmp_path / "ed25519.eml").write_bytes(sign_message(MESSAGE, [ed_key]) + MESSAGE)
    (tmp_path / "rsa.eml").write_bytes(sign_message(MESSAGE, [rsa_key]) + MESSAGE)
    tampered = sign_message(MESSAGE, [ed_key]) + MESSAGE.replace(b"fine", b"bad!")
    (tmp_path / "tampered.eml").write_bytes(tampered)
    env = {**os.environ, "WORK": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(
        [unshare, "-n", "-m", "bash", "-c", OPENDKIM_RUN],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and b"unshare" in done.stderr and not REQUIRE_TOOLS:
        pytest.skip(f"no private namespaces here: {done.stderr.decode().strip()}")
    status = dict(line.split() for line in done.stdout.decode().splitlines())
    assert status == {"ed25519.eml": "0", "rsa.eml": "0", "tampered.eml": "70"}, done.stderr
    assert b"Bad signature" in (tmp_path / "tampered.eml.out").read_bytes()
