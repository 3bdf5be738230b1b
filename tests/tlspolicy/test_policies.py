"""MTA-STS policy and TXT parsing, MX pattern matching, caching rules; DANE-EE matching and
TLSA usability; all in memory (the network paths are in tests/net/test_smtp_client_tls.py)."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailkeep.certs.selfsigned import make_certificate
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType, TLSARecord
from mailkeep.tlspolicy import dane
from mailkeep.tlspolicy.mtasts import (
    Mode,
    Policy,
    PolicyError,
    PolicySource,
    mx_matches,
    parse_policy,
    parse_txt,
)


def test_policy_parsing() -> None:
    policy = parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
        "max_age: 604800\r\n"
    )
    assert policy == Policy(Mode.ENFORCE, ("mail.example.com", "*.example.net"), 604800)
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").mode is Mode.NONE
    assert parse_policy("version: STSv1\nmode: testing\nmx: a\nmax_age: 9999999999\n") == (
        Policy(Mode.TESTING, ("a",), 31_557_600)  # RFC 8461 3.2: at most a year
    )


@pytest.mark.parametrize(
    "text",
    [
        "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
        "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmx: a\nmax_age: soon\n",
        "<html>not a policy</html>",
    ],
)
def test_bad_policies(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)


def test_mx_patterns() -> None:
    assert mx_matches("mail.example.com", "MAIL.example.com.")
    assert mx_matches("*.example.com", "mx1.example.com")
    assert not mx_matches("*.example.com", "a.b.example.com")  # one label only
    assert not mx_matches("*.example.com", "example.com")
    assert not mx_matches("mail.example.com", "mail.example.com.evil.test")


def test_txt_record() -> None:
    assert parse_txt([b"v=STSv1; id=20240101T000000;"]) == "20240101T000000"
    assert parse_txt([b"v=STSv1; id=abc", b"v=STSv1; id=def"]) is None  # two: none
    assert parse_txt([b"v=spf1 -all"]) is None
    assert parse_txt([b"v=STSv1; id=bad-id!"]) is None


def test_no_record_means_no_policy_and_dns_trouble_is_temporary() -> None:
    resolver = FakeResolver()
    source = PolicySource(resolver)
    found = asyncio.run(source.policy("plain.test"))
    assert found.policy is None and not found.tempfail
    resolver.fail("_mta-sts.flaky.test", RecordType.TXT)
    flaky = asyncio.run(source.policy("flaky.test"))
    assert flaky.policy is None and flaky.tempfail


def _certificate() -> bytes:
    pem, _ = make_certificate("mx.b.test", datetime.datetime.now(datetime.UTC))
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.mark.parametrize(("selector", "mtype"), [(0, 0), (0, 1), (1, 1), (1, 2), (0, 2)])
def test_dane_ee_matching(selector: int, mtype: int) -> None:
    der = _certificate()
    record = dane.tlsa_for(der, selector, mtype)
    assert dane.matches(der, (record,))
    assert not dane.matches(_certificate(), (record,))  # another key


def test_unusable_records_never_match() -> None:
    der = _certificate()
    good = dane.tlsa_for(der)
    for usage in (0, 1, 2):  # PKIX-TA, PKIX-EE (RFC 7672 3.1.3), DANE-TA (needs the chain)
        record = TLSARecord(usage, good.selector, good.mtype, good.data)
        assert not dane.usable(record) and not dane.matches(der, (record,))


def test_dane_lookup_requires_validation() -> None:
    resolver = FakeResolver()
    record = dane.tlsa_for(_certificate())
    resolver.add_tlsa("_25._tcp.mx.b.test", record)
    unsigned = asyncio.run(dane.lookup(resolver, "mx.b.test", 25, mx_secure=True))
    assert unsigned.requirement is dane.Requirement.NONE
    resolver.sign("_25._tcp.mx.b.test")
    signed = asyncio.run(dane.lookup(resolver, "mx.b.test", 25, mx_secure=True))
    assert signed.requirement is dane.Requirement.MATCH and signed.records == (record,)
    insecure_mx = asyncio.run(dane.lookup(resolver, "mx.b.test", 25, mx_secure=False))
    assert insecure_mx.requirement is dane.Requirement.NONE
    resolver.add_tlsa("_25._tcp.mx.c.test", TLSARecord(2, 0, 1, bytes(32)))
    resolver.sign("_25._tcp.mx.c.test")
    ta_only = asyncio.run(dane.lookup(resolver, "mx.c.test", 25, mx_secure=True))
    assert ta_only.requirement is dane.Requirement.ENCRYPT
    resolver.fail("_25._tcp.mx.d.test", RecordType.TLSA)
    failed = asyncio.run(dane.lookup(resolver, "mx.d.test", 25, mx_secure=True))
    assert failed.requirement is dane.Requirement.TEMPFAIL
