"""Stand-in protocol servers for protocols not written yet.

Each answers with its protocol's "service not available" greeting and closes, so a client
gets a proper refusal instead of a silent socket: SMTP 421 (RFC 5321 3.1, 4.2.5; enhanced
code 4.3.2 "system not accepting network messages", RFC 3463 3.5), IMAP BYE as greeting
(RFC 9051 7.1.5), POP3 -ERR (RFC 1939 3 allows a negative reply to end the session).
app.py plugs a real protocol server in place of one of these with one line.
"""

from __future__ import annotations

from mailkeep.net.connection import Connection


class NotAvailable:
    """A ConnectionHandler that sends one greeting line and closes."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting.encode("ascii") + b"\r\n"

    async def __call__(self, conn: Connection) -> None:
        await conn.write(self.greeting)


def smtp_not_available(hostname: str) -> NotAvailable:
    """``421 4.3.2 <hostname> service not available yet``."""
    return NotAvailable(f"421 4.3.2 {hostname} service not available yet")


def imap_not_available(hostname: str) -> NotAvailable:
    """``* BYE <hostname> IMAP service not available yet``."""
    return NotAvailable(f"* BYE {hostname} IMAP service not available yet")


def pop3_not_available(hostname: str) -> NotAvailable:
    """``-ERR <hostname> POP3 service not available yet``."""
    return NotAvailable(f"-ERR {hostname} POP3 service not available yet")
