"""ARC (RFC 8617): chains sealed by Perl's Mail::DKIM::ARC::Signer, validated by mailkeep."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator

import pytest

from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import CachingResolver, RecordType, Resolver
from mailkeep.mailauth.arc import sealer_results, verify_arc
from mailkeep.mailauth.check import authenticate_message, trusted_pass
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.results import (
    ARCOutcome,
    ARCResult,
    Disposition,
    DMARCOutcome,
    DMARCResult,
    SealerResults,
)
from tests.dns.server import dns_server
from tests.tools import REQUIRE_TOOLS, require_tool

MESSAGE = (
    b"Authentication-Results: mx.fwd.test; dkim=pass header.d=a.test;"
    b" spf=pass smtp.mailfrom=a.test\r\n"
    b"From: Alice <alice@a.test>\r\nTo: list@fwd.test\r\nSubject: hi\r\n"
    b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n\r\nhello\r\n"
)

# The forwarder saw DKIM pass for someone else's domain only: a trusted sealer's word that
# does not cover the From domain.
UNRELATED = MESSAGE.replace(b"dkim=pass header.d=a.test", b"dkim=pass header.d=other.test").replace(
    b"spf=pass", b"spf=fail"
)

PERL_SEAL = r"""
use strict; use Mail::DKIM::ARC::Signer; use Mail::DKIM::TextWrap;
my ($domain, $selector, $keyfile, $srvid) = @ARGV;
my $m = do { local $/; <STDIN> };
my $arc = Mail::DKIM::ARC::Signer->new(Algorithm => 'rsa-sha256', Domain => $domain,
    SrvId => $srvid, Selector => $selector, KeyFile => $keyfile, Chain => 'ar');
$arc->PRINT($m); $arc->CLOSE;
die "not sealed: " . $arc->result . "\n" unless $arc->result eq 'sealed';
(my $sets = $arc->as_string) =~ s/\r?\n*\z/\r\n/;
print $sets, $m;
"""


def validate(resolver: Resolver, message: bytes) -> ARCOutcome:
    return asyncio.run(verify_arc(resolver, message))


Sealed = tuple[bytes, str, KeyStore]


@pytest.fixture(scope="module")
def sealed_all(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bytes, Sealed]]:
    """MESSAGE and UNRELATED, each sealed by fwd.test with Mail::DKIM."""
    perl = require_tool("perl")
    probe = subprocess.run([perl, "-MMail::DKIM::ARC::Signer", "-e", "1"], check=False)
    if probe.returncode != 0:
        if REQUIRE_TOOLS:
            pytest.fail("Perl's Mail::DKIM is not installed (libmail-dkim-perl)")
        pytest.skip("Perl's Mail::DKIM is not installed")
    work = tmp_path_factory.mktemp("arc")
    keys = KeyStore(work)
    keys.generate("fwd.test", "arc")
    (rsa_key,) = [k for k in keys.keys("fwd.test") if k.algorithm.value == "rsa"]
    pem = work / "rsa.pem"
    pem.write_bytes(rsa_key.signing_key().private_key)
    os.chmod(pem, 0o600)
    out = {}
    for original in (MESSAGE, UNRELATED):
        done = subprocess.run(
            [perl, "-e", PERL_SEAL, "fwd.test", rsa_key.selector, str(pem), "mx.fwd.test"],
            input=original,
            capture_output=True,
            check=True,
            timeout=60,
        )
        out[original] = done.stdout
    with dns_server() as (zones, address):
        zones.add_txt(rsa_key.record_name, rsa_key.txt_record())
        zones.add_txt("a.test", "v=spf1 ip4:192.0.2.1 -all")
        zones.add_txt("_dmarc.a.test", "v=DMARC1; p=reject")
        yield {original: (message, address, keys) for original, message in out.items()}


@pytest.fixture(scope="module")
def sealed(sealed_all: dict[bytes, Sealed]) -> Sealed:
    return sealed_all[MESSAGE]


@pytest.mark.interop
def test_chain_sealed_by_mail_dkim_passes(sealed: tuple[bytes, str, KeyStore]) -> None:
    message, address, _ = sealed
    assert message.startswith(b"ARC-Seal: i=1;")
    outcome = validate(CachingResolver(DnspythonResolver([address])), message)
    assert outcome.result is ARCResult.PASS, outcome.reason
    assert outcome.instances == 1
    assert outcome.sealers == ("fwd.test",)


@pytest.mark.interop
@pytest.mark.parametrize(
    ("trusted", "disposition"),
    [(frozenset(), Disposition.REJECT), (frozenset({"fwd.test"}), Disposition.NONE)],
)
def test_trusted_sealer_overrides_a_dmarc_failure(
    sealed: tuple[bytes, str, KeyStore], trusted: frozenset[str], disposition: Disposition
) -> None:
    """Forwarded by fwd.test: SPF fails at the final hop, no DKIM, DMARC p=reject fails."""
    message, address, _ = sealed
    verdict = asyncio.run(
        authenticate_message(
            CachingResolver(DnspythonResolver([address])), message, ip="203.0.113.50",
            mail_from="alice@a.test", helo="mx.fwd.test", authserv_id="mx.b.test",
            trusted_sealers=trusted,
        )
    )  # fmt: skip
    assert verdict.dmarc.result is DMARCResult.FAIL
    assert verdict.arc.result is ARCResult.PASS
    assert verdict.arc.newest == SealerResults("mx.fwd.test", (), ("a.test",), ("a.test",))
    assert verdict.disposition is disposition
    if trusted:
        assert b"overridden: ARC chain sealed by fwd.test reports dkim=pass" in verdict.header


@pytest.mark.interop
def test_a_trusted_sealer_whose_results_do_not_cover_the_author_does_not_override(
    sealed_all: dict[bytes, Sealed],
) -> None:
    """fwd.test is trusted and its chain passes, but its ARC-Authentication-Results report
    DKIM pass only for other.test and SPF fail: a.test's p=reject stands."""
    message, address, _ = sealed_all[UNRELATED]
    verdict = asyncio.run(
        authenticate_message(
            CachingResolver(DnspythonResolver([address])), message, ip="203.0.113.50",
            mail_from="alice@a.test", helo="mx.fwd.test", authserv_id="mx.b.test",
            trusted_sealers=frozenset({"fwd.test"}),
        )
    )  # fmt: skip
    assert verdict.arc.result is ARCResult.PASS
    assert verdict.arc.newest == SealerResults("mx.fwd.test", (), ("other.test",), ())
    assert verdict.disposition is Disposition.REJECT
    assert b"ARC sealer fwd.test reports no aligned pass" in verdict.header


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            b" i=1; mx.fwd.test;\r\n\tdkim=pass header.d=A.test header.s=x;\r\n"
            b"\tspf=pass smtp.mailfrom=bob@a.test; dmarc=pass header.from=a.test",
            SealerResults("mx.fwd.test", ("a.test",), ("a.test",), ("a.test",)),
        ),
        (
            b" i=2; mx.fwd.test; dkim=pass header.i=@sub.a.test; spf=pass smtp.helo=h.a.test;"
            b" dkim=fail header.d=x.test; dmarc=none header.from=a.test",
            SealerResults("mx.fwd.test", (), ("sub.a.test",), ("h.a.test",)),
        ),
        (b" i=1; mx.fwd.test; none", SealerResults("mx.fwd.test")),
        (b" mx.fwd.test; dkim=pass header.d=a.test", None),  # no instance tag
        (b" i=1; ;;; ((", None),
        (b" i=1; mx.fwd.test; dkim=pass header.d=a.test" + b" x" * 5000, None),  # too long
    ],
    ids=["folded", "identity-and-helo", "none", "no-instance", "garbage", "too-long"],
)
def test_arc_authentication_results_are_read(value: bytes, expected: SealerResults | None) -> None:
    assert sealer_results(value) == expected


