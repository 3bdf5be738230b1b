"""The Authentication-Results header field (RFC 8601) over the ``authres`` package.

RFC 8601 (the field; section 5: remove fields claiming our authserv-id that arrive from
outside), RFC 6008 (header.b), RFC 7489 11.2 (dmarc), RFC 8617 10.1 (arc).
Our host name is the authserv-id. Results are joined one per folded line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import authres
import authres.arc
import authres.dkim_b
import authres.dmarc

from mailkeep.mailauth.results import ARCOutcome, DKIMOutcome, DKIMResult, DMARCOutcome, SPFOutcome

FIELD_NAME = "Authentication-Results"
MAX_REASON = 100  # keeps the field readable; reasons are for people, the log has the rest


def _reason(text: str) -> str | None:
    text = re.sub(r"[^\x20-\x7e]", "?", text).replace("\\", "/").replace('"', "'")
    return text[:MAX_REASON] or None


def _spf(outcome: SPFOutcome) -> authres.AuthenticationResult:
    kind = "mailfrom" if outcome.identity.value == "mailfrom" else "helo"
    result = authres.SPFAuthenticationResult(
        result=outcome.result.value,
        reason=_reason(outcome.reason) if outcome.result.value != "pass" else None,
    )
    if kind == "mailfrom":
        result.smtp_mailfrom = outcome.sender
    else:
        result.smtp_helo = outcome.domain
    return result


def _dkim(outcome: DKIMOutcome) -> authres.AuthenticationResult:
    result = authres.dkim_b.DKIMAuthenticationResult(
        result=outcome.result.value,
        reason=_reason(outcome.reason) if outcome.result is not DKIMResult.PASS else None,
    )
    if outcome.domain:
        result.header_d = outcome.domain
    if outcome.selector:
        result.header_s = outcome.selector
    if outcome.algorithm:
        result.header_a = outcome.algorithm
    if outcome.signature_prefix:
        result.header_b = outcome.signature_prefix
    return result


def _dmarc(outcome: DMARCOutcome) -> authres.AuthenticationResult:
    comment = f"p={outcome.requested.value} dis={outcome.applied.value}"
    result = authres.dmarc.DMARCAuthenticationResult(
        result=outcome.result.value,
        result_comment=comment if outcome.policy_domain else None,
        reason=_reason(outcome.reason) if outcome.result.value != "pass" else None,
    )
    if outcome.from_domain:
        result.header_from = outcome.from_domain
    return result


def _arc(outcome: ARCOutcome) -> authres.AuthenticationResult:
    return authres.arc.ARCAuthenticationResult(
        result=outcome.result.value,
        reason=_reason(outcome.reason) if outcome.result.value == "fail" else None,
    )


def authentication_results(
    authserv_id: str,
    *,
    spf: SPFOutcome | None = None,
    dkim: Sequence[DKIMOutcome] = (),
    dmarc: DMARCOutcome | None = None,
    arc: ARCOutcome | None = None,
) -> bytes:
    """One Authentication-Results field, folded, CRLF-terminated, ready to prepend."""
    results = []
    if spf is not None:
        results.append(_spf(spf))
    results.extend(_dkim(d) for d in dkim)
    if dmarc is not None:
        results.append(_dmarc(dmarc))
    if arc is not None:
        results.append(_arc(arc))
    header = authres.AuthenticationResultsHeader(authserv_id=authserv_id, results=results)
    parts = [header.authserv_id] + [str(r) for r in header.results] if results else []
    value = ";\r\n\t".join(parts) if parts else header.header_value()
    return f"{FIELD_NAME}: {value}\r\n".encode("utf-8", "replace")


_FIELD = re.compile(rb"[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n?")
_COMMENT = re.compile(rb"\([^()]*\)")


def claimed_authserv_id(field_value: bytes) -> str:
    """The authserv-id of an Authentication-Results value (RFC 8601 2.2), lower-case."""
    head = field_value.split(b";", 1)[0]
    for _ in range(4):  # nested comments, a few levels deep
        head = _COMMENT.sub(b" ", head)
    words = head.split()
    return words[0].decode("ascii", "replace").strip('"').lower() if words else ""


def remove_our_results(message: bytes, authserv_id: str) -> bytes:
    """RFC 8601 5: drop incoming Authentication-Results fields that claim our authserv-id."""
    match = re.search(rb"\r?\n\r?\n", message)
    head_end = match.start() if match else len(message)
    head, rest = message[:head_end], message[head_end:]
    ours = authserv_id.lower().rstrip(".")
    kept = []
    for field in _FIELD.findall(head + b"\n"):
        name, colon, value = field.partition(b":")
        if (
            colon
            and name.strip().lower() == b"authentication-results"
            and claimed_authserv_id(value).rstrip(".") == ours
        ):
            continue
        kept.append(field)
    new_head = b"".join(kept)
    if new_head.endswith(b"\n") and not head.endswith(b"\n"):
        new_head = new_head[:-2] if new_head.endswith(b"\r\n") else new_head[:-1]
    return new_head + rest
