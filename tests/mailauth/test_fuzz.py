"""Hostile input never raises: random and mutated messages, records and header fields."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailkeep.dns.fake import FakeResolver
from mailkeep.mailauth.authresults import claimed_authserv_id, remove_our_results
from mailkeep.mailauth.check import authenticate_message
from mailkeep.mailauth.dkim import sign_message, verify_dkim
from mailkeep.mailauth.dmarc import author_domain, parse_record
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.results import DKIMResult, DMARCOutcome, SPFResult
from mailkeep.mailauth.spf import verify_spf

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BASE = (
    b"From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: s\r\n"
    b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n\r\nbody line\r\n"
)


@pytest.fixture(scope="module")
def signed_and_zone(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, FakeResolver]:
    keys = KeyStore(tmp_path_factory.mktemp("data"))
    keys.generate("a.test", "f")
    fake = FakeResolver()
    for key in keys.keys("a.test"):
        fake.add_txt(key.record_name, key.txt_record())
    fake.add_txt("a.test", "v=spf1 ip4:192.0.2.0/24 -all")
    fake.add_txt("_dmarc.a.test", "v=DMARC1; p=reject")
    return sign_message(BASE, keys.signing_keys("a.test")) + BASE, fake


@FUZZ
@given(data=st.data())
def test_mutated_signed_messages(
    signed_and_zone: tuple[bytes, FakeResolver], data: st.DataObject
) -> None:
    signed, fake = signed_and_zone
    position = data.draw(st.integers(0, len(signed)))
    cut = data.draw(st.integers(0, 40))
    insert = data.draw(st.binary(max_size=40))
    mutated = signed[:position] + insert + signed[position + cut :]
    verdict = asyncio.run(
        authenticate_message(
            fake, mutated, ip="192.0.2.1", mail_from="a@a.test", helo="h.a.test",
            authserv_id="mx.b.test",
        )
    )  # fmt: skip
    assert verdict.header.startswith(b"Authentication-Results: mx.b.test")
    assert all(isinstance(d.result, DKIMResult) for d in verdict.dkim)


@FUZZ
@given(message=st.binary(max_size=600))
def test_random_bytes_as_messages(message: bytes) -> None:
    outcomes = asyncio.run(verify_dkim(FakeResolver(), b"DKIM-Signature: " + message))
    assert outcomes and all(isinstance(o.result, DKIMResult) for o in outcomes)
    result = author_domain(message)
    assert isinstance(result, str | DMARCOutcome)


@FUZZ
@given(record=st.text(max_size=300))
def test_random_spf_records(record: str) -> None:
    fake = FakeResolver()
    fake.add_txt("r.test", "v=spf1 " + record)
    outcome = asyncio.run(verify_spf(fake, ip="192.0.2.1", mail_from="x@r.test", helo="h"))
    assert isinstance(outcome.result, SPFResult)


@FUZZ
@given(record=st.text(max_size=200))
def test_random_dmarc_records(record: str) -> None:
    parsed = parse_record("v=DMARC1; " + record)
    assert parsed is not None


@FUZZ
@given(head=st.lists(st.binary(max_size=80), max_size=8), body=st.binary(max_size=80))
def test_removing_results_never_touches_the_body(head: list[bytes], body: bytes) -> None:
    fields = [b"Authentication-Results: mx.b.test; " + h.replace(b"\n", b" ") for h in head]
    message = b"\r\n".join([*fields, b"X: y"]) + b"\r\n\r\n" + body
    cleaned = remove_our_results(message, "mx.b.test")
    assert cleaned.endswith(b"\r\n\r\n" + body)
    assert remove_our_results(cleaned, "mx.b.test") == cleaned
    for h in head:
        claimed_authserv_id(h)
