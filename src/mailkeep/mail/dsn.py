"""Delivery status notifications: the multipart/report messages the queue sends back.

RFC 3464 (message/delivery-status fields), RFC 6522 (multipart/report), RFC 3461 6 (which
notifications, RET=HDRS/FULL, ENVID and ORCPT echoed), RFC 6533 (message/global-delivery-
status when an address is not ASCII), RFC 3834 5 (Auto-Submitted: auto-replied),
RFC 5321 4.5.5 (a notification goes out with the null reverse-path, so it is never bounced).

Pure: the date, message id and boundary are passed in.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Action(enum.Enum):
    """RFC 3464 2.3.3."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One per-recipient block of the report."""

    final_recipient: str  # the address we tried (RFC 3464 2.3.2)
    action: Action
    status: str  # RFC 3463 code, e.g. "5.1.1"
    diagnostic: str = ""  # the peer's reply ("smtp;") or our own reason (text only)
    diagnostic_is_smtp: bool = False
    original_recipient: tuple[str, str] | None = None  # ORCPT (addr-type, address)
    remote_mta: str | None = None
    last_attempt: float | None = None  # Unix time
    will_retry_until: float | None = None  # for Action.DELAYED


@dataclass(frozen=True, slots=True)
class Report:
    reporting_mta: str  # our host name
    postmaster: str  # the From address, e.g. MAILER-DAEMON@host
    recipient: str  # the original envelope sender
    original: bytes  # the original message (headers are taken from it)
    return_full: bool  # RET=FULL: the whole message goes back (for failures only)
    arrival: float  # when we accepted the original
    envid: str | None
    statuses: tuple[RecipientStatus, ...]


def _date(when: float) -> str:
    return format_datetime(datetime.fromtimestamp(when, UTC))


def _clean(text: str) -> str:
    """One line of field text: control characters (CR, LF among them) become spaces."""
    return _CONTROL.sub(" ", text).strip()


def _address_field(address: str) -> str:
    """RFC 3464 2.3.2 / RFC 6533 3: rfc822 for ASCII addresses, utf-8 otherwise."""
    if address.isascii():
        return f"rfc822;{_clean(address)}"
    return f"utf-8;{_clean(address)}"


def original_headers(message: bytes) -> bytes:
    """The header section of ``message`` with CRLF line ends (all of it if no body)."""
    match = _HEADER_END.search(message)
    header = message[: match.start()] if match else message
    return b"\r\n".join(header.splitlines()) + b"\r\n"


def _subject_and_text(report: Report) -> tuple[str, str]:
    actions = {s.action for s in report.statuses}
    if Action.FAILED in actions:
        subject = "Undelivered Mail Returned to Sender"
        text = "Your message could not be delivered to one or more recipients."
    elif Action.DELAYED in actions:
        subject = "Delayed Mail (still being retried)"
        text = (
            "Your message has not been delivered yet to one or more recipients. "
            "Delivery will be tried again; you need not send it again."
        )
    else:
        subject = "Successful Mail Delivery Report"
        text = "Your message was delivered to the recipients below."
    lines = [f"This is the mail system at {report.reporting_mta}.", "", text, ""]
    for status in report.statuses:
        detail = f": {_clean(status.diagnostic)}" if status.diagnostic else ""
        lines.append(f"<{_clean(status.final_recipient)}> {status.action.value}{detail}")
    return subject, "\r\n".join(lines) + "\r\n"


def _status_block(status: RecipientStatus) -> list[str]:
    lines = []
    if status.original_recipient is not None:
        kind, address = status.original_recipient
        lines.append(f"Original-Recipient: {_clean(kind)};{_clean(address)}")
    lines.append(f"Final-Recipient: {_address_field(status.final_recipient)}")
    lines.append(f"Action: {status.action.value}")
    lines.append(f"Status: {status.status}")
    if status.remote_mta:
        lines.append(f"Remote-MTA: dns;{_clean(status.remote_mta)}")
    if status.diagnostic:
        kind = "smtp" if status.diagnostic_is_smtp else "X-mailkeep"
        lines.append(f"Diagnostic-Code: {kind};{_clean(status.diagnostic)[:900]}")
    if status.last_attempt is not None:
        lines.append(f"Last-Attempt-Date: {_date(status.last_attempt)}")
    if status.will_retry_until is not None:
        lines.append(f"Will-Retry-Until: {_date(status.will_retry_until)}")
    return lines


def build_report(report: Report, *, now: float, message_id: str, boundary: str) -> bytes:
    """The whole notification, ready for the spool (CRLF line ends)."""
    if not report.statuses:
        raise ValueError("a report needs at least one recipient status")
    subject, text = _subject_and_text(report)
    utf8 = not all(s.final_recipient.isascii() for s in report.statuses)
    status_type = "message/global-delivery-status" if utf8 else "message/delivery-status"
    fields = [f"Reporting-MTA: dns;{_clean(report.reporting_mta)}"]
    if report.envid:
        fields.append(f"Original-Envelope-Id: {_clean(report.envid)}")
    fields.append(f"Arrival-Date: {_date(report.arrival)}")
    blocks = ["\r\n".join(fields)]
    blocks += ["\r\n".join(_status_block(s)) for s in report.statuses]
    delivery_status = "\r\n\r\n".join(blocks) + "\r\n"
    full = report.return_full and Action.FAILED in {s.action for s in report.statuses}
    if full:
        returned_type = "message/global" if not report.original.isascii() else "message/rfc822"
        returned = b"\r\n".join(report.original.splitlines()) + b"\r\n"
    else:
        returned_type = "text/rfc822-headers"
        returned = original_headers(report.original)
    head = "\r\n".join(
        [
            f"From: Mail Delivery System <{report.postmaster}>",
            f"To: <{_clean(report.recipient)}>",
            f"Subject: {subject}",
            f"Date: {_date(now)}",
            f"Message-ID: <{message_id}>",
            "Auto-Submitted: auto-replied",  # RFC 3834 5
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=delivery-status;",
            f' boundary="{boundary}"',
            "",
            "This is a MIME-encapsulated delivery status notification.",
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
            text,
            f"--{boundary}",
            f"Content-Type: {status_type}",
            "",
            delivery_status,
            f"--{boundary}",
            f"Content-Type: {returned_type}",
            "",
            "",
        ]
    )
    return head.encode("utf-8") + returned + f"\r\n--{boundary}--\r\n".encode("ascii")


def is_notification(message: bytes) -> bool:
    """True when ``message`` looks like an automatic reply or a report (no DSN about a
    DSN, RFC 3461 6.2 / RFC 3834 2): a multipart/report or Auto-Submitted other than no."""
    header = original_headers(message).lower()
    if b"multipart/report" in header:
        return True
    match = re.search(rb"^auto-submitted:[ \t]*([a-z-]+)", header, re.MULTILINE)
    return match is not None and match.group(1) != b"no"
