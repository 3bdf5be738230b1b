"""Failed-login throttling shared by every protocol that logs users in.

Each failure is counted against the client IP and against the login name. A login attempt
first asks ``check``: a locked-out IP or user is refused without looking at the password.
After a failure the protocol waits ``failure_delay`` before answering, a delay that doubles
with each recent failure, which makes password guessing slow without hurting a user who
mistypes once. Memory is bounded: the oldest entries are forgotten first. The clock is
injected (DESIGN 3.8) so that tests can move time.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    failure_delay_seconds: float = 1.0
    max_failure_delay_seconds: float = 16.0
    lockout_after_failures: int = 10
    failure_window_seconds: float = 900.0
    lockout_seconds: float = 900.0
    max_tracked: int = 100_000


@dataclass(slots=True)
class _Record:
    failures: collections.deque[float]
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failures per key ("ip:1.2.3.4", "user:alice@example.test")."""

    def __init__(self, settings: ThrottleSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._records: collections.OrderedDict[str, _Record] = collections.OrderedDict()

    @staticmethod
    def keys(ip: str, user: str | None) -> tuple[str, ...]:
        if user is None:
            return (f"ip:{ip}",)
        return (f"ip:{ip}", f"user:{user.casefold()}")

    def _record(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        horizon = now - self.settings.failure_window_seconds
        while record.failures and record.failures[0] < horizon:
            record.failures.popleft()
        if not record.failures and record.locked_until <= now:
            del self._records[key]
            return None
        return record

    def locked(self, ip: str, user: str | None = None) -> bool:
        """True while the IP or the user is locked out: refuse without checking."""
        now = self._clock()
        for key in self.keys(ip, user):
            record = self._record(key, now)
            if record is not None and record.locked_until > now:
                return True
        return False

    def record_failure(self, ip: str, user: str | None) -> float:
        """Count a failed login; return how long to wait before answering it."""
        now = self._clock()
        worst = 0
        for key in self.keys(ip, user):
            record = self._record(key, now)
            if record is None:
                record = _Record(collections.deque())
                self._records[key] = record
                while len(self._records) > self.settings.max_tracked:
                    self._records.popitem(last=False)
            self._records.move_to_end(key)
            record.failures.append(now)
            if len(record.failures) >= self.settings.lockout_after_failures:
                record.locked_until = now + self.settings.lockout_seconds
            worst = max(worst, len(record.failures))
        delay: float = self.settings.failure_delay_seconds * float(2 ** min(worst - 1, 30))
        return min(delay, self.settings.max_failure_delay_seconds)

    def record_success(self, ip: str, user: str) -> None:
        """A good login clears the user's failures (an IP's failures stay: it may be
        guessing other users' passwords)."""
        self._records.pop(f"user:{user.casefold()}", None)
