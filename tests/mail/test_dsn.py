"""RFC 3464 delivery status notifications: structure, fields, RET, no header injection."""

from __future__ import annotations

import email
import email.policy

from mailkeep.mail import dsn

ORIGINAL = (
    b"From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hello\r\n"
    b"Message-ID: <m1@a.test>\r\n\r\nbody line\r\n.dots stay\r\n"
)


def report(*statuses: dsn.RecipientStatus, full: bool = False) -> bytes:
    return dsn.build_report(
        dsn.Report(
            reporting_mta="mx.a.test",
            postmaster="MAILER-DAEMON@mx.a.test",
            recipient="alice@a.test",
            original=ORIGINAL,
            return_full=full,
            arrival=1_700_000_000.0,
            envid="env-1",
            statuses=statuses,
        ),
        now=1_700_000_100.0,
        message_id="n1@mx.a.test",
        boundary="b1/x",
    )


FAILED = dsn.RecipientStatus(
    "bob@b.test",
    dsn.Action.FAILED,
    "5.1.1",
    "550 5.1.1 no such user",
    diagnostic_is_smtp=True,
    original_recipient=("rfc822", "bob@b.test"),
    remote_mta="mx.b.test",
    last_attempt=1_700_000_050.0,
)


def parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_failure_report_has_the_three_parts() -> None:
    raw = report(FAILED)
    message = parse(raw)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Subject"] == "Undelivered Mail Returned to Sender"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    status = raw.split(b"message/delivery-status\r\n\r\n", 1)[1].split(b"\r\n--b1/x", 1)[0]
    assert b"Reporting-MTA: dns;mx.a.test\r\n" in status
    assert b"Original-Envelope-Id: env-1\r\n" in status
    assert b"Final-Recipient: rfc822;bob@b.test\r\n" in status
    assert b"Original-Recipient: rfc822;bob@b.test\r\n" in status
    assert b"Action: failed\r\nStatus: 5.1.1\r\n" in status
    assert b"Diagnostic-Code: smtp;550 5.1.1 no such user\r\n" in status
    assert b"Remote-MTA: dns;mx.b.test\r\n" in status
    # Headers only (RET=HDRS or none): the body never goes back.
    assert b"Subject: hello" in raw and b"body line" not in raw


def test_ret_full_returns_the_whole_message() -> None:
    raw = report(FAILED, full=True)
    parts = list(parse(raw).iter_parts())
    assert parts[2].get_content_type() == "message/rfc822"
    assert b"body line\r\n.dots stay" in raw


def test_delay_and_success_subjects() -> None:
    delayed = dsn.RecipientStatus(
        "bob@b.test", dsn.Action.DELAYED, "4.4.1", will_retry_until=1_700_400_000.0
    )
    raw = report(delayed, full=True)
    assert parse(raw)["Subject"] == "Delayed Mail (still being retried)"
    assert b"Will-Retry-Until: " in raw and b"body line" not in raw  # full only on failure
    done = dsn.RecipientStatus("bob@b.test", dsn.Action.RELAYED, "2.0.0")
    assert parse(report(done))["Subject"] == "Successful Mail Delivery Report"


def test_a_reply_cannot_inject_fields() -> None:
    evil = dsn.RecipientStatus(
        "bob@b.test", dsn.Action.FAILED, "5.0.0", "550 no\r\nAction: delivered"
    )
    raw = report(evil)
    assert b"\r\nAction: delivered" not in raw


def test_utf8_recipient_uses_global_delivery_status() -> None:
    status = dsn.RecipientStatus("jörg@b.test", dsn.Action.FAILED, "5.1.1")
    raw = report(status)
    assert b"message/global-delivery-status" in raw
    assert "Final-Recipient: utf-8;jörg@b.test".encode() in raw


def test_notifications_are_recognised() -> None:
    assert dsn.is_notification(report(FAILED))
    assert not dsn.is_notification(ORIGINAL)
    assert dsn.is_notification(b"Auto-Submitted: auto-generated\r\n\r\nx")
    assert not dsn.is_notification(b"Auto-Submitted: no\r\n\r\nx")
