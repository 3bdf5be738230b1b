"""Results of the mail-authentication checks, named in the RFCs' own words.

RFC 7208 2.6 (SPF), RFC 8601 2.7.1 (DKIM), RFC 7489 11.2 (DMARC), RFC 8617 4.4 (ARC).
Every check returns one of these value types and never raises: a malformed input is a
``permerror`` and a DNS failure a ``temperror``, each with a ``reason`` for the header's
comment and the log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SPFResult(enum.StrEnum):
    """RFC 7208 2.6."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"  # noqa: S105 (a result name, not a password)
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class DKIMResult(enum.StrEnum):
    """RFC 8601 2.7.1."""

    NONE = "none"
    PASS = "pass"  # noqa: S105 (a result name, not a password)
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class DMARCResult(enum.StrEnum):
    """RFC 7489 11.2."""

    NONE = "none"
    PASS = "pass"  # noqa: S105 (a result name, not a password)
    FAIL = "fail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class ARCResult(enum.StrEnum):
    """RFC 8617 4.4 (chain validation status)."""

    NONE = "none"
    PASS = "pass"  # noqa: S105 (a result name, not a password)
    FAIL = "fail"


class SPFIdentity(enum.StrEnum):
    """RFC 7208 2.3 and 2.4: which identity was checked."""

    MAILFROM = "mailfrom"
    HELO = "helo"


class Disposition(enum.StrEnum):
    """RFC 7489 6.3 p=/sp= values: what the domain owner asks receivers to do."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class SPFOutcome:
    result: SPFResult
    identity: SPFIdentity
    domain: str  # the domain checked: the MAIL FROM domain, or the HELO name
    sender: str  # the identity as evaluated: "user@domain" or "postmaster@helo"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DKIMOutcome:
    """One DKIM-Signature (RFC 6376), or the absence of any (result none)."""

    result: DKIMResult
    domain: str = ""  # d=
    selector: str = ""  # s=
    algorithm: str = ""  # a=
    identity: str = ""  # i=
    signature_prefix: str = ""  # the first characters of b=, RFC 6008 header.b
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SealerResults:
    """What the newest ARC set's ARC-Authentication-Results (RFC 8617 4.1.1) say passed at
    that sealer: the domains, lower-case. Claims only: they count when the sealer is
    trusted."""

    authserv_id: str = ""
    dmarc_pass: tuple[str, ...] = ()  # header.from of each dmarc=pass
    dkim_pass: tuple[str, ...] = ()  # header.d (else the domain of header.i) of each dkim=pass
    spf_pass: tuple[str, ...] = ()  # the domain of smtp.mailfrom (else smtp.helo) of spf=pass


@dataclass(frozen=True, slots=True)
class ARCOutcome:
    result: ARCResult
    instances: int = 0  # how many ARC sets the chain has
    reason: str = ""
    sealers: tuple[str, ...] = ()  # ARC-Seal d= domains, newest first (for a pass only)
    newest: SealerResults | None = None  # the newest set's results (pass, when readable)


@dataclass(frozen=True, slots=True)
class DMARCOutcome:
    result: DMARCResult
    from_domain: str = ""  # RFC 5322.From domain (RFC 7489 3.1)
    policy_domain: str = ""  # where the record was found: from_domain or its org domain
    requested: Disposition = Disposition.NONE  # p= or sp= as it applies to from_domain
    applied: Disposition = Disposition.NONE  # after pct= sampling: what to do
    spf_aligned: bool = False
    dkim_aligned: bool = False
    reason: str = ""
    strict_spf: bool = False  # aspf=s (RFC 7489 3.1.2)
    strict_dkim: bool = False  # adkim=s (RFC 7489 3.1.1)
