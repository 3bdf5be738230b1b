"""POP3 status lines as named constants (RFC 1939 3, RFC 2449 8, RFC 3206)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Response:
    """One status line: ``+OK text`` or ``-ERR [CODE] text``."""

    ok: bool
    text: str
    code: str | None = None  # RFC 2449 8: extended response code, e.g. "IN-USE"

    def encode(self) -> bytes:
        status = "+OK" if self.ok else "-ERR"
        code = f" [{self.code}]" if self.code else ""
        return f"{status}{code} {self.text}\r\n".encode()


def ok(text: str) -> Response:
    return Response(True, text)


# Authorization state
USER_ACCEPTED = Response(True, "send PASS")
NEED_USER_FIRST = Response(False, "send USER first")
TLS_REQUIRED = Response(
    False, "plaintext login is disabled: send STLS first, or use the pop3s port", "AUTH"
)  # RFC 2595 4, RFC 3206 4
LOGIN_FAILED = Response(False, "authentication failed", "AUTH")  # RFC 3206 4
ACCOUNT_IN_USE = Response(False, "this mailbox is open in another POP3 session", "IN-USE")
LOGIN_TEMPFAIL = Response(False, "temporary problem, try again later", "SYS/TEMP")
LOGIN_LOCKED = Response(False, "too many failed logins, try again later", "SYS/TEMP")
TOO_MANY_CONNECTIONS = Response(False, "too many connections from your address", "SYS/TEMP")
IDLE_TIMEOUT = Response(False, "autologout: idle for too long")
SHUTTING_DOWN = Response(False, "server shutting down, try again shortly", "SYS/TEMP")
APOP_UNSUPPORTED = Response(False, "APOP is not supported: use USER/PASS or AUTH over TLS")
AUTH_CANCELLED = Response(False, "authentication cancelled")
AUTH_BAD_MECHANISM = Response(False, "unsupported SASL mechanism: see CAPA for those offered")
AUTH_BAD_RESPONSE = Response(False, "malformed SASL response")
AUTH_OK = Response(True, "logged in")
STLS_BEGIN = Response(True, "begin TLS negotiation")  # RFC 2595 4
STLS_ALREADY = Response(False, "TLS is already active")
STLS_UNAVAILABLE = Response(False, "STLS is not available here")

# Transaction state
NO_SUCH_MESSAGE = Response(False, "no such message")
MESSAGE_GONE = Response(False, "message was removed by another session", "SYS/TEMP")
MESSAGE_DELETED = Response(False, "message is deleted")
MESSAGE_MARKED = Response(True, "message marked for deletion")
RESET_DONE = Response(True, "deletion marks removed")
NOOP_OK = Response(True, "")
CAPA_FOLLOWS = Response(True, "capability list follows")
UIDL_FOLLOWS = Response(True, "unique-id listing follows")

# Any state
BYE = Response(True, "bye")
UPDATE_FAILED = Response(False, "some deleted messages were not removed", "SYS/TEMP")
UNKNOWN_COMMAND = Response(False, "unknown command")
WRONG_STATE = Response(False, "command not allowed now")
SYNTAX_ERROR = Response(False, "syntax error in arguments")
LINE_TOO_LONG = Response(False, "command line too long")  # RFC 2449 4: 255 octets
TOO_MANY_ERRORS = Response(False, "too many errors, closing connection")
SERVER_ERROR = Response(False, "internal server error", "SYS/TEMP")
