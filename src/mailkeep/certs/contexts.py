"""Every ssl.SSLContext mailkeep serves with is built here, from one certificate and key.

RFC 8996 (TLS 1.0 and 1.1 deprecated), RFC 9325 (recommendations for secure use of TLS),
RFC 8314 (implicit TLS for submission and access), RFC 7435 (opportunistic security),
RFC 3207 (SMTP STARTTLS).

Two profiles:

- ``CLIENT``: what users' clients reach (submission, submissions, IMAP, IMAPS, POP3, POP3S).
  TLS 1.2 or newer (RFC 8996, RFC 9325 4.1); for TLS 1.2 only ECDHE key exchange with an
  AEAD cipher (RFC 9325 4.2); the server chooses the suite; no compression (RFC 9325 3.3,
  CRIME), no renegotiation (RFC 9325 3.5); TLS 1.3 session tickets stay on.
- ``MX``: STARTTLS on port 25, where the alternative to weak TLS is plaintext (RFC 7435 3,
  RFC 3207). The same strong suites are offered first, but TLS 1.0 and 1.1 and CBC/SHA-1
  suites are accepted too. OpenSSL 3 refuses TLS below 1.2 at security level 1 and above,
  so this profile sets ``@SECLEVEL=0``; the cipher string still excludes unauthenticated,
  null, export, RC4, DES and 3DES suites, so level 0 only lets the old protocol versions and
  SHA-1 handshake signatures through.
"""

from __future__ import annotations

import enum
import ssl
import warnings
from pathlib import Path

# RFC 9325 4.2: ECDHE with AEAD for TLS 1.2, server order (AES-GCM, then ChaCha20).
STRONG_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)

# RFC 7435 3: for server-to-server mail, any encryption beats plaintext. After the strong
# suites: ECDHE with CBC, then static-RSA key exchange (old peers), never anonymous, null,
# RC4, single or triple DES. @SECLEVEL=0 is what OpenSSL 3 needs for TLS 1.0/1.1.
MX_CIPHERS = (
    STRONG_TLS12_CIPHERS
    + ":ECDHE+AES:ECDHE+CAMELLIA:RSA+AESGCM:RSA+AES"
    + ":!aNULL:!eNULL:!EXPORT:!RC4:!DES:!3DES:!MD5:!PSK:!SRP:@SECLEVEL=0"
)


class TLSProfile(enum.Enum):
    """Which kind of peer a context serves."""

    CLIENT = "client"
    """Users' mail clients: TLS 1.2+, strong suites only."""
    MX = "mx"
    """Other mail servers on port 25: strong suites first, old ones accepted."""


def build_context(profile: TLSProfile, cert: Path, key: Path) -> ssl.SSLContext:
    """Return a fresh server context for ``profile`` holding the certificate chain and key.

    Raises ssl.SSLError or OSError when the files do not load (the caller words the error).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # RFC 9325 3.3 (no compression), 3.5 (no renegotiation), 4.2 (server picks the suite).
    context.options |= (
        ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    )
    if profile is TLSProfile.CLIENT:
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8996 2, 3
        context.set_ciphers(STRONG_TLS12_CIPHERS)
    else:
        context.set_ciphers(MX_CIPHERS)
        with warnings.catch_warnings():
            # Python deprecates naming TLS 1.0; the MX profile accepts it on purpose.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context
