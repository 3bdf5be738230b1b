"""DMARC (RFC 7489): policy discovery, identifier alignment, p/sp/pct.

The organizational domain (RFC 7489 3.2) comes from the Public Suffix List bundled with
the ``publicsuffixlist`` package: read from the installed package, never fetched at run
time. Sampling for pct= uses an injected random source, so tests are exact.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random as random_module
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from mailkeep.dns.resolver import RecordType, Resolver, Status, normalize_name
from mailkeep.mail.hostname import to_alabel
from mailkeep.mailauth.results import (
    Disposition,
    DKIMOutcome,
    DKIMResult,
    DMARCOutcome,
    DMARCResult,
    SPFOutcome,
    SPFResult,
)

MAX_RECORD_OCTETS = 2048  # far above real records; bounds parsing work on hostile DNS


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """RFC 7489 3.2: the public suffix plus one label ("a.b.example.co.uk" → "example.co.uk")."""
    domain = normalize_name(domain)
    return str(_psl().privatesuffix(domain) or domain)


def aligned(identifier: str, from_domain: str, *, strict: bool) -> bool:
    """RFC 7489 3.1.1 and 3.1.2: strict needs equal names, relaxed equal org domains."""
    a, b = normalize_name(identifier), normalize_name(from_domain)
    if not a or not b:
        return False
    return a == b if strict else organizational_domain(a) == organizational_domain(b)


@dataclass(frozen=True, slots=True)
class DMARCRecord:
    """RFC 7489 6.3, the tags that matter to a receiver."""

    p: Disposition
    sp: Disposition | None = None
    adkim_strict: bool = False
    aspf_strict: bool = False
    pct: int = 100
    rua: str = ""


def parse_record(text: str) -> DMARCRecord | str:
    """A record, or why it is invalid. Unknown tags are ignored (RFC 7489 6.3)."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not name and not eq:
            continue
        if not eq or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            return f"bad tag {part.strip()[:40]!r}"
        tags.setdefault(name, value)
    if next(iter(tags), None) != "v" or tags["v"] != "DMARC1":  # RFC 7489 6.4
        return "v=DMARC1 is not the first tag"
    try:
        p = Disposition(tags.get("p", "").lower())
    except ValueError:
        if not tags.get("rua"):
            return "p= missing or invalid"
        p = Disposition.NONE  # RFC 7489 6.6.3 step 6: invalid p= with rua= means none
    sp = None
    if "sp" in tags:
        try:
            sp = Disposition(tags["sp"].lower())
        except ValueError:
            sp = None  # RFC 7489 6.3: a bad value falls back to the default
    pct = 100
    if tags.get("pct", "").isdigit():
        pct = min(int(tags["pct"]), 100)
    return DMARCRecord(
        p=p,
        sp=sp,
        adkim_strict=tags.get("adkim", "r").lower() == "s",
        aspf_strict=tags.get("aspf", "r").lower() == "s",
        pct=pct,
        rua=tags.get("rua", ""),
    )


def author_domain(message: bytes) -> str | DMARCOutcome:
    """RFC 7489 6.6.1: the one From domain, or a permerror outcome saying why not."""
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    values = re.findall(rb"^from[ \t]*:(.*(?:\r?\n[ \t].*)*)", head, re.I | re.M)
    if len(values) != 1:
        reason = "no From field" if not values else "several From fields"
        return DMARCOutcome(DMARCResult.PERMERROR, reason=reason)
    text = re.sub(r"\r?\n", "", values[0].decode("utf-8", "replace"))
    addresses = [a for _, a in email.utils.getaddresses([text]) if a]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return DMARCOutcome(DMARCResult.PERMERROR, reason="From does not hold one address")
    try:
        return _alabel(addresses[0].rpartition("@")[2])
    except ValueError:
        return DMARCOutcome(DMARCResult.PERMERROR, reason="From domain is not a valid name")


