"""DMARC (RFC 7489): the decision table, records, alignment, author domain."""

from __future__ import annotations

import asyncio

import pytest

from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType
from mailkeep.mailauth.dmarc import (
    DMARCRecord,
    aligned,
    author_domain,
    organizational_domain,
    parse_record,
    verify_dmarc,
)
from mailkeep.mailauth.results import (
    Disposition,
    DKIMOutcome,
    DKIMResult,
    DMARCOutcome,
    DMARCResult,
    SPFIdentity,
    SPFOutcome,
    SPFResult,
)

R, Q, N = Disposition.REJECT, Disposition.QUARANTINE, Disposition.NONE


def zones() -> FakeResolver:
    fake = FakeResolver()
    fake.add_txt(
        "_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"
    )
    fake.add_txt("_dmarc.strict.example.org", "v=DMARC1; p=reject; adkim=s; aspf=s")
    fake.add_txt("_dmarc.half.example.net", "v=DMARC1; p=reject; pct=50")
    fake.add_txt("_dmarc.quar.example.net", "v=DMARC1; p=quarantine; pct=0")
    fake.add_txt("_dmarc.nosp.example.co.uk", "v=DMARC1; p=quarantine")
    fake.add_txt("_dmarc.broken.example", "v=DMARC1; p=sometimes")
    fake.add_txt("_dmarc.two.example", "v=DMARC1; p=none")
    fake.add_txt("_dmarc.two.example", "v=DMARC1; p=reject")
    fake.add_txt("_dmarc.other.example", "v=spf1 -all")
    fake.fail("_dmarc.down.example", RecordType.TXT)
    fake.add_txt("_dmarc.long.example", "v=DMARC1; p=reject; rua=" + "x" * 3000)
    fake.add_txt("_dmarc.garbage.example", "v=DMARC1; p=reject; \x00\xff;;=;=")
    return fake


def spf(result: SPFResult, domain: str) -> SPFOutcome:
    return SPFOutcome(result, SPFIdentity.MAILFROM, domain, f"u@{domain}")


def dkim(result: DKIMResult, domain: str) -> DKIMOutcome:
    return DKIMOutcome(result, domain=domain, selector="s")


NO_DKIM = (DKIMOutcome(DKIMResult.NONE),)
SPF_NONE = spf(SPFResult.NONE, "")

# from domain, SPF outcome, DKIM outcomes, random draw → result, requested, applied
TABLE = [
    ("example.com", spf(SPFResult.PASS, "example.com"), NO_DKIM, DMARCResult.PASS, R, N),
    ("example.com", spf(SPFResult.PASS, "bounce.example.com"), NO_DKIM, DMARCResult.PASS, R, N),
    ("example.com", SPF_NONE, (dkim(DKIMResult.PASS, "mail.example.com"),), "pass", R, N),
    ("example.com", spf(SPFResult.PASS, "evil.test"), NO_DKIM, DMARCResult.FAIL, R, R),
    ("example.com", SPF_NONE, (dkim(DKIMResult.PASS, "evil.test"),), "fail", R, R),
    ("example.com", spf(SPFResult.FAIL, "example.com"), NO_DKIM, "fail", R, R),
    ("example.com", SPF_NONE, (dkim(DKIMResult.FAIL, "example.com"),), "fail", R, R),
    # a subdomain without its own record: the org domain's sp= applies
    ("news.example.com", SPF_NONE, NO_DKIM, DMARCResult.FAIL, Q, Q),
    # below a public suffix of two labels; the From domain's own record, p= applies
    ("nosp.example.co.uk", SPF_NONE, NO_DKIM, DMARCResult.FAIL, Q, Q),
    # strict alignment: a subdomain does not align
    ("strict.example.org", spf(SPFResult.PASS, "b.strict.example.org"), NO_DKIM, "fail", R, R),
    (
        "strict.example.org",
        spf(SPFResult.PASS, "strict.example.org"),
        (dkim(DKIMResult.PASS, "x.strict.example.org"),),
        "pass",
        R,
        N,
    ),
    ("none.example", SPF_NONE, NO_DKIM, DMARCResult.NONE, N, N),  # no record anywhere
    ("two.example", SPF_NONE, NO_DKIM, DMARCResult.NONE, N, N),  # two records: none
    ("other.example", SPF_NONE, NO_DKIM, DMARCResult.NONE, N, N),  # not a DMARC record
    ("broken.example", SPF_NONE, NO_DKIM, DMARCResult.PERMERROR, N, N),
    ("down.example", SPF_NONE, NO_DKIM, DMARCResult.TEMPERROR, N, N),
    ("long.example", SPF_NONE, NO_DKIM, DMARCResult.PERMERROR, N, N),  # over 2 KB: not parsed
    ("garbage.example", SPF_NONE, NO_DKIM, DMARCResult.PERMERROR, N, N),
]