@pytest.mark.parametrize(
    ("strict", "claims", "overrides"),
    [
        (False, SealerResults(dkim_pass=("sub.a.test",)), True),
        (True, SealerResults(dkim_pass=("sub.a.test",)), False),  # adkim=s
        (True, SealerResults(spf_pass=("a.test",)), True),
        (False, SealerResults(dmarc_pass=("other.test",)), False),
        (False, SealerResults(dkim_pass=("a.test.evil",)), False),
    ],
)
def test_trusted_claims_must_align_with_the_author(
    strict: bool, claims: SealerResults, overrides: bool
) -> None:
    dmarc = DMARCOutcome(
        DMARCResult.FAIL, "a.test", "a.test", Disposition.REJECT, Disposition.REJECT,
        strict_spf=strict, strict_dkim=strict,
    )  # fmt: skip
    arc = ARCOutcome(ARCResult.PASS, 1, "success", ("fwd.test",), claims)
    assert (trusted_pass(dmarc, arc) is not None) is overrides


@pytest.mark.interop
def test_modified_body_breaks_the_chain(sealed: tuple[bytes, str, KeyStore]) -> None:
    message, address, _ = sealed
    outcome = validate(CachingResolver(DnspythonResolver([address])), message + b"footer\r\n")
    assert outcome.result is ARCResult.FAIL


@pytest.mark.interop
def test_missing_key_and_dns_failure_fail(sealed: tuple[bytes, str, KeyStore]) -> None:
    message, _, _ = sealed
    assert validate(FakeResolver(), message).result is ARCResult.FAIL
    down = FakeResolver()
    down.fail("arc-rsa._domainkey.fwd.test", RecordType.TXT)
    outcome = validate(down, message)
    assert outcome.result is ARCResult.FAIL and "DNS" in outcome.reason


def test_unsealed_message_is_none() -> None:
    assert validate(FakeResolver(), MESSAGE) == ARCOutcome(ARCResult.NONE, 0, "no ARC sets")
    in_body = MESSAGE + b"ARC-Seal: i=1; quoted in the body\r\n"
    assert validate(FakeResolver(), in_body).result is ARCResult.NONE


@pytest.mark.parametrize(
    "seal",
    [
        b"ARC-Seal: i=1; garbage\r\n",
        b"ARC-Seal: i=0; a=rsa-sha256; cv=none; d=x.test; s=s; b=AAAA\r\n",
        b"ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=x.test; s=s; b=AAAA\r\n",
        b"ARC-Seal: i=99999999999999999999; cv=none\r\n",
    ],
    ids=["garbage", "instance-zero", "gap", "huge-instance"],
)
def test_malformed_seals_fail_without_raising(seal: bytes) -> None:
    outcome = validate(FakeResolver(), seal + MESSAGE)
    assert outcome.result is ARCResult.FAIL
