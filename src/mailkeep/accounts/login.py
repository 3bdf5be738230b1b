"""One login, as every protocol does it (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3).

A locked-out IP or login name is refused without looking at the password; a failure is
counted by the throttle and answered only after its delay; a success clears the name's
failures. The password is checked in a worker thread (argon2id takes tens of milliseconds)
and never logged. An authorization identity other than the login itself is refused: no user
may act as another.

SCRAM-SHA-256 (RFC 5802, 7677) never shows the server a password: ``ScramLogin`` answers the
mechanism's key lookup and then judges its outcome with the same throttle rules. A locked
out name, an unknown one, a disabled user or a foreign authorization identity all get keys
nobody can match (the exchange goes on and fails at the proof, like a wrong password).
``sasl_mechanism`` builds the protocols' mechanisms with the directory's secrets.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.models import User
from mailkeep.accounts.throttle import LoginThrottle
from mailkeep.protocol.sasl import (
    Failure,
    ScramCredentials,
    ScramLookup,
    ServerMechanism,
    Success,
    new_mechanism,
)
from mailkeep.protocol.sasl.scram import ScramSHA256Server

SCRAM = "SCRAM-SHA-256"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The user logged in, or None; ``locked_out`` says the password was not even looked at."""

    user: User | None
    locked_out: bool = False


async def attempt_login(
    directory: Directory,
    throttle: LoginThrottle,
    *,
    protocol: str,
    ip: str,
    login: str,
    password: str,
    authzid: str = "",
) -> LoginAttempt:
    """Check one login; the caller answers the client from the result."""
    if throttle.locked(ip, login):
        log.info("login refused: locked out", extra={"protocol": protocol, "login": login})
        return LoginAttempt(None, locked_out=True)
    user = None
    if not authzid or authzid == login:
        user = await asyncio.to_thread(directory.authenticate, login, password)
    if user is None:
        delay = throttle.record_failure(ip, login)
        log.info("login failed", extra={"protocol": protocol, "login": login, "delay": delay})
        await asyncio.sleep(delay)
        return LoginAttempt(None)
    throttle.record_success(ip, login)
    return LoginAttempt(user)


def sasl_mechanism(directory: Directory, name: str) -> ServerMechanism | None:
    """A fresh server exchange for mechanism ``name``; SCRAM's unknown users get the salt
    and iteration count a real user would."""
    if name.upper() == SCRAM:
        return ScramSHA256Server(
            fake_salt_key=directory.scram_fake_salt_key,
            fake_iterations=directory.scram_iterations,
        )
    return new_mechanism(name)


def offered_mechanisms(directory: Directory, password_mechanisms: tuple[str, ...]) -> list[str]:
    """SCRAM-SHA-256 first when every user has its keys, then the password mechanisms."""
    scram = [SCRAM] if directory.scram_ready() else []
    return scram + list(password_mechanisms)


class ScramLogin:
    """The accounts' side of one SCRAM exchange: ``lookup`` then ``finish``."""

    def __init__(
        self, directory: Directory, throttle: LoginThrottle, *, protocol: str, ip: str
    ) -> None:
        self.directory = directory
        self.throttle = throttle
        self.protocol = protocol
        self.ip = ip
        self._user_id: int | None = None
        self._locked = False

    async def lookup(self, request: ScramLookup) -> ScramCredentials | None:
        """The keys to answer the mechanism's lookup with (None: carry on with fake ones)."""
        if self.throttle.locked(self.ip, request.authcid):
            self._locked = True
            return None
        if request.authzid and request.authzid != request.authcid:
            return None
        found = await asyncio.to_thread(self.directory.scram_credentials, request.authcid)
        if found is None:
            return None
        self._user_id, credentials = found
        return credentials

    async def finish(self, outcome: Success | Failure) -> LoginAttempt:
        """Judge the end of the exchange: the throttle counts a failure (and waits its delay)
        and clears the name on success."""
        extra = {"protocol": self.protocol, "login": outcome.authcid, "mechanism": SCRAM}
        if self._locked:
            log.info("login refused: locked out", extra=extra)
            return LoginAttempt(None, locked_out=True)
        user = None
        if isinstance(outcome, Success) and self._user_id is not None:
            user = await asyncio.to_thread(self.directory.user_by_id, self._user_id)
            if user is not None and user.disabled:
                user = None
        if user is None:
            delay = self.throttle.record_failure(self.ip, outcome.authcid)
            reason = outcome.reason if isinstance(outcome, Failure) else "user gone"
            log.info("login failed", extra={**extra, "delay": delay, "reason": reason})
            await asyncio.sleep(delay)
            return LoginAttempt(None)
        self.throttle.record_success(self.ip, outcome.authcid)
        log.info("login verified", extra=extra)
        return LoginAttempt(user)
