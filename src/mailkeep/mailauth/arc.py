"""ARC (RFC 8617) chain validation over dkimpy, recorded as a hint for forwarded mail.

mailkeep validates and records the chain (RFC 8617 5.2); it does not seal. The result is
one of none / pass / fail. dkimpy asks for keys through ``dnsfunc``, which we serve from
mailkeep's resolver through a ``BlockingLookup`` while dkimpy runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import dkim

from mailkeep.dns.blocking import BlockingLookup
from mailkeep.dns.resolver import RecordType, Resolver
from mailkeep.mailauth.dkim import MAX_KEY_RECORD_OCTETS, MIN_RSA_BITS
from mailkeep.mailauth.results import ARCOutcome, ARCResult

log = logging.getLogger(__name__)

MAX_INSTANCES = 50  # RFC 8617 4.2.1: a chain with more than 50 sets is invalid

_quiet = logging.getLogger("mailkeep.mailauth.dkimpy")

TxtFunc = Callable[..., bytes | None]

_ARC_FIELD = re.compile(
    rb"^arc-(seal|message-signature|authentication-results)[ \t]*:", re.I | re.M
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
        return ARCOutcome(ARCResult.PASS, instances, reason, sealers)
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
