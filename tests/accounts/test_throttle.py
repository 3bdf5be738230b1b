from __future__ import annotations

from mailkeep.accounts.throttle import LoginThrottle, ThrottleSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw: float) -> tuple[LoginThrottle, Clock]:
    clock = Clock()
    settings = ThrottleSettings(**kw)  # type: ignore[arg-type]
    return LoginThrottle(settings, clock), clock


def test_delays_double_and_are_capped() -> None:
    throttle, _ = make(failure_delay_seconds=1, max_failure_delay_seconds=5)
    delays = [throttle.record_failure("192.0.2.1", "bob") for _ in range(5)]
    assert delays == [1, 2, 4, 5, 5]


def test_lockout_per_user_from_many_ips_and_expiry() -> None:
    throttle, clock = make(lockout_after_failures=3, lockout_seconds=60)
    for i in range(3):
        assert not throttle.locked(f"192.0.2.{i}", "Bob")
        throttle.record_failure(f"192.0.2.{i}", "Bob")
    assert throttle.locked("198.51.100.7", "bob")  # user key is case-insensitive
    assert not throttle.locked("198.51.100.7", "carol")
    clock.now += 61
    assert not throttle.locked("198.51.100.7", "bob")


def test_lockout_per_ip_across_users() -> None:
    throttle, _ = make(lockout_after_failures=3)
    for user in ("a", "b", "c"):
        throttle.record_failure("192.0.2.9", user)
    assert throttle.locked("192.0.2.9", "d")
    assert throttle.locked("192.0.2.9")
    assert not throttle.locked("192.0.2.10", "d")


def test_failures_expire_after_window_and_success_clears_user() -> None:
    throttle, clock = make(failure_window_seconds=100, failure_delay_seconds=1)
    throttle.record_failure("192.0.2.1", "bob")
    throttle.record_failure("192.0.2.1", "bob")
    clock.now += 101
    assert throttle.record_failure("192.0.2.2", "bob") == 1
    throttle.record_success("192.0.2.2", "bob")
    assert throttle.record_failure("192.0.2.3", "bob") == 1


def test_memory_is_bounded() -> None:
    throttle, _ = make(max_tracked=100)
    for i in range(1000):
        throttle.record_failure(f"10.0.{i // 256}.{i % 256}", None)
    assert len(throttle._records) == 100


def test_zero_delay_for_tests() -> None:
    throttle, _ = make(failure_delay_seconds=0)
    assert throttle.record_failure("192.0.2.1", "x") == 0
