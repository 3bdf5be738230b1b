"""Mail authentication on the MX: what ``InboundPolicy`` asks before it delivers.

RFC 8601 (Authentication-Results; section 5: remove incoming fields claiming our
authserv-id), RFC 7208 (SPF), RFC 6376 (DKIM), RFC 8617 (ARC), RFC 7489 6.3 and 6.6
(DMARC policy: reject / quarantine), RFC 5782 (DNS blocklists), RFC 3463 (status codes).

Implementation notes:

- ``InboundAuthenticator.check`` runs ``mailauth.check.authenticate_message`` (every DNS
  lookup bounded by the resolver's timeout and the checks' own limits) under one more
  bound, ``check_timeout``. Past it the message is deferred with 451 4.7.0 when DMARC is
  enforced (so a slow DNS cannot let a forged message through), else delivered with
  temperror results.
- ``verify`` off (config mailauth.verify, for a server behind a gateway that checks
  already): no checks and no Authentication-Results of ours, but incoming ones claiming
  our authserv-id are still removed; the DNSBL screen works as configured.
- The disposition applies per message: ``reject`` is a 550 5.7.1 at the end of DATA (only
  under ``enforce``), ``quarantine`` (and ``reject`` under ``junk``) sends every local copy
  to the recipient's Junk mailbox (the one with the \\Junk special use, else INBOX).
- DNSBL answers are asked at MAIL FROM (the policy sees no earlier event) and cached by the
  resolver for their TTL, so the end of DATA asks again for its header without a query.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random as random_module
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailkeep.delivery.pipeline import ClientInfo, Transaction
from mailkeep.dns.resolver import Resolver
from mailkeep.mailauth.authresults import authentication_results, remove_our_results
from mailkeep.mailauth.check import authenticate_message
from mailkeep.mailauth.dnsbl import DNSBLResult, Listing, check_dnsbl
from mailkeep.mailauth.results import (
    Disposition,
    DKIMOutcome,
    DKIMResult,
    DMARCOutcome,
    DMARCResult,
    SPFIdentity,
    SPFOutcome,
    SPFResult,
)
from mailkeep.protocol.smtp.replies import Reply

log = logging.getLogger(__name__)

# RFC 7489 6.6.4 / 10.3: the refusal names DMARC, not the details (those are in our log).
DMARC_REJECTED = Reply(550, "5.7.1", "Message refused: the sender's domain policy (DMARC) says so")
CHECK_TIMED_OUT = Reply(451, "4.7.0", "Sender checks did not complete in time, try again later")
DNSBL_FIELD = "X-DNSBL"
_MAX_TEXT = 100


class DMARCPolicy(enum.StrEnum):
    """What a DMARC failure does here (config mailauth.dmarc_policy)."""

    ENFORCE = "enforce"  # reject → 550 5.7.1, quarantine → Junk
    JUNK = "junk"  # reject and quarantine → Junk, never refused
    RECORD = "record"  # the header only


@dataclass(frozen=True, slots=True)
class AuthenticationSettings:
    authserv_id: str  # our host name (RFC 8601 2.5)
    verify: bool = True  # False: no SPF/DKIM/ARC/DMARC (a gateway in front checked them)
    dmarc_policy: DMARCPolicy = DMARCPolicy.ENFORCE
    trusted_sealers: frozenset[str] = frozenset()
    check_timeout: float = 30.0
    dnsbl_zones: tuple[str, ...] = ()
    dnsbl_reject: bool = False
    dnsbl_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome for one message: the message as it goes on, and where it goes."""

    fields: bytes  # header fields to put on top (Authentication-Results, DNSBL)
    message: bytes  # the message without forged Authentication-Results of ours
    junk: bool = False  # deliver the local copies to Junk


