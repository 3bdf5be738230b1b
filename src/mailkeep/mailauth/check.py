"""All inbound checks for one message: SPF, DKIM, ARC, then DMARC, and the header.

What ``delivery.inbound`` calls at the end of DATA on the MX. SPF, DKIM and ARC run
concurrently; DMARC needs their results. The incoming Authentication-Results fields that
claim our authserv-id are removed (RFC 8601 5) and ours is put on top.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random as random_module
import time
from collections.abc import Callable
from dataclasses import dataclass

from mailkeep.dns.resolver import Resolver
from mailkeep.mailauth.arc import verify_arc
from mailkeep.mailauth.authresults import authentication_results, remove_our_results
from mailkeep.mailauth.dkim import verify_dkim
from mailkeep.mailauth.dmarc import aligned, author_domain, verify_dmarc
from mailkeep.mailauth.results import (
    ARCOutcome,
    ARCResult,
    Disposition,
    DKIMOutcome,
    DMARCOutcome,
    DMARCResult,
    SPFOutcome,
)
from mailkeep.mailauth.spf import verify_spf


@dataclass(frozen=True, slots=True)
class Verdict:
    spf: SPFOutcome
    dkim: tuple[DKIMOutcome, ...]
    arc: ARCOutcome
    dmarc: DMARCOutcome
    header: bytes  # the Authentication-Results field, CRLF-terminated

    @property
    def disposition(self) -> Disposition:
        """What DMARC asks for this message (after pct=): none, quarantine or reject."""
        return self.dmarc.applied

    def stamp(self, message: bytes, authserv_id: str) -> bytes:
        """``message`` without forged results of ours, with our field on top."""
        return self.header + remove_our_results(message, authserv_id)


def trusted_pass(dmarc: DMARCOutcome, arc: ARCOutcome) -> str | None:
    """What the newest ARC set reports that would have passed DMARC for the From domain
    at the sealer (dmarc=pass for it, or a DKIM or SPF pass aligned with it under the
    record's adkim=/aspf=), or None."""
    claims = arc.newest
    author = dmarc.from_domain
    if claims is None or not author:
        return None
    if author in claims.dmarc_pass:
        return f"dmarc=pass header.from={author}"
    for domain in claims.dkim_pass:
        if aligned(domain, author, strict=dmarc.strict_dkim):
            return f"dkim=pass header.d={domain}"
    for domain in claims.spf_pass:
        if aligned(domain, author, strict=dmarc.strict_spf):
            return f"spf=pass for {domain}"
    return None


async def authenticate_message(
    resolver: Resolver,
    message: bytes,
    *,
    ip: str,
    mail_from: str,
    helo: str,
    authserv_id: str,
    random: Callable[[], float] = random_module.random,
    now: Callable[[], float] = time.time,
    trusted_sealers: frozenset[str] = frozenset(),
) -> Verdict:
    """Run every check on a received message. Never raises.

    ``trusted_sealers``: ARC-Seal domains (forwarders, mailing lists) whose word we take
    (RFC 7489 7.2 "trusted_forwarder", RFC 8617 7.2). A DMARC failure's disposition becomes
    none when the chain passes, its newest sealer is listed, and that set's
    ARC-Authentication-Results report a pass for the From domain (``trusted_pass``).
    Anyone can seal, so only listed sealers count; empty (the default) never overrides.
    """
    spf, dkim, arc = await asyncio.gather(
        verify_spf(resolver, ip=ip, mail_from=mail_from, helo=helo, receiver=authserv_id),
        verify_dkim(resolver, message, now=now),
        verify_arc(resolver, message),
    )
    author = author_domain(message)
    if isinstance(author, DMARCOutcome):
        dmarc = author
    else:
        dmarc = await verify_dmarc(resolver, from_domain=author, spf=spf, dkim=dkim, random=random)
    if dmarc.result is DMARCResult.FAIL and arc.result is ARCResult.PASS and arc.sealers:
        sealer = arc.sealers[0]
        claim = trusted_pass(dmarc, arc) if sealer in trusted_sealers else None
        if claim is not None:
            dmarc = dataclasses.replace(
                dmarc,
                applied=Disposition.NONE,
                reason=f"{dmarc.reason}; overridden: ARC chain sealed by {sealer} reports {claim}",
            )
        elif sealer in trusted_sealers:
            dmarc = dataclasses.replace(
                dmarc, reason=f"{dmarc.reason}; ARC sealer {sealer} reports no aligned pass"
            )
    header = authentication_results(authserv_id, spf=spf, dkim=dkim, dmarc=dmarc, arc=arc)
    return Verdict(spf, tuple(dkim), arc, dmarc, header)
