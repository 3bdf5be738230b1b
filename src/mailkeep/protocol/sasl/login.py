"""LOGIN (draft-murchison-sasl-login): "Username:" and "Password:" challenges.

Obsolete but still the only mechanism some clients offer; like PLAIN it is allowed only
under TLS.
"""

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

MAX_FIELD = 255


class LoginServer:
    """The server side of one LOGIN exchange."""

    name = "LOGIN"

    def __init__(self) -> None:
        self._user: str | None = None
        self._check: PasswordCheck | None = None

    def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"Username:")
        return self.respond(initial)

    def respond(self, data: bytes) -> Step:
        if self._check is not None:
            raise LocalProtocolError("LOGIN has finished its responses")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Failure("LOGIN response is not UTF-8")
        if not text or len(data) > MAX_FIELD or "\x00" in text:
            return Failure("LOGIN response empty, too long or with NUL")
        if self._user is None:
            self._user = text
            return Challenge(b"Password:")
        self._check = PasswordCheck("", self._user, text)
        return NeedCheck(self._check)

    def answer(self, verdict: bool | ScramCredentials | None) -> Step:
        if self._check is None or not isinstance(verdict, bool):
            raise LocalProtocolError("LOGIN expects a bool verdict after its NeedCheck")
        check, self._check = self._check, None
        if verdict:
            return Success("", check.authcid)
        return Failure("wrong password or unknown user", check.authcid)
