"""A self-signed certificate for when no certificate is configured.

Made once under ``data_dir/tls/`` and reused on every start; made again only when it no
longer fits (another hostname, expired, or unreadable). EC P-256 (RFC 8422, RFC 5480) with
subjectAltName DNS:hostname, DNS:localhost, IP:127.0.0.1 and IP:::1 (RFC 5280 4.2.1.6);
clients will warn about it, which is why the caller logs a warning.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailkeep.certs.pair import check_pair
from mailkeep.errors import UserError

CERT_NAME = "selfsigned.crt"
KEY_NAME = "selfsigned.key"
# Long enough never to expire under a running server; a self-signed certificate is not
# trusted by anyone anyway, so short lifetimes (CA/B rules) buy nothing here.
VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class SelfSigned:
    """Where the certificate and key are, and whether they were made just now."""

    cert: Path
    key: Path
    created: bool


def _fits(cert: Path, key: Path, hostname: str, now: datetime.datetime) -> bool:
    try:
        info = check_pair(cert, key, now)
    except UserError:
        return False
    return not info.warnings and hostname in info.dns_names


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file with mode 0600, then move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_certificate(hostname: str, now: datetime.datetime) -> tuple[bytes, bytes]:
    """Return (certificate PEM, key PEM) for a new self-signed certificate for hostname."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    sans: list[x509.GeneralName] = [
        x509.DNSName(hostname),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        x509.IPAddress(ipaddress.IPv6Address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(directory: Path, hostname: str, now: datetime.datetime) -> SelfSigned:
    """Reuse the self-signed pair in ``directory`` when it fits ``hostname``, else make one."""
    cert = directory / CERT_NAME
    key = directory / KEY_NAME
    if _fits(cert, key, hostname, now):
        return SelfSigned(cert, key, created=False)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert_pem, key_pem = make_certificate(hostname, now)
        _write_private(key, key_pem)
        _write_private(cert, cert_pem)
        cert.chmod(0o644)
    except OSError as exc:
        raise UserError(
            f"cannot write a self-signed certificate in {directory}: {exc.strerror or exc}; "
            "make data_dir writable or set tls.cert and tls.key"
        ) from None
    return SelfSigned(cert, key, created=True)