@pytest.mark.parametrize(("domain", "spf_out", "dkim_out", "result", "requested", "applied"), TABLE)
def test_dmarc_table(
    domain: str,
    spf_out: SPFOutcome,
    dkim_out: tuple[DKIMOutcome, ...],
    result: str,
    requested: Disposition,
    applied: Disposition,
) -> None:
    outcome = asyncio.run(
        verify_dmarc(zones(), from_domain=domain, spf=spf_out, dkim=dkim_out, random=lambda: 0.0)
    )
    assert (outcome.result.value, outcome.requested, outcome.applied) == (
        result,
        requested,
        applied,
    ), outcome.reason


@pytest.mark.parametrize(
    ("domain", "draw", "applied"),
    [
        ("half.example.net", 0.49, R),  # sampled: the policy applies
        ("half.example.net", 0.50, Q),  # not sampled: one step weaker (RFC 7489 6.6.4)
        ("quar.example.net", 0.0, N),  # pct=0 never applies quarantine
    ],
)
def test_pct_sampling(domain: str, draw: float, applied: Disposition) -> None:
    outcome = asyncio.run(
        verify_dmarc(zones(), from_domain=domain, spf=SPF_NONE, dkim=NO_DKIM, random=lambda: draw)
    )
    assert outcome.result is DMARCResult.FAIL and outcome.applied is applied


def test_org_domain_fallback_queries_two_names() -> None:
    fake = zones()
    asyncio.run(verify_dmarc(fake, from_domain="a.b.example.com", spf=SPF_NONE, dkim=NO_DKIM))
    assert fake.queries[("_dmarc.a.b.example.com", RecordType.TXT)] == 1
    assert fake.queries[("_dmarc.example.com", RecordType.TXT)] == 1


def test_organizational_domain_uses_the_public_suffix_list() -> None:
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert organizational_domain("mail.example.com.") == "example.com"
    assert organizational_domain("example.com") == "example.com"
    assert aligned("bounce.example.co.uk", "example.co.uk", strict=False)
    assert not aligned("example.co.uk", "other.co.uk", strict=False)  # different orgs
    assert not aligned("a.example.com", "example.com", strict=True)
    assert not aligned("", "example.com", strict=False)


def test_parse_record() -> None:
    record = parse_record("v=DMARC1;p=Reject; sp=none; adkim=s; pct=250; ext_tag=1;")
    assert record == DMARCRecord(p=R, sp=N, adkim_strict=True, pct=100)
    assert parse_record("v=DMARC1; rua=mailto:a@b.test") == DMARCRecord(
        p=N, rua="mailto:a@b.test"
    )  # RFC 7489 6.6.3: invalid p= with rua means none
    assert isinstance(parse_record("p=reject; v=DMARC1"), str)
    assert isinstance(parse_record("v=DMARC1; p=reject; broken"), str)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"From: Alice <alice@Example.COM>\r\n", "example.com"),
        (b"From: =?utf-8?q?A?= <a@xn--bcher-kva.example>\r\n", "xn--bcher-kva.example"),
        (b"FROM:\r\n  a@folded.example\r\n", "folded.example"),
        (b"To: x@y\r\n", "no From field"),
        (b"From: a@a.example\r\nFrom: b@b.example\r\n", "several From fields"),
        (b"From: a@a.example, b@b.example\r\n", "From does not hold one address"),
        (b"From: undisclosed\r\n", "From does not hold one address"),
    ],
)
def test_author_domain(head: bytes, expected: str) -> None:
    result = author_domain(head + b"Subject: x\r\n\r\nbody From: z@z.example\r\n")
    if isinstance(result, DMARCOutcome):
        assert result.result is DMARCResult.PERMERROR and result.reason == expected
    else:
        assert result == expected
