"""ARC (RFC 8617) chain validation over dkimpy, recorded as a hint for forwarded mail.

mailkeep validates and records the chain (RFC 8617 5.2); it does not seal. The result is
one of none / pass / fail. dkimpy asks for keys through ``dnsfunc``, which we serve from
mailkeep's resolver through a ``BlockingLookup`` while dkimpy runs in a worker thread.
For a passing chain, the newest set's ARC-Authentication-Results (RFC 8617 4.1.1) are
read with ``authres`` into ``SealerResults``: what that sealer says passed, for
``check`` to weigh when the sealer is trusted (RFC 8617 7.2).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import authres
import authres.core
import dkim

from mailkeep.dns.blocking import BlockingLookup
from mailkeep.dns.resolver import RecordType, Resolver
from mailkeep.mailauth.dkim import MAX_KEY_RECORD_OCTETS, MIN_RSA_BITS
from mailkeep.mailauth.results import ARCOutcome, ARCResult, SealerResults

log = logging.getLogger(__name__)

MAX_INSTANCES = 50  # RFC 8617 4.2.1: a chain with more than 50 sets is invalid

_quiet = logging.getLogger("mailkeep.mailauth.dkimpy")

TxtFunc = Callable[..., bytes | None]

_ARC_FIELD = re.compile(
    rb"^arc-(seal|message-signature|authentication-results)[ \t]*:", re.I | re.M
)


_INSTANCE_TAG = re.compile(rb"\A\s*i\s*=\s*[0-9]+\s*;")
MAX_AAR_OCTETS = 8192  # far above real fields; bounds the parser's work on hostile input


def _domain(value: str) -> str:
    """The domain of "user@domain", "@domain" or "domain", lower-case, without quotes."""
    return value.strip().strip('"').rpartition("@")[2].rstrip(".").lower()


def sealer_results(value: bytes) -> SealerResults | None:
    """The passes an ARC-Authentication-Results value reports, or None when it is not
    one (RFC 8617 4.1.1: "i=" instance, then an Authentication-Results value)."""
    if len(value) > MAX_AAR_OCTETS:
        return None
    text = re.sub(rb"\r?\n", b"", value)
    instance = _INSTANCE_TAG.match(text)
    if instance is None:
        return None
    try:
        header = authres.core.AuthenticationResultsHeader.parse_value(
            authres.all_features(), text[instance.end() :].decode("utf-8", "replace")
        )
    except Exception:  # authres on text it cannot parse (its errors and others): no claims
        return None
    passed: dict[str, list[str]] = {"dmarc": [], "dkim": [], "spf": []}
    for result in header.results:
        method = str(result.method).lower()
        if method not in passed or str(result.result).lower() != "pass":
            continue
        props = {
            (str(p.type).lower(), str(p.name).lower()): str(p.value) for p in result.properties
        }
        if method == "dmarc":
            domain = _domain(props.get(("header", "from"), ""))
        elif method == "dkim":
            domain = _domain(props.get(("header", "d")) or props.get(("header", "i"), ""))
        else:
            domain = _domain(props.get(("smtp", "mailfrom")) or props.get(("smtp", "helo"), ""))
        if domain:
            passed[method].append(domain)
    return SealerResults(
        str(header.authserv_id or ""),
        tuple(passed["dmarc"]),
        tuple(passed["dkim"]),
        tuple(passed["spf"]),
    )


def _has_arc_fields(message: bytes) -> bool:
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    return _ARC_FIELD.search(head) is not None


def txt_dnsfunc(lookup: BlockingLookup) -> TxtFunc:
    """A dkimpy ``dnsfunc``: the one TXT record at a name, or None."""

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        texts = lookup.lookup(text, RecordType.TXT).texts()
        if len(texts) != 1 or len(texts[0]) > MAX_KEY_RECORD_OCTETS:
            return None
        return texts[0]

    return dnsfunc


def _verify_in_thread(message: bytes, lookup: BlockingLookup) -> ARCOutcome:
    cv, results, comment = dkim.arc_verify(
        message, logger=_quiet, dnsfunc=txt_dnsfunc(lookup), minkey=MIN_RSA_BITS
    )
    instances = len(results)
    reason = comment if isinstance(comment, str) else str(comment)
    if lookup.tempfailures and cv != dkim.CV_Pass:
        reason = f"{reason} (DNS: {lookup.tempfailures[0].reason})"
    if cv == dkim.CV_Pass:
        sealers = tuple(
            str(r["as-domain"].decode("ascii", "replace")).lower()
            for r in results
            if isinstance(r.get("as-domain"), bytes)
        )
        newest = results[0].get("aar-value") if results else None
        claims = sealer_results(newest) if isinstance(newest, bytes) else None
        return ARCOutcome(ARCResult.PASS, instances, reason, sealers, claims)
    if cv == dkim.CV_None:  # ARC fields, but no usable instance (e.g. i=0): RFC 8617 5.2
        return ARCOutcome(ARCResult.FAIL, 0, "ARC fields without a valid instance")
    return ARCOutcome(ARCResult.FAIL, instances, reason)


async def verify_arc(resolver: Resolver, message: bytes, *, time_limit: float = 10.0) -> ARCOutcome:
    """Validate the ARC chain of ``message``. Never raises."""
    if not _has_arc_fields(message):
        return ARCOutcome(ARCResult.NONE, 0, "no ARC sets")
    lookup = BlockingLookup(resolver, asyncio.get_running_loop(), timeout=time_limit / 2)
    try:
        async with asyncio.timeout(time_limit):
            return await asyncio.to_thread(_verify_in_thread, message, lookup)
    except TimeoutError:
        return ARCOutcome(ARCResult.FAIL, 0, "validation timed out")
    except Exception as exc:  # dkimpy on input it did not expect
        log.info("arc validation error error=%r", exc)
        return ARCOutcome(ARCResult.FAIL, 0, f"validation error: {type(exc).__name__}")
