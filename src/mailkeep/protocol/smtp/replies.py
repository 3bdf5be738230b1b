"""SMTP replies (RFC 5321 4.2) with enhanced status codes (RFC 2034, RFC 3463).

A ``Reply`` is a value: code, enhanced code, text. Text with newlines is a multiline reply.
``encode`` writes it; ``with_enhanced=False`` leaves the enhanced code out, as RFC 2034 3
asks for the greeting, replies to HELO/EHLO, and sessions opened with HELO.

Every reply the core sends is a named constant here (DESIGN 3.5); the few that carry a value
(a size, a challenge) are made by the functions at the end.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from mailkeep.errors import LocalProtocolError

_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}\Z")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")  # every control character but "\n"


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply. ``text`` lines are separated by "\\n"; no other control characters."""

    code: int
    enhanced: str | None
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise LocalProtocolError(f"reply code {self.code} out of range")
        if self.enhanced is not None:
            if not _ENHANCED.match(self.enhanced):
                raise LocalProtocolError(f"bad enhanced status code {self.enhanced!r}")
            if self.enhanced[0] != str(self.code)[0]:
                raise LocalProtocolError(f"{self.enhanced} does not match {self.code}")
        if _CONTROL.search(self.text):
            raise LocalProtocolError("control character in reply text")

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def is_positive(self) -> bool:
        return self.code < 400

    @property
    def closes(self) -> bool:
        """421 means the server closes the transmission channel (RFC 5321 3.8)."""
        return self.code == 421

    def encode(self, *, with_enhanced: bool = True) -> bytes:
        """The reply on the wire: every line but the last has "-" after the code."""
        return _encode(self, with_enhanced)


@functools.lru_cache(maxsize=512)
def _encode(reply: Reply, with_enhanced: bool) -> bytes:
    """Replies are values and mostly constants: each is encoded once."""
    status = f"{reply.enhanced} " if with_enhanced and reply.enhanced else ""
    lines = reply.lines
    last = len(lines) - 1
    return "".join(
        f"{reply.code}{'-' if i < last else ' '}{status}{line}\r\n" for i, line in enumerate(lines)
    ).encode("utf-8")


# Greeting and session (RFC 5321 4.2, 3.1, 3.8).
def greeting(hostname: str) -> Reply:
    return Reply(220, None, f"{hostname} ESMTP mailkeep")


EARLY_TALKER = Reply(554, "5.5.0", "Protocol error: you talked before the greeting")
CLOSING = Reply(221, "2.0.0", "Bye")
OK = Reply(250, "2.0.0", "Ok")
HELP = Reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP")
VRFY_DISABLED = Reply(252, "2.5.0", "Cannot verify the user; send mail and delivery is tried")
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing")
TOO_MANY_COMMANDS = Reply(421, "4.7.0", "Too many commands, closing")
NOT_SMTP = Reply(421, "4.7.0", "This is an SMTP server, closing")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, closing")
TIMEOUT = Reply(421, "4.4.2", "Timeout, closing")
LOCAL_ERROR = Reply(451, "4.3.0", "Local error, try again later")

# Transaction (RFC 5321 4.1.1.2-4.1.1.4).
MAIL_OK = Reply(250, "2.1.0", "Sender ok")
RCPT_OK = Reply(250, "2.1.5", "Recipient ok")
START_DATA = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
MESSAGE_ACCEPTED = Reply(250, "2.0.0", "Message accepted")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")  # RFC 5321 4.5.3.1.10

# Errors of the peer (RFC 5321 4.2.4, RFC 3463 3.6).
UNKNOWN_COMMAND = Reply(500, "5.5.2", "Command not recognized")
LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
SYNTAX_ERROR = Reply(501, "5.5.4", "Syntax error in parameters or arguments")
CONTROL_CHARACTERS = Reply(501, "5.5.4", "Control characters not allowed in commands")
BAD_ADDRESS = Reply(501, "5.1.3", "Bad address syntax")
BAD_SEQUENCE = Reply(503, "5.5.1", "Bad sequence of commands")
NEED_EHLO = Reply(503, "5.5.1", "Send EHLO first")
NEED_MAIL = Reply(503, "5.5.1", "Send MAIL first")
NESTED_MAIL = Reply(503, "5.5.1", "Sender already given")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")
DATA_AFTER_BDAT = Reply(503, "5.5.1", "DATA and BDAT cannot be mixed in one transaction")
BINARYMIME_NEEDS_BDAT = Reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT")  # RFC 3030 3
UNKNOWN_PARAMETER = Reply(555, "5.5.4", "Unsupported MAIL/RCPT parameter")
BAD_PARAMETER = Reply(501, "5.5.4", "Invalid MAIL/RCPT parameter value")
SIZE_EXCEEDED = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
NEED_SMTPUTF8 = Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")  # RFC 6531 3.5

# Message content (our choices, documented in docs/decisions/0001-smtp-core.md).
BARE_NEWLINE = Reply(554, "5.6.0", "Message rejected: bare CR or LF (only CRLF ends a line)")
NUL_IN_DATA = Reply(554, "5.6.0", "Message rejected: NUL characters")
DATA_LINE_TOO_LONG = Reply(554, "5.6.0", "Message rejected: line too long")

# TLS (RFC 3207) and REQUIRETLS (RFC 8689).
READY_FOR_TLS = Reply(220, "2.0.0", "Ready to start TLS")
TLS_ALREADY_ACTIVE = Reply(503, "5.5.1", "TLS already active")
TLS_NOT_AVAILABLE = Reply(454, "4.7.0", "TLS not available")
REQUIRETLS_NEEDS_TLS = Reply(530, "5.7.10", "REQUIRETLS needs a TLS session")

# Authentication (RFC 4954 4, 6).
AUTH_SUCCEEDED = Reply(235, "2.7.0", "Authentication successful")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_CANCELLED = Reply(501, "5.0.0", "Authentication cancelled")
AUTH_BAD_BASE64 = Reply(501, "5.5.2", "Cannot decode base64")
AUTH_LINE_TOO_LONG = Reply(500, "5.5.6", "Authentication exchange line is too long")
AUTH_UNKNOWN_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication type")
AUTH_ALREADY = Reply(503, "5.5.1", "Already authenticated")
AUTH_IN_TRANSACTION = Reply(503, "5.5.1", "AUTH not allowed during a mail transaction")
AUTH_NOT_AVAILABLE = Reply(502, "5.5.1", "AUTH not available here")
ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required for authentication")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
STARTTLS_FIRST = Reply(530, "5.7.0", "Must issue a STARTTLS command first")


def auth_challenge(data_b64: str) -> Reply:
    """334 with a base64 challenge (RFC 4954 4); empty challenges are "334 "."""
    return Reply(334, None, data_b64)


def chunk_received(size: int) -> Reply:
    """The answer to a BDAT chunk that is not the last (RFC 3030 2)."""
    return Reply(250, "2.0.0", f"{size} octets received")
