"""PLAIN (RFC 4616): authzid NUL authcid NUL password, in one client response."""

from __future__ import annotations

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.sasl.exchange import (
    Challenge,
    Failure,
    NeedCheck,
    PasswordCheck,
    ScramCredentials,
    Step,
    Success,
)

MAX_FIELD = 255  # RFC 4616 2: each field at most 255 octets


class PlainServer:
    """The server side of one PLAIN exchange."""

    name = "PLAIN"

    def __init__(self) -> None:
        self._check: PasswordCheck | None = None

    def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"")  # RFC 4616 2: empty challenge, the response follows
        return self.respond(initial)

    def respond(self, data: bytes) -> Step:
        if self._check is not None:
            raise LocalProtocolError("PLAIN takes one response")
        parts = data.split(b"\x00")
        if len(parts) != 3:
            return Failure("PLAIN message is not authzid NUL authcid NUL password")
        if not parts[1] or not parts[2] or any(len(p) > MAX_FIELD for p in parts):
            return Failure("PLAIN field empty or longer than 255 octets")
        try:
            authzid, authcid, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            return Failure("PLAIN message is not UTF-8")
        self._check = PasswordCheck(authzid, authcid, password)
        return NeedCheck(self._check)

    def answer(self, verdict: bool | ScramCredentials | None) -> Step:
        if self._check is None or not isinstance(verdict, bool):
            raise LocalProtocolError("PLAIN expects a bool verdict after its NeedCheck")
        check, self._check = self._check, None
        if verdict:
            return Success(check.authzid, check.authcid)
        return Failure("wrong password or unknown user", check.authcid)
