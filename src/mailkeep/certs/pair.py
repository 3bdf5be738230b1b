"""Reading and checking a certificate chain and its private key (PEM files).

Every problem becomes a one-line UserError naming the file and what to do; an expired or
not yet valid certificate is not an error but is reported in ``CertificateInfo.warnings``
so the caller can log it (a server with an expired certificate still serves opportunistic
TLS on port 25, and refusing to start would take mail down).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mailkeep.errors import UserError


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the log and `mailkeep check` say about the certificate in use."""

    subject: str
    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    dns_names: tuple[str, ...]
    warnings: tuple[str, ...]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist: fix tls.{what} in the config") from None
    except PermissionError:
        raise UserError(
            f"{what} {path} is not readable by this process: fix its owner or mode"
        ) from None
    except OSError as exc:
        raise UserError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def _load_key(path: Path, data: bytes) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UserError(
            f"key {path} is encrypted: give an unencrypted PEM private key (mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise UserError(f"key {path} holds no PEM private key mailkeep can read") from None


def check_pair(cert: Path, key: Path, now: datetime.datetime) -> CertificateInfo:
    """Read both files and check they hold a certificate chain and the leaf's private key."""
    cert_data = _read(cert, "cert")
    key_data = _read(key, "key")
    try:
        chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise UserError(f"cert {cert} holds no PEM certificate (BEGIN CERTIFICATE)") from None
    leaf = chain[0]
    private_key = _load_key(key, key_data)
    if private_key.public_key() != leaf.public_key():
        raise UserError(
            f"key {key} does not belong to the first certificate in {cert}: "
            "give the key the certificate was issued for"
        )
    problems = []
    if leaf.not_valid_after_utc < now:
        problems.append(f"certificate {cert} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        problems.append(
            f"certificate {cert} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}"
        )
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    return CertificateInfo(
        subject=leaf.subject.rfc4514_string(),
        serial=leaf.serial_number,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        dns_names=dns_names,
        warnings=tuple(problems),
    )
