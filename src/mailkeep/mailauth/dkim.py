"""DKIM (RFC 6376) verification of every signature and signing, over dkimpy.

RFC 6376 (DKIM), RFC 8463 (Ed25519-SHA256), RFC 8301 (rsa-sha1 and RSA keys under 1024
bits are not acceptable), RFC 6008 (header.b), RFC 8601 2.7.1 (result names).

Implementation notes:
- Keys are prefetched on the event loop (all selectors at once, through the caching
  resolver); the verification then runs without DNS, on the loop for messages up to
  ``INLINE_OCTETS``, else in a worker thread.
- Each signature gets its own result, from dkimpy's building blocks rather than its
  boolean ``verify``: its message parser, tag parser and checks, canonicalizations and
  header hashing, with our steps between them: bad tags or key records → permerror, a DNS
  failure → temperror, a signature or body hash that does not match → fail. t= and x= are
  checked here against an injectable clock (RFC 6376 3.5), not dkimpy's wall clock.
- Work done once, not per signature: the message is parsed once; the body is
  canonicalized and hashed once per (body canonicalization, l=), all accepted algorithms
  using SHA-256; key records are parsed once per record (``publickeys``, which checks RSA
  signatures with OpenSSL). Canonicalization is ``canonical``'s: dkimpy's results, faster.
- Bounds: at most ``max_signatures`` signatures are evaluated; RSA keys above
  ``MAX_RSA_BITS`` or with an absurd public exponent, and key records over
  ``MAX_KEY_RECORD_OCTETS``, are a permerror before any arithmetic.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dkim
from dkim.util import parse_tag_value

from mailkeep.dns.resolver import RecordType, Resolver, Status
from mailkeep.mailauth.canonical import canonical_body, header_hash, split_message
from mailkeep.mailauth.publickeys import public_key
from mailkeep.mailauth.results import DKIMOutcome, DKIMResult

log = logging.getLogger(__name__)

MAX_SIGNATURES = 10  # DoS bound: more DKIM-Signature fields than this are not evaluated
MIN_RSA_BITS = 1024  # RFC 8301 3.2: verifiers MUST NOT consider smaller keys valid
MAX_RSA_BITS = 8192  # RFC 8301 3.2 expects up to 4096; more only costs verifiers CPU
MAX_RSA_EXPONENT = 2**32  # real keys use 65537; a huge e makes verification slow
MAX_KEY_RECORD_OCTETS = 4096  # an 8192-bit key's record is about 1,500 octets
# Messages up to this size are verified on the event loop: the work is under a millisecond
# of CPU-bound Python, which a worker thread would run under the same GIL anyway; larger
# ones go to a thread so the interpreter's switch interval keeps the loop responsive.
INLINE_OCTETS = 128 * 1024
CLOCK_SKEW_SECONDS = 36_000  # RFC 6376 3.5 t=/x=: leeway for senders with bad clocks
ACCEPTED_ALGORITHMS = {b"rsa-sha256", b"ed25519-sha256"}  # RFC 8301 3.1, RFC 8463 3

_quiet = logging.getLogger("mailkeep.mailauth.dkimpy")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KeyAlgorithm(enum.StrEnum):
    ED25519 = "ed25519"
    RSA = "rsa"

    @property
    def signature_algorithm(self) -> bytes:
        return b"ed25519-sha256" if self is KeyAlgorithm.ED25519 else b"rsa-sha256"


# RFC 6376 5.4.1: fields that SHOULD be signed when present (and the MIME ones)
SIGNED_FIELDS = (
    "from", "sender", "reply-to", "subject", "date", "to", "cc", "message-id",
    "in-reply-to", "references", "resent-date", "resent-from", "resent-sender",
    "resent-to", "resent-cc", "resent-message-id", "list-id", "list-help",
    "list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive",
    "list-unsubscribe-post", "mime-version", "content-type", "content-transfer-encoding",
    "content-id", "content-description",
)  # fmt: skip
# RFC 6376 5.4.2 and 8.15: signed once more than present, so none can be added unnoticed
OVERSIGNED_FIELDS = ("from", "to", "subject", "date")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key ready for dkimpy: PKCS#1 PEM (RSA) or base64 seed (Ed25519)."""

    domain: str
    selector: str
    algorithm: KeyAlgorithm
    private_key: bytes


