"""DKIM public keys from key records, parsed once and kept; signature checks in C.

RFC 6376 3.6.1 (key record tags), RFC 8017 8.2.2 (RSASSA-PKCS1-v1_5 verification),
RFC 8463 3 (Ed25519: the signature is over the SHA-256 digest of the header hash input),
RFC 8460 3 (s=tlsrpt keys).

Implementation notes:

- The record is read by dkimpy's ``evaluate_pk``, exactly as dkimpy's own verifier reads
  it (v=, k=, p=, s=, SubjectPublicKeyInfo or bare RSAPublicKey). What it gives is kept in
  an LRU cache keyed by (key name, record text), so a sender's key is parsed once, not once
  per message; a changed record is a different key. Records that do not parse raise and
  are not cached.
- RSA verification uses ``cryptography`` (OpenSSL) instead of dkimpy's pure-Python
  arithmetic, which costs about a millisecond per signature; Ed25519 uses the PyNaCl key
  dkimpy made (libsodium), as dkimpy does. The OpenSSL key object is made only when a
  signature is checked, after the caller's size limits, and cached by (modulus, exponent).
- Equivalence with dkimpy's verifier: dkimpy compares ``signature^e mod n`` with the
  encoded digest, whatever the signature's length. OpenSSL insists on exactly the
  modulus's length, so a shorter signature is left-padded with zeros and a longer one
  loses its leading zero octets first (the same integer either way).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dkim
import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

KEY_CACHE_SIZE = 1024  # distinct sender keys kept parsed; each is a few hundred octets


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One usable key record: its type, size, and how to check a signature with it."""

    ktag: bytes  # b"rsa" or b"ed25519"; b"" when s= names only services other than email
    bits: int
    exponent: int  # RSA public exponent; 0 for Ed25519
    tls_reports_only: bool  # s=tlsrpt (RFC 8460 3)
    modulus: int = 0
    ed25519: nacl.signing.VerifyKey | None = None

    def verify(self, signature: bytes, digest: bytes) -> bool:
        """Whether ``signature`` signs the SHA-256 ``digest`` of the header hash input.
        Raises ValueError when the RSA numbers are not a key OpenSSL accepts."""
        if self.ktag == b"ed25519" and self.ed25519 is not None:
            try:
                self.ed25519.verify(digest, signature)
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
                return False
            return True
        if self.ktag != b"rsa":
            return False
        length = (self.modulus.bit_length() + 7) // 8
        if len(signature) > length:
            signature = signature.lstrip(b"\0")
            if len(signature) > length:
                return False
        try:
            _rsa_key(self.modulus, self.exponent).verify(
                signature.rjust(length, b"\0"),
                digest,
                padding.PKCS1v15(),
                Prehashed(hashes.SHA256()),
            )
        except InvalidSignature:
            return False
        return True


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def public_key(name: str, record: bytes) -> PublicKey:
    """The key a record publishes. Raises ``dkim.DKIMException`` or ValueError when the
    record is not a usable key record."""
    pk, bits, ktag, tls_reports_only = dkim.evaluate_pk(name, record)
    if ktag == b"rsa":
        return PublicKey(
            b"rsa", int(bits), int(pk["publicExponent"]), bool(tls_reports_only),
            modulus=int(pk["modulus"]),
        )  # fmt: skip
    if ktag == b"ed25519" and isinstance(pk, nacl.signing.VerifyKey):
        return PublicKey(b"ed25519", 256, 0, bool(tls_reports_only), ed25519=pk)
    return PublicKey(b"", 0, 0, False)  # s= names a service other than email


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _rsa_key(modulus: int, exponent: int) -> rsa.RSAPublicKey:
    """Raises ValueError for numbers that are not an RSA key (even e, e >= n...)."""
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()
