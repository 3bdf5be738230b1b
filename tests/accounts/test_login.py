"""attempt_login: the login every protocol makes, with the real directory and throttle."""

from __future__ import annotations

import asyncio

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.login import LoginAttempt, attempt_login
from mailkeep.accounts.throttle import LoginThrottle, ThrottleSettings


def make() -> tuple[Directory, LoginThrottle]:
    directory = Directory(None)
    directory.add_domain("example.test")
    directory.add_user("alice@example.test", "s3cret")
    settings = ThrottleSettings(failure_delay_seconds=0, lockout_after_failures=3)
    return directory, LoginThrottle(settings, lambda: 1000.0)


def login(directory: Directory, throttle: LoginThrottle, password: str, **kw: str) -> LoginAttempt:
    return asyncio.run(
        attempt_login(
            directory,
            throttle,
            protocol="test",
            ip="192.0.2.1",
            login="alice@example.test",
            password=password,
            **kw,
        )
    )


def test_success_and_failure() -> None:
    directory, throttle = make()
    ok = login(directory, throttle, "s3cret")
    assert ok.user is not None and str(ok.user.address) == "alice@example.test"
    bad = login(directory, throttle, "wrong")
    assert bad.user is None and not bad.locked_out


def test_another_authorization_identity_is_refused() -> None:
    directory, throttle = make()
    attempt = login(directory, throttle, "s3cret", authzid="bob@example.test")
    assert attempt.user is None


def test_lockout_refuses_even_the_right_password() -> None:
    directory, throttle = make()
    for _ in range(3):
        login(directory, throttle, "wrong")
    attempt = login(directory, throttle, "s3cret")
    assert attempt.user is None and attempt.locked_out