@functools.lru_cache(maxsize=4096)
def _alabel(domain: str) -> str:
    """``to_alabel``, remembered: IDNA's checks cost more than the rest of DMARC."""
    return to_alabel(domain)


async def _lookup_record(
    resolver: Resolver, domain: str
) -> tuple[DMARCRecord | None, DMARCOutcome | None]:
    """(record, None), (None, None) when there is no record, or (None, error outcome)."""
    answer = await resolver.lookup(f"_dmarc.{domain}", RecordType.TXT)
    if answer.status is Status.TEMPFAIL:
        return None, DMARCOutcome(
            DMARCResult.TEMPERROR, from_domain=domain, reason=f"DNS: {answer.reason}"
        )
    texts = [t for t in answer.texts() if re.match(rb"v\s*=\s*DMARC1\s*(;|$)", t)]
    if len(texts) != 1:  # RFC 7489 6.6.3 step 5: none, or several, means no policy
        return None, None
    if len(texts[0]) > MAX_RECORD_OCTETS:
        return None, DMARCOutcome(DMARCResult.PERMERROR, reason="DMARC record too long")
    parsed = parse_record(texts[0].decode("ascii", "replace"))
    if isinstance(parsed, str):
        return None, DMARCOutcome(DMARCResult.PERMERROR, reason=f"_dmarc.{domain}: {parsed}")
    return parsed, None


_WEAKER = {
    Disposition.REJECT: Disposition.QUARANTINE,
    Disposition.QUARANTINE: Disposition.NONE,
    Disposition.NONE: Disposition.NONE,
}


async def verify_dmarc(
    resolver: Resolver,
    *,
    from_domain: str,
    spf: SPFOutcome,
    dkim: Sequence[DKIMOutcome],
    random: Callable[[], float] = random_module.random,
    time_limit: float = 10.0,
) -> DMARCOutcome:
    """Evaluate DMARC for a message whose author domain is ``from_domain``. Never raises."""
    from_domain = normalize_name(from_domain)
    org = organizational_domain(from_domain)
    try:
        async with asyncio.timeout(time_limit):
            record, error = await _lookup_record(resolver, from_domain)
            policy_domain = from_domain
            if record is None and error is None and org != from_domain:
                record, error = await _lookup_record(resolver, org)  # RFC 7489 6.6.3 step 3
                policy_domain = org
    except TimeoutError:
        return DMARCOutcome(DMARCResult.TEMPERROR, from_domain, reason="DNS timed out")
    if error is not None:
        return DMARCOutcome(error.result, from_domain, policy_domain, reason=error.reason)
    if record is None:
        return DMARCOutcome(DMARCResult.NONE, from_domain, reason="no DMARC record")
    requested = record.p
    if policy_domain != from_domain and record.sp is not None:
        requested = record.sp  # RFC 7489 6.3 sp=: for subdomains of the org domain
    spf_ok = spf.result is SPFResult.PASS and aligned(
        spf.domain, from_domain, strict=record.aspf_strict
    )
    dkim_ok = any(
        d.result is DKIMResult.PASS and aligned(d.domain, from_domain, strict=record.adkim_strict)
        for d in dkim
    )
    strict_spf, strict_dkim = record.aspf_strict, record.adkim_strict
    if spf_ok or dkim_ok:
        return DMARCOutcome(
            DMARCResult.PASS, from_domain, policy_domain, requested, Disposition.NONE,
            spf_ok, dkim_ok, strict_spf=strict_spf, strict_dkim=strict_dkim,
        )  # fmt: skip
    applied = requested
    if record.pct < 100 and random() * 100 >= record.pct:
        applied = _WEAKER[requested]  # RFC 7489 6.6.4: not sampled, one step weaker
    reason = "neither SPF nor DKIM aligned and passed"
    return DMARCOutcome(
        DMARCResult.FAIL, from_domain, policy_domain, requested, applied, False, False, reason,
        strict_spf=strict_spf, strict_dkim=strict_dkim,
    )  # fmt: skip
