"""DANE for SMTP: TLSA records of an MX host and checking a peer certificate against them.

RFC 7672 (SMTP security via opportunistic DANE TLS), RFC 6698 2.1 (TLSA fields), RFC 7218
(usage names), RFC 7671 5 (DANE-EE ignores names and dates).

Implementation notes:
- Only DNSSEC-validated answers count (the AD bit from the configured resolver,
  RFC 7672 2.2): an MX answer or TLSA answer without it means "no DANE" for that host.
- DANE-EE(3) is checked against the peer's own certificate, selector Cert(0) or SPKI(1),
  matching Full(0), SHA2-256(1) or SHA2-512(2). DANE-TA(2) needs the peer's chain, which
  Python 3.11's ssl module does not expose: such records are counted as unusable. When
  TLSA records exist but none is usable, TLS is still mandatory, without authentication
  (RFC 7672 2.2). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 3.1.3).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mailkeep.dns.resolver import RecordType, Resolver, Status, TLSARecord

DANE_TA = 2
DANE_EE = 3


class Requirement(enum.Enum):
    NONE = "none"  # no validated TLSA records: other policies apply
    ENCRYPT = "encrypt"  # records exist, none usable: TLS without authentication
    MATCH = "match"  # the certificate must match a usable record
    TEMPFAIL = "tempfail"  # the lookup failed: do not send to this host now


@dataclass(frozen=True, slots=True)
class HostDANE:
    requirement: Requirement
    records: tuple[TLSARecord, ...] = ()
    detail: str = ""


def usable(record: TLSARecord) -> bool:
    return record.usage == DANE_EE and record.selector in (0, 1) and record.mtype in (0, 1, 2)


async def lookup(resolver: Resolver, host: str, port: int, *, mx_secure: bool) -> HostDANE:
    """The DANE requirement for ``host`` reached through a validated (``mx_secure``) MX."""
    if not mx_secure:
        return HostDANE(Requirement.NONE, detail="MX answer not DNSSEC-validated")
    answer = await resolver.lookup(f"_{port}._tcp.{host}", RecordType.TLSA)
    if answer.status is Status.TEMPFAIL:
        return HostDANE(Requirement.TEMPFAIL, detail=f"TLSA lookup failed: {answer.reason}")
    records = tuple(answer.tlsa())
    if answer.status is not Status.OK or not records or not answer.authenticated:
        return HostDANE(Requirement.NONE, detail="no validated TLSA records")
    good = tuple(r for r in records if usable(r))
    if not good:
        return HostDANE(Requirement.ENCRYPT, records, "TLSA records present, none usable")
    return HostDANE(Requirement.MATCH, good)


def _digest(data: bytes, mtype: int) -> bytes:
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    return data


def matches(certificate_der: bytes, records: tuple[TLSARecord, ...]) -> bool:
    """True when the peer's certificate matches one DANE-EE record (RFC 6698 2.1)."""
    spki: bytes | None = None
    for record in records:
        if not usable(record):
            continue
        if record.selector == 0:
            data = certificate_der
        else:
            if spki is None:
                certificate = x509.load_der_x509_certificate(certificate_der)
                spki = certificate.public_key().public_bytes(
                    Encoding.DER, PublicFormat.SubjectPublicKeyInfo
                )
            data = spki
        if _digest(data, record.mtype) == record.data:
            return True
    return False


def tlsa_for(certificate_der: bytes, selector: int = 1, mtype: int = 1) -> TLSARecord:
    """The DANE-EE record that matches ``certificate_der`` (for tests and `mailkeep dns`)."""
    if selector == 0:
        data = certificate_der
    else:
        certificate = x509.load_der_x509_certificate(certificate_der)
        data = certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
    return TLSARecord(DANE_EE, selector, mtype, _digest(data, mtype))
