"""Parse a message once at delivery and pull out what the store caches and indexes.

Everything here must degrade, never fail: a message that is not valid MIME still gets stored
byte for byte, with whatever metadata could be read (at worst empty fields).

TEMPORARY: until ``mailkeep.mail.mime`` (parse_message, text_for_index, preview) lands, this
module reads headers and text with the standard library's email package as a stand-in; the
store depends only on ``Extracted``, so the switch is local to this file.
"""

from __future__ import annotations

import email.header
import email.message
import email.parser
import email.policy
import email.utils
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from mailkeep.store.models import HeaderFields

log = logging.getLogger(__name__)

PREVIEW_CHARS = 200  # RFC 8970 3: a preview is at most 256 characters; keep it shorter
MAX_INDEXED_HEADER_CHARS = 64 * 1024  # a header block longer than this is junk; index the start


@dataclass(frozen=True, slots=True)
class Extracted:
    """What delivery caches for one message (shared by every copy of it).

    ``header_text``: one "name: value" line per field, name lowercase, value decoded and
    unfolded. ``body_text``: the decoded text of the text parts. ``indexed``: the decoded
    values of subject/from/to/cc/bcc (several fields of a name joined with ", ").
    """

    info: bytes
    fields: HeaderFields
    indexed: dict[str, str]
    header_text: str
    body_text: str
    preview: str


_WS = re.compile(r"\s+")


def _decode(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # degrade: a broken encoded word stays as written
        return value


def _first_address(values: list[str]) -> tuple[str, str]:
    pairs = email.utils.getaddresses(values)
    for display, addr in pairs:
        if addr or display:
            return addr, _decode(display) if display else addr
    return "", ""


def _sent_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _base_subject(subject: str) -> str:
    # Stand-in for RFC 5256 2.1 until mail.mime provides the exact algorithm.
    text = _WS.sub(" ", subject).strip()
    while True:
        new = re.sub(r"^(?:re|fwd?)\s*(?:\[[^\]]*\])?\s*:\s*", "", text, flags=re.I)
        new = re.sub(r"\s*\(fwd\)$", "", new, flags=re.I).strip()
        if new == text:
            return text
        text = new


def _body_text(msg: email.message.Message) -> str:
    parts: list[str] = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "us-ascii"
        try:
            parts.append(payload.decode(charset, errors="replace"))
        except LookupError:
            parts.append(payload.decode("utf-8", errors="replace"))
    return "\n".join(parts)


def extract(raw: bytes) -> Extracted:
    """Parse ``raw`` once; never raises (broken input gives partial or empty metadata)."""
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    except Exception:
        log.info("message unparsable, stored without metadata")
        return Extracted(b"", HeaderFields(), {}, "", "", "")
    lines: list[str] = []
    indexed: dict[str, list[str]] = {}
    for name, value in msg.items():
        lname = str(name).lower()
        decoded = _WS.sub(" ", _decode(str(value))).strip()
        lines.append(f"{lname}: {decoded}")
        if lname in ("subject", "from", "to", "cc", "bcc"):
            indexed.setdefault(lname, []).append(decoded)
    header_text = "\n".join(lines)[:MAX_INDEXED_HEADER_CHARS]
    try:
        body = _body_text(msg)
    except Exception:
        body = ""
    subject = ", ".join(indexed.get("subject", []))
    from_addr, from_display = _first_address(msg.get_all("from", []))
    to_addr, to_display = _first_address(msg.get_all("to", []))
    cc_addr, _ = _first_address(msg.get_all("cc", []))
    fields = HeaderFields(
        subject=subject,
        base_subject=_base_subject(subject),
        from_addr=from_addr,
        from_display=from_display,
        to_addr=to_addr,
        to_display=to_display,
        cc_addr=cc_addr,
        sent_date=_sent_date(msg.get("date")),
        message_id=str(msg.get("message-id", "")).strip(),
        in_reply_to=str(msg.get("in-reply-to", "")).strip(),
        references=_WS.sub(" ", str(msg.get("references", ""))).strip(),
    )
    preview = _WS.sub(" ", body).strip()[:PREVIEW_CHARS]
    return Extracted(
        info=b"",
        fields=fields,
        indexed={k: ", ".join(v) for k, v in indexed.items()},
        header_text=header_text,
        body_text=body,
        preview=preview,
    )
