"""What one SMTP listener offers and the limits it enforces (values, no I/O).

app.py builds a ServerConfig per listener from the config file: ``hostname``, the listener
kind, whether a TLS context exists, and ServerLimits from the [smtp_limits] section (same
field names).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Listener(enum.Enum):
    MX = "smtp"
    SUBMISSION = "submission"
    SUBMISSIONS = "submissions"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-connection limits; app.py fills them from the [smtp_limits] config section."""

    # RFC 5321 4.5.3.1.4: 512 octets, raised by extensions' parameters (RFC 3461 4: +500 for
    # ORCPT, +100 ENVID; RFC 4954 5: +500 for AUTH=).
    max_command_line: int = 2048
    max_auth_line: int = 12288  # RFC 4954 4: AUTH exchange lines up to 12288 octets
    # Lines over RFC 5322's 998 octets are accepted and noted; past this the message is refused.
    max_data_line: int = 1_000_000
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted
    max_errors: int = 20
    max_commands: int = 10_000


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What one listener offers; the adapter makes one per listener (and TLS state)."""

    hostname: str
    listener: Listener
    tls_available: bool = False  # a TLS context exists: STARTTLS is offered
    tls_active: bool = False  # implicit TLS from the first byte (submissions)
    # The adapter adds SCRAM-SHA-256 when every user has stored keys (accounts.login).
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    auth_on_mx: bool = False  # AUTH on the MX listener (never by default)
    reject_early_talkers: bool = True  # MX only: bytes before the greeting → 554, close
    limits: ServerLimits = field(default_factory=ServerLimits)