@dataclass
class InboundAuthenticator:
    """SPF, DKIM, ARC, DMARC and DNSBL for the MX, over one shared resolver."""

    resolver: Resolver
    settings: AuthenticationSettings
    random: Callable[[], float] = random_module.random
    now: Callable[[], float] = time.time

    async def dnsbl(self, client: ClientInfo) -> list[DNSBLResult]:
        zones = self.settings.dnsbl_zones
        if not zones:
            return []
        return await check_dnsbl(
            self.resolver, client.ip, zones, time_limit=self.settings.dnsbl_timeout
        )

    async def check_client(self, client: ClientInfo) -> Reply | None:
        """At connect: the DNSBL results logged; a refusal when a listing rejects."""
        results = await self.dnsbl(client)
        listed = [r for r in results if r.listing is Listing.LISTED]
        for result in results:
            if result.listing is not Listing.NOT_LISTED:
                log.info(
                    "dnsbl",
                    extra={
                        "zone": result.zone,
                        "result": result.listing.value,
                        "codes": ",".join(result.codes),
                        "reason": result.reason,
                    },
                )
        if listed and self.settings.dnsbl_reject:
            return dnsbl_refusal(client.ip, listed[0].zone)
        return None

    async def check(self, client: ClientInfo, txn: Transaction, raw: bytes) -> Checked | Reply:
        """At the end of DATA: every check, the fields to add, and the DMARC disposition."""
        settings = self.settings
        if not settings.verify:
            return await self.unchecked(client, raw)
        mail_from = txn.sender.address.text if txn.sender.address else ""
        try:
            async with asyncio.timeout(settings.check_timeout):
                verdict, blocklists = await asyncio.gather(
                    authenticate_message(
                        self.resolver,
                        raw,
                        ip=client.ip,
                        mail_from=mail_from,
                        helo=client.helo or "",
                        authserv_id=settings.authserv_id,
                        random=self.random,
                        now=self.now,
                        trusted_sealers=settings.trusted_sealers,
                    ),
                    self.dnsbl(client),
                )
        except TimeoutError:
            log.warning("mail authentication timed out", extra={"mail_from": mail_from})
            if settings.dmarc_policy is DMARCPolicy.ENFORCE:
                return CHECK_TIMED_OUT
            header = timed_out_results(settings.authserv_id, mail_from, client.helo or "")
            return Checked(header, remove_our_results(raw, settings.authserv_id))
        disposition = verdict.disposition
        log.info(
            "mail authentication",
            extra={
                "spf": verdict.spf.result.value,
                "dkim": ",".join(d.result.value for d in verdict.dkim),
                "dmarc": verdict.dmarc.result.value,
                "from_domain": verdict.dmarc.from_domain,
                "disposition": disposition.value,
            },
        )
        if disposition is Disposition.REJECT and settings.dmarc_policy is DMARCPolicy.ENFORCE:
            return DMARC_REJECTED
        junk = disposition is not Disposition.NONE and settings.dmarc_policy is not (
            DMARCPolicy.RECORD
        )
        fields = verdict.header + dnsbl_fields(blocklists)
        message = remove_our_results(raw, settings.authserv_id)
        if settings.dnsbl_zones:
            message = remove_dnsbl_fields(message)
        return Checked(fields, message, junk)

    async def unchecked(self, client: ClientInfo, raw: bytes) -> Checked:
        """With ``verify`` off: no results of ours, but none forged in our name either."""
        settings = self.settings
        message = remove_our_results(raw, settings.authserv_id)
        if not settings.dnsbl_zones:
            return Checked(b"", message)
        return Checked(dnsbl_fields(await self.dnsbl(client)), remove_dnsbl_fields(message))


def dnsbl_refusal(ip: str, zone: str) -> Reply:
    """554 instead of the greeting (RFC 5321 3.1), naming the list so that the sender's
    operator knows where to look."""
    return Reply(554, "5.7.1", f"Client host [{ip}] is listed in {_text(zone)}")


def dnsbl_fields(results: Sequence[DNSBLResult]) -> bytes:
    """One field per zone: ``X-DNSBL: zone=Z; result=listed; codes=127.0.0.2; reason="..."``."""
    out = []
    for r in results:
        value = f"zone={_text(r.zone)}; result={r.listing.value}"
        if r.codes:
            value += f"; codes={','.join(r.codes)}"
        if r.reason:
            value += f'; reason="{_text(r.reason)}"'
        out.append(f"{DNSBL_FIELD}: {value}\r\n".encode())
    return b"".join(out)


_FIELD = re.compile(rb"[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n?")


def remove_dnsbl_fields(message: bytes) -> bytes:
    """Incoming X-DNSBL fields removed: only ours may say what our lists answered."""
    match = re.search(rb"\r?\n\r?\n", message)
    head_end = match.start() if match else len(message)
    head, rest = message[:head_end], message[head_end:]
    if b"x-dnsbl" not in head.lower():
        return message
    name = DNSBL_FIELD.lower().encode()
    kept = [f for f in _FIELD.findall(head + b"\n") if f.partition(b":")[0].strip().lower() != name]
    new_head = b"".join(kept)
    if new_head.endswith(b"\n") and not head.endswith(b"\n"):
        new_head = new_head[:-2] if new_head.endswith(b"\r\n") else new_head[:-1]
    return new_head + rest


def timed_out_results(authserv_id: str, mail_from: str, helo: str) -> bytes:
    """The Authentication-Results field when the checks did not finish in time."""
    reason = "check timed out"
    identity = SPFIdentity.MAILFROM if mail_from else SPFIdentity.HELO
    domain = mail_from.rpartition("@")[2] if mail_from else helo
    sender = mail_from or f"postmaster@{helo}"
    return authentication_results(
        authserv_id,
        spf=SPFOutcome(SPFResult.TEMPERROR, identity, domain, sender, reason),
        dkim=[DKIMOutcome(DKIMResult.TEMPERROR, reason=reason)],
        dmarc=DMARCOutcome(DMARCResult.TEMPERROR, reason=reason),
    )


def _text(value: str) -> str:
    """Printable ASCII without quotes, bounded (header values and reply texts)."""
    return re.sub(r"[^\x20-\x7e]|[\"\\]", "?", value)[:_MAX_TEXT]