def signed_field_names(message: bytes) -> list[bytes]:
    """The h= list for ``message``: the SIGNED_FIELDS present, then the oversigned ones."""
    present = [name.lower() for name, _ in _header_fields(message)]
    names = [n for n in present if n.decode("ascii", "replace") in SIGNED_FIELDS]
    return names + [n.encode() for n in OVERSIGNED_FIELDS]


def _header_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    return [(m.group(1), b"") for m in re.finditer(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:", head, re.M)]


def sign_message(message: bytes, keys: Sequence[SigningKey]) -> bytes:
    """The DKIM-Signature fields (CRLF-terminated) to put on top of ``message``.

    relaxed/relaxed canonicalization (RFC 6376 3.4), one signature per key, each over the
    message as given. Raises ValueError (or ``dkim.DKIMException``) on a malformed message.
    """
    include = signed_field_names(message)
    fields = []
    for key in keys:
        try:
            signer = dkim.DKIM(message, logger=_quiet, linesep=b"\r\n")
        except Exception as exc:  # dkimpy's parser on a malformed header section
            raise ValueError(f"cannot sign a malformed message: {exc}") from exc
        fields.append(
            signer.sign(
                key.selector.encode("ascii"),
                key.domain.encode("ascii"),
                key.private_key,
                signature_algorithm=key.algorithm.signature_algorithm,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=include,
            )
        )
    return b"".join(fields)


async def verify_dkim(
    resolver: Resolver,
    message: bytes,
    *,
    now: Callable[[], float] = time.time,
    max_signatures: int = MAX_SIGNATURES,
    time_limit: float = 10.0,
) -> list[DKIMOutcome]:
    """Verify every DKIM-Signature of ``message`` (at most ``max_signatures``).

    One outcome per signature, top to bottom; ``[DKIMOutcome(NONE)]`` for an unsigned
    message. Never raises.
    """
    try:
        headers, body = split_message(message)
    except Exception as exc:  # DKIMException, or IndexError on a leading continuation line
        return [DKIMOutcome(DKIMResult.PERMERROR, reason=f"unparsable message: {exc}")]
    raw = [(n, v) for n, v in headers if n.lower() == b"dkim-signature"]
    if not raw:
        return [DKIMOutcome(DKIMResult.NONE, reason="no signature")]
    parsed = [_parse_signature(v, now()) for _, v in raw[:max_signatures]]
    names = {p.key_name for p in parsed if isinstance(p, _Signature)}
    keys = dict(zip(names, await _fetch_keys(resolver, names, time_limit / 2), strict=True))
    if len(message) <= INLINE_OCTETS:  # less work than the hop to a thread and back
        return _verify_all(headers, body, raw, parsed, keys)
    try:
        async with asyncio.timeout(time_limit):
            return await asyncio.to_thread(_verify_all, headers, body, raw, parsed, keys)
    except TimeoutError:
        return [DKIMOutcome(DKIMResult.TEMPERROR, reason="verification timed out")]


@dataclass(frozen=True, slots=True)
class _KeyRecord:
    text: bytes | None  # the one key record, or None
    result: DKIMResult  # PASS when text holds a usable record to evaluate
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _Signature:
    fields: dict[bytes, bytes]
    include: list[bytes]
    outcome: DKIMOutcome  # the identifying fields, result NEUTRAL until verified

    @property
    def key_name(self) -> str:
        selector = self.fields[b"s"].decode("ascii", "replace")
        return f"{selector}._domainkey.{self.fields[b'd'].decode('ascii', 'replace')}".lower()


async def _fetch_keys(resolver: Resolver, names: set[str], time_limit: float) -> list[_KeyRecord]:
    async def one(name: str) -> _KeyRecord:
        try:
            async with asyncio.timeout(time_limit):
                answer = await resolver.lookup(name, RecordType.TXT)
        except TimeoutError:
            return _KeyRecord(None, DKIMResult.TEMPERROR, f"key lookup timed out: {name}")
        if answer.status is Status.TEMPFAIL:
            return _KeyRecord(None, DKIMResult.TEMPERROR, f"key lookup failed: {answer.reason}")
        texts = answer.texts()
        if not texts:  # RFC 6376 6.1.2: no key record is a PERMFAIL
            return _KeyRecord(None, DKIMResult.PERMERROR, f"no key record at {name}")
        if len(texts) > 1:  # RFC 6376 3.6.2.2: multiple records give undefined results
            return _KeyRecord(None, DKIMResult.PERMERROR, f"several key records at {name}")
        if len(texts[0]) > MAX_KEY_RECORD_OCTETS:
            return _KeyRecord(None, DKIMResult.PERMERROR, "key record too long")
        return _KeyRecord(texts[0], DKIMResult.PASS)

    return list(await asyncio.gather(*(one(n) for n in names)))


_WSP = re.compile(rb"\s+")


def _text(value: bytes) -> str:
    return re.sub(r"\s+", "", value.decode("ascii", "replace"))


def _parse_signature(header: bytes, now: float) -> _Signature | DKIMOutcome:
    """RFC 6376 6.1.1: the tag checks dkimpy does, plus ours, with our clock."""
    try:
        fields = parse_tag_value(re.sub(rb"\r?\n[ \t]", b" ", header))
    except Exception as exc:  # dkim.util.InvalidTagValueList and its kin
        return DKIMOutcome(DKIMResult.PERMERROR, reason=f"malformed signature: {exc}")
    outcome = DKIMOutcome(
        DKIMResult.NEUTRAL,
        domain=_text(fields.get(b"d", b"")).lower(),
        selector=_text(fields.get(b"s", b"")),
        algorithm=_text(fields.get(b"a", b"")),
        identity=_text(fields.get(b"i", b"")),
        signature_prefix=_text(fields.get(b"b", b""))[:8],
    )
    untimed = {k: v for k, v in fields.items() if k not in (b"t", b"x")}
    try:
        dkim.validate_signature_fields(untimed)
    except dkim.DKIMException as exc:
        return _with(outcome, DKIMResult.PERMERROR, f"invalid signature: {exc}")
    if fields[b"a"] not in ACCEPTED_ALGORITHMS:
        return _with(outcome, DKIMResult.PERMERROR, f"algorithm {outcome.algorithm} not accepted")
    for tag in (b"t", b"x"):
        if tag in fields and not fields[tag].strip().isdigit():
            return _with(outcome, DKIMResult.PERMERROR, f"{tag.decode()}= is not a number")
    signed = int(fields[b"t"]) if b"t" in fields else None
    if signed is not None and signed > now + CLOCK_SKEW_SECONDS:
        return _with(outcome, DKIMResult.PERMERROR, "signature timestamp in the future")
    if b"x" in fields:
        expires = int(fields[b"x"])
        if signed is not None and expires < signed:
            return _with(outcome, DKIMResult.PERMERROR, "x= is before t=")
        if expires < now - CLOCK_SKEW_SECONDS:
            return _with(outcome, DKIMResult.FAIL, "signature expired")  # RFC 6376 6.1.1
    include = [x.lower() for x in re.split(rb"\s*:\s*", fields[b"h"].strip())]
    if b"from" not in include:  # RFC 6376 5.4
        return _with(outcome, DKIMResult.PERMERROR, "From is not signed")
    return _Signature(fields, include, outcome)


def _with(outcome: DKIMOutcome, result: DKIMResult, reason: str) -> DKIMOutcome:
    return DKIMOutcome(
        result,
        outcome.domain,
        outcome.selector,
        outcome.algorithm,
        outcome.identity,
        outcome.signature_prefix,
        reason,
    )


def _verify_all(
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    raw_signatures: list[tuple[bytes, bytes]],
    parsed: list[_Signature | DKIMOutcome],
    keys: dict[str, _KeyRecord],
) -> list[DKIMOutcome]:
    out = []
    body_hashes: dict[tuple[bytes, bytes], bytes] = {}
    for index, item in enumerate(parsed):
        if isinstance(item, DKIMOutcome):
            out.append(item)
            continue
        try:
            key = keys[item.key_name]
            out.append(_verify_one(headers, body, raw_signatures[index], item, key, body_hashes))
        except Exception as exc:  # dkimpy on input it did not expect
            log.info("dkim verification error domain=%s error=%r", item.outcome.domain, exc)
            out.append(_with(item.outcome, DKIMResult.PERMERROR, f"verification error: {exc}"))
    return out


def _check_body_hash(
    body: bytes,
    sig: _Signature,
    policy: dkim.CanonicalizationPolicy,
    cache: dict[tuple[bytes, bytes], bytes],
) -> DKIMOutcome | None:
    """RFC 6376 3.7: the body hash, computed once per (body canonicalization, l=) for all
    signatures (every accepted algorithm hashes with SHA-256). None when it matches."""
    key = (policy.body_algorithm.name, sig.fields.get(b"l", b""))
    if key not in cache:
        canonical = canonical_body(policy, body)
        if key[1]:
            canonical = canonical[: int(key[1])]
        cache[key] = hashlib.sha256(canonical).digest()
    try:
        expected = base64.b64decode(_WSP.sub(b"", sig.fields[b"bh"]), validate=True)
    except ValueError:
        return _with(sig.outcome, DKIMResult.PERMERROR, "bh= is not base64")
    if cache[key] != expected:
        return _with(sig.outcome, DKIMResult.FAIL, "body hash mismatch")
    return None


def _verify_one(
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    raw_signature: tuple[bytes, bytes],
    sig: _Signature,
    record: _KeyRecord,
    body_hashes: dict[tuple[bytes, bytes], bytes],
) -> DKIMOutcome:
    """RFC 6376 6.1.2 (the key), then 6.1.3 (body hash, then the signature)."""
    if record.text is None:
        return _with(sig.outcome, record.result, record.reason)
    try:
        key = public_key(sig.key_name, record.text)
    except (dkim.DKIMException, ValueError) as exc:  # binascii.Error is a ValueError
        return _with(sig.outcome, DKIMResult.PERMERROR, f"bad key record: {exc}")
    expected = b"ed25519" if sig.fields[b"a"].startswith(b"ed25519") else b"rsa"
    if not key.ktag:
        return _with(sig.outcome, DKIMResult.PERMERROR, "key is not for email (s=)")
    if key.ktag != expected:
        return _with(sig.outcome, DKIMResult.PERMERROR, "key type does not match a=")
    if key.ktag == b"rsa":
        if key.bits < MIN_RSA_BITS:
            return _with(sig.outcome, DKIMResult.POLICY, f"RSA key too small ({key.bits} bits)")
        if key.bits > MAX_RSA_BITS or key.exponent > MAX_RSA_EXPONENT:
            return _with(sig.outcome, DKIMResult.PERMERROR, f"RSA key too large ({key.bits} bits)")
    if key.tls_reports_only:  # RFC 8460 3: s=tlsrpt keys sign TLS reports, not mail
        return _with(sig.outcome, DKIMResult.FAIL, "key is for TLS reports only (s=tlsrpt)")
    try:
        policy = dkim.CanonicalizationPolicy.from_c_value(sig.fields.get(b"c", b"simple/simple"))
    except dkim.InvalidCanonicalizationPolicyError as exc:
        return _with(sig.outcome, DKIMResult.PERMERROR, f"invalid c= value: {exc}")
    mismatch = _check_body_hash(body, sig, policy, body_hashes)
    if mismatch is not None:
        return mismatch
    digest = header_hash(headers, raw_signature, sig.include, policy)
    signature = base64.b64decode(_WSP.sub(b"", sig.fields[b"b"]))
    try:
        valid = key.verify(signature, digest)
    except ValueError as exc:  # RSA numbers OpenSSL refuses (even exponent...)
        return _with(sig.outcome, DKIMResult.PERMERROR, f"bad key record: {exc}")
    if not valid:
        return _with(sig.outcome, DKIMResult.FAIL, "signature did not verify")
    return _with(sig.outcome, DKIMResult.PASS, f"{key.bits}-bit key")
