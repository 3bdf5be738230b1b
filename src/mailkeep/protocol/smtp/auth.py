"""One SMTP AUTH exchange (RFC 4954 4): SASL steps as SMTP events.

The mechanism (protocol.sasl) knows nothing of SMTP; this turns its steps into 334
challenges, credential checks, and the final 235 / 535 / 501, and decodes the client's
base64 lines. SCRAM's server-final message travels in a 334 (SMTP has no "success with
data"), and the client's empty answer to it completes the login.
"""

from __future__ import annotations

import base64
import binascii

from mailkeep.protocol.linebuffer import LINE_TOO_LONG, Overlong
from mailkeep.protocol.sasl import (
    Challenge,
    Failure,
    NeedCheck,
    ScramCredentials,
    ServerMechanism,
    Step,
    Success,
)
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.errors import CommandError
from mailkeep.protocol.smtp.events import AuthChallenge, AuthCheck, AuthCompleted, AuthFailed

AuthEvent = AuthChallenge | AuthCheck | AuthCompleted | AuthFailed


def decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_initial_response(word: str) -> bytes:
    """AUTH's optional initial response: base64, "=" for an empty one (RFC 4954 4)."""
    if word == "=":
        return b""
    data = decode_base64(word)
    if data is None:
        raise CommandError(replies.AUTH_BAD_BASE64, "bad initial response")
    return data


class AuthExchange:
    """The SMTP side of one SASL exchange; ``finished`` once it succeeded or failed."""

    def __init__(self, mechanism: ServerMechanism) -> None:
        self.mechanism = mechanism
        self.finished = False
        self._authcid = ""
        self._success: Success | None = None

    def start(self, initial: bytes | None) -> AuthEvent:
        return self._step(self.mechanism.start(initial))

    def answer(self, verdict: bool | ScramCredentials | None) -> AuthEvent:
        return self._step(self.mechanism.answer(verdict))

    def response(self, line: bytes | Overlong) -> AuthEvent:
        """The client's line after a 334."""
        if line is LINE_TOO_LONG:
            return self._fail("response too long", replies.AUTH_LINE_TOO_LONG)
        assert isinstance(line, bytes)
        if line == b"*":
            return self._fail("cancelled by client", replies.AUTH_CANCELLED)
        data = decode_base64(line.decode("latin-1"))
        if data is None:
            return self._fail("bad base64", replies.AUTH_BAD_BASE64)
        success, self._success = self._success, None
        if success is not None:
            if data:
                return self._fail("data after the server's final message", replies.AUTH_FAILED)
            return self._complete(success)
        return self._step(self.mechanism.respond(data))

    def _step(self, step: Step) -> AuthEvent:
        name = self.mechanism.name
        if isinstance(step, Challenge):
            encoded = base64.b64encode(step.data).decode("ascii")
            return AuthChallenge(name, replies.auth_challenge(encoded))
        if isinstance(step, NeedCheck):
            self._authcid = step.request.authcid
            return AuthCheck(name, step.request)
        if isinstance(step, Success):
            if step.final is not None:  # RFC 4954 4: additional data goes in a 334
                self._success = step
                encoded = base64.b64encode(step.final).decode("ascii")
                return AuthChallenge(name, replies.auth_challenge(encoded))
            return self._complete(step)
        assert isinstance(step, Failure)
        self._authcid = step.authcid or self._authcid
        return self._fail(step.reason, replies.AUTH_FAILED)

    def _complete(self, success: Success) -> AuthCompleted:
        self.finished = True
        name = self.mechanism.name
        return AuthCompleted(name, success.authzid, success.authcid, replies.AUTH_SUCCEEDED)

    def _fail(self, reason: str, reply: replies.Reply) -> AuthFailed:
        self.finished = True
        return AuthFailed(self.mechanism.name, self._authcid, reason, reply)
