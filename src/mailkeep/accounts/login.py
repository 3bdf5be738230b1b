"""One password login, as every protocol does it (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3).

A locked-out IP or login name is refused without looking at the password; a failure is
counted by the throttle and answered only after its delay; a success clears the name's
failures. The password is checked in a worker thread (argon2id takes tens of milliseconds)
and never logged. An authorization identity other than the login itself is refused: no user
may act as another.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.models import User
from mailkeep.accounts.throttle import LoginThrottle

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
