"""IMAP responses as values, and the named status responses the core and handlers send.

RFC 9051 7.1 (status responses and response codes), RFC 3501 7.1, RFC 5530 (response
codes), RFC 7889 (TOOBIG), RFC 4315 (APPENDUID/COPYUID), RFC 7162 (MODIFIED, CLOSED...).

A response is a value; ``encoder`` turns it into bytes. Status responses without a tag are
templates: ``BAD_SYNTAX.tagged("a1")`` answers a command, ``BAD_SYNTAX`` alone is "* BAD".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from mailkeep.protocol.imap.values import Value


class Status(enum.Enum):
    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    PREAUTH = "PREAUTH"
    BYE = "BYE"


@dataclass(frozen=True, slots=True)
class Code:
    """A response code: ``[NAME]`` or ``[NAME args...]`` (args encoded as data values)."""

    name: str
    args: tuple[Value, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """``tag OK [CODE] text``; ``tag`` None is the untagged form ``* OK ...``."""

    status: Status
    text: str
    code: Code | None = None
    tag: str | None = None

    def tagged(self, tag: str | None) -> StatusResponse:
        return StatusResponse(self.status, self.text, self.code, tag)

    def with_code(self, code: Code | None) -> StatusResponse:
        return replace(self, code=code)

    def with_text(self, text: str) -> StatusResponse:
        return replace(self, text=text)


@dataclass(frozen=True, slots=True)
class Data:
    """An untagged data response: ``* `` then the values separated by spaces, e.g.
    ``Data((5, Atom("EXISTS")))`` or ``Data((Atom("FLAGS"), [Atom("\\\\Seen")]))``."""

    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Continuation:
    """A continuation request ``+ text``; ``data`` (base64 of a SASL challenge) wins."""

    text: str = "ready"
    data: bytes | None = None


Response = StatusResponse | Data | Continuation


def ok(text: str, code: Code | None = None) -> StatusResponse:
    return StatusResponse(Status.OK, text, code)


def no(text: str, code: Code | None = None) -> StatusResponse:
    return StatusResponse(Status.NO, text, code)


def bad(text: str, code: Code | None = None) -> StatusResponse:
    return StatusResponse(Status.BAD, text, code)


# -- sent by the core itself (framing and parsing) ------------------------------------
LITERAL_READY = Continuation("ready for literal data")
BAD_SYNTAX = bad("syntax error")  # a ParseError supplies its own reason in the text
BAD_UNKNOWN_COMMAND = bad("unknown command")
BAD_WRONG_STATE = bad("command not allowed now")  # RFC 9051 6: BAD in the wrong state
BAD_LINE_TOO_LONG = bad("command line too long", Code("TOOBIG"))  # RFC 4469/5530 TOOBIG
BAD_LITERAL_TOO_BIG = bad("literal too large", Code("TOOBIG"))
NO_MESSAGE_TOO_BIG = no("message larger than APPENDLIMIT", Code("TOOBIG"))  # RFC 7889 4
# RFC 7888 4: the literal is on its way anyway and is not buffered: BAD, then close.
BAD_NONSYNC_LITERAL_TOO_BIG = bad("non-synchronizing literal too large, closing", Code("TOOBIG"))
BAD_COMMAND_TOO_BIG = bad("command too large", Code("TOOBIG"))
BAD_IDLE_NOT_DONE = bad("expected DONE to end IDLE")  # RFC 2177 3
BAD_AUTH_CANCELLED = bad("authentication cancelled")  # RFC 9051 6.2.2: client sent "*"
BAD_NOT_BASE64 = bad("SASL response is not base64")
NO_BADCHARSET = no("unsupported charset", Code("BADCHARSET", (["UTF-8", "US-ASCII"],)))

# -- named responses for handlers ------------------------------------------------------
OK_DONE = ok("done")
OK_LOGOUT = ok("LOGOUT completed")
BYE_LOGOUT = StatusResponse(Status.BYE, "logging out")
BYE_AUTOLOGOUT = StatusResponse(Status.BYE, "autologout: idle too long")
BYE_SHUTDOWN = StatusResponse(Status.BYE, "server shutting down")
BYE_TOO_MANY_ERRORS = StatusResponse(Status.BYE, "too many bad commands, closing")
OK_STARTTLS = ok("begin TLS negotiation now")
BAD_TLS_ACTIVE = bad("TLS is already active")
NO_LOGIN_DISABLED = no(
    "plaintext login is disabled: use STARTTLS first", Code("PRIVACYREQUIRED")
)  # RFC 9051 6.2.3, RFC 5530 PRIVACYREQUIRED
NO_AUTH_FAILED = no("authentication failed", Code("AUTHENTICATIONFAILED"))  # RFC 5530
NO_UNAVAILABLE = no("temporary failure, try again later", Code("UNAVAILABLE"))  # RFC 5530
NO_NONEXISTENT = no("no such mailbox", Code("NONEXISTENT"))  # RFC 5530
NO_ALREADYEXISTS = no("mailbox already exists", Code("ALREADYEXISTS"))  # RFC 5530
NO_TRYCREATE = no("no such mailbox", Code("TRYCREATE"))  # RFC 9051 6.3.12
NO_OVERQUOTA = no("over quota", Code("OVERQUOTA"))  # RFC 9208 / RFC 5530
NO_CANNOT = no("operation not permitted", Code("CANNOT"))  # RFC 5530
NO_READ_ONLY = no("mailbox is read-only", Code("READ-ONLY"))
NO_SERVERBUG = no("internal server error", Code("SERVERBUG"))  # DESIGN 3.4, RFC 5530
BAD_INVALID_SEQUENCE = bad("invalid message sequence number")  # RFC 9051 6.4.4
BAD_NO_SAVED_RESULT = bad("no saved search result")  # RFC 5182 2.1
