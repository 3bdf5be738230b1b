"""How much TLS one MX host gets, and which policy decided it.

RFC 7672 2.2 (DANE, when MX and TLSA answers are DNSSEC-validated, comes first),
RFC 8461 5 (MTA-STS: enforce needs a WebPKI-valid certificate of a listed MX host; testing
only reports), RFC 7435 (otherwise opportunistic TLS), RFC 8460 4.4 (the policy type each
TLS report line names).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailkeep.dns.resolver import Resolver, TLSARecord
from mailkeep.tlspolicy import dane
from mailkeep.tlspolicy.mtasts import Mode, Policy
from mailkeep.tlspolicy.tlsrpt import PolicyType


class TLSLevel(enum.Enum):
    """none: never TLS; may: STARTTLS when offered, any certificate, plaintext fallback;
    encrypt: TLS required, any certificate; verify: TLS with a certificate valid for the
    host name."""

    NONE = "none"
    MAY = "may"
    ENCRYPT = "encrypt"
    VERIFY = "verify"


@dataclass(frozen=True, slots=True)
class HostPolicy:
    level: TLSLevel
    policy_domain: str
    policy_type: PolicyType = PolicyType.NONE
    tlsa: tuple[TLSARecord, ...] = ()  # DANE-EE records the certificate must match


async def choose(
    resolver: Resolver,
    *,
    domain: str,
    host: str,
    mx_authenticated: bool,
    port: int,
    level: TLSLevel,
    sts: Policy | None,
    use_dane: bool,
) -> HostPolicy | str:
    """The policy for ``host`` (an MX of ``domain``); a string is why to skip the host."""
    if use_dane:
        found = await dane.lookup(resolver, host, port, mx_secure=mx_authenticated)
        if found.requirement is dane.Requirement.TEMPFAIL:
            return f"{host}: {found.detail}"
        if found.requirement is dane.Requirement.MATCH:
            return HostPolicy(TLSLevel.ENCRYPT, domain, PolicyType.TLSA, found.records)
        if found.requirement is dane.Requirement.ENCRYPT:
            return HostPolicy(TLSLevel.ENCRYPT, domain, PolicyType.TLSA)
    if sts is not None and sts.mode is Mode.ENFORCE:
        if not sts.allows(host):
            return f"{host}: not an MX host of the MTA-STS policy of {domain}"
        return HostPolicy(TLSLevel.VERIFY, domain, PolicyType.STS)
    if sts is not None:  # testing: report, deliver as usual
        return HostPolicy(level, domain, PolicyType.STS)
    return HostPolicy(level, domain)
