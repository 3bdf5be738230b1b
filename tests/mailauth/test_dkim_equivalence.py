"""mailkeep's faster DKIM steps give what dkimpy's own give: the message split, the body
canonicalizations, the RSA check in OpenSSL, and whole verdicts on altered messages."""

from __future__ import annotations

import asyncio
import hashlib

import dkim
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.crypto import RSASSA_PKCS1_v1_5_verify
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailkeep.dns.fake import FakeResolver
from mailkeep.mailauth.canonical import (
    canonical_body,
    canonical_headers,
    header_hash,
    split_message,
)
from mailkeep.mailauth.dkim import KeyAlgorithm, sign_message, verify_dkim
from mailkeep.mailauth.keys import KeyStore
from mailkeep.mailauth.publickeys import PublicKey, public_key
from mailkeep.mailauth.results import DKIMResult

# Octets that matter to line ends and whitespace, and some that do not.
PIECES = [b"a", b"b", b" ", b"  ", b"\t", b"\r\n", b"\n", b"\r", b"\x0b", b"\x0c", b":", b"\x00"]
SOME_TEXT = st.lists(st.sampled_from(PIECES), max_size=80).map(b"".join)
MANY = settings(max_examples=400, deadline=None)
POLICIES = [
    dkim.CanonicalizationPolicy.from_c_value(c) for c in (b"relaxed/relaxed", b"simple/simple")
]
MESSAGE = (
    b"From: Alice <alice@a.test>\r\nTo: Bob  <bob@b.test>\r\nSubject:\tsome  words \r\n"
    b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n\r\n"
    b"Hello  Bob,\t\r\n  indented \t line\r\n\r\nend\r\n\r\n\r\n"
)


@MANY
@given(SOME_TEXT)
def test_body_canonicalizations_match_dkimpy(body: bytes) -> None:
    for policy in POLICIES:
        assert canonical_body(policy, body) == policy.canonicalize_body(body)


@MANY
@given(SOME_TEXT, SOME_TEXT)
def test_message_split_matches_dkimpy(head: bytes, body: bytes) -> None:
    for message in (head, head + b"\r\n\r\n" + body, b"X: " + head + b"\r\n\r\n" + body):
        try:
            expected = dkim.rfc822_parse(message)
        except Exception as exc:
            with pytest.raises(type(exc)):
                split_message(message)
            continue
        headers, got_body = split_message(message)
        assert (headers, got_body) == ([tuple(h) for h in expected[0]], expected[1])


NAMES = st.sampled_from([b"From", b"from", b"To", b"Subject", b"X-A", b"DKIM-Signature"])
FIELDS = st.lists(st.tuples(NAMES, SOME_TEXT), max_size=8)
B64ISH = st.lists(
    st.sampled_from([b"b", b"=", b"A", b"+", b"/", b" ", b"\t", b"\r\n", b";", b"bh", b"\n"]),
    max_size=40,
).map(b"".join)


@MANY
@given(FIELDS)
def test_header_canonicalizations_match_dkimpy(fields: list[tuple[bytes, bytes]]) -> None:
    for policy in POLICIES:
        expected = [(bytes(n), bytes(v)) for n, v in policy.canonicalize_headers(fields)]
        assert canonical_headers(policy, fields) == expected


@MANY
@given(B64ISH, B64ISH)
def test_b_value_removal_and_header_hash_match_dkimpy(before: bytes, value: bytes) -> None:
    fields = [(b"From", b" a@a.test\r\n"), (b"To", b" x\r\n"), (b"from", b" again\r\n")]
    signature = (b"DKIM-Signature", b" v=1; h=from:to;" + before + b" b=" + value + b"\r\n")
    include = [b"from", b"to", b"subject"]
    for policy in POLICIES:
        expected = hashlib.sha256()
        dkim.hash_headers(
            expected, policy, policy.canonicalize_headers(fields), [*include, b"from"],
            signature, {},
        )  # fmt: skip
        assert header_hash(fields, signature, include, policy) == expected.digest()


@pytest.fixture(scope="module")
def rsa_key() -> tuple[rsa.RSAPrivateKey, PublicKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    key = PublicKey(b"rsa", 2048, numbers.e, False, modulus=numbers.n)
    return private, key


def _dkimpy_says(key: PublicKey, digest: bytes, signature: bytes) -> bool:
    pk = {"modulus": key.modulus, "publicExponent": key.exponent}
    return bool(RSASSA_PKCS1_v1_5_verify(_Digest(digest), signature, pk))


class _Digest:
    """What dkimpy's verifier hands its RSA check: a finished SHA-256 hash object."""

    name = "sha256"

    def __init__(self, digest: bytes) -> None:
        self._digest = digest

    def digest(self) -> bytes:
        return self._digest


def test_rsa_checks_agree_with_dkimpy_also_for_short_and_padded_signatures(
    rsa_key: tuple[rsa.RSAPrivateKey, PublicKey],
) -> None:
    private, key = rsa_key
    seen_leading_zero = False
    for i in range(600):
        digest = hashlib.sha256(b"message %d" % i).digest()
        signature = private.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        variants = [signature, signature[:-1] + bytes([signature[-1] ^ 1]), b"\0" + signature]
        if signature[0] == 0:  # one in 256: some signers drop the leading zero octet
            seen_leading_zero = True
            variants.append(signature[1:])
        for variant in variants:
            assert key.verify(variant, digest) == _dkimpy_says(key, digest, variant)
        assert key.verify(signature, digest)
        if seen_leading_zero and i > 20:
            break
    assert seen_leading_zero


@pytest.fixture(scope="module")
def signed_and_zone(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[KeyAlgorithm, bytes], dict[str, bytes], FakeResolver]:
    keys = KeyStore(tmp_path_factory.mktemp("data"))
    keys.generate("a.test", "q")
    zone = FakeResolver()
    for key in keys.keys("a.test"):
        zone.add_txt(key.record_name, key.txt_record())
    signed = {
        k.algorithm: sign_message(MESSAGE, [k]) + MESSAGE for k in keys.signing_keys("a.test")
    }
    records = {k.record_name: k.txt_record().encode() for k in keys.keys("a.test")}
    return signed, records, zone


BODY_AT = MESSAGE.index(b"Hello")
EDITS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=len(MESSAGE)), st.sampled_from(PIECES)),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=EDITS, algorithm=st.sampled_from(list(KeyAlgorithm)))
@example(edits=[], algorithm=KeyAlgorithm.RSA)  # passes
@example(edits=[(BODY_AT + 5, b"  \t")], algorithm=KeyAlgorithm.ED25519)  # relaxed: passes
@example(edits=[(BODY_AT + 5, b"a")], algorithm=KeyAlgorithm.RSA)  # fails
@example(edits=[(5, b"\t")], algorithm=KeyAlgorithm.RSA)  # "From:\t" relaxed: passes
def test_verdicts_on_altered_messages_match_dkimpy(
    signed_and_zone: tuple[dict[KeyAlgorithm, bytes], dict[str, bytes], FakeResolver],
    edits: list[tuple[int, bytes]],
    algorithm: KeyAlgorithm,
) -> None:
    """A signed message with octets inserted anywhere (whitespace, line ends, text):
    mailkeep passes it exactly when dkimpy's own verifier does."""
    signed, records, zone = signed_and_zone
    message = signed[algorithm]
    offset = len(message) - len(MESSAGE)
    for position, piece in sorted(edits, reverse=True):
        at = offset + position
        message = message[:at] + piece + message[at:]

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        return records.get(name.decode().rstrip("."))

    try:
        expected = dkim.DKIM(message, minkey=1024).verify(dnsfunc=dnsfunc)
    except Exception:
        expected = False
    [outcome] = asyncio.run(verify_dkim(zone, message))
    assert (outcome.result is DKIMResult.PASS) == expected, outcome.reason


def test_key_records_are_parsed_once() -> None:
    record = b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    first = public_key("k._domainkey.a.test", record)
    assert public_key("k._domainkey.a.test", record) is first
    assert (first.ktag, first.bits) == (b"ed25519", 256)
    assert public_key("k._domainkey.a.test", record + b" ") is not first  # a changed record


def test_a_key_for_other_services_only_is_not_used() -> None:
    record = b"v=DKIM1; k=ed25519; s=tlsrpt; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    assert public_key("t._domainkey.a.test", record).tls_reports_only
