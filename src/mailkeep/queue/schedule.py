"""When the queue tries a deferred recipient again, warns of a delay, and gives up.

RFC 5321 4.5.4.1 (retry at least 30 minutes apart is the RFC's floor for a default; giving
up "at least 4-5 days"), RFC 3464 (the delay and failure notifications these times drive).

Pure: every function takes the current time; nothing here reads a clock (DESIGN 3.8).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Intervals in seconds: the first retry after ``first_retry``, each next one twice the
    previous, at most ``max_interval``; a delay warning once a message is ``warn_after``
    old; a permanent failure once it is ``give_up_after`` old."""

    first_retry: float = 300.0
    max_interval: float = 4 * 3600.0
    warn_after: float = 4 * 3600.0
    give_up_after: float = 5 * 86400.0

    def __post_init__(self) -> None:
        if self.first_retry <= 0 or self.max_interval < self.first_retry:
            raise ValueError("need 0 < first_retry <= max_interval")
        if self.give_up_after <= 0 or self.warn_after < 0:
            raise ValueError("need give_up_after > 0 and warn_after >= 0")

    def interval(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt (1 is the first failure)."""
        if attempts <= 1:
            return self.first_retry
        # Doubling overflows floats only after ~1000 steps; stop once past the cap.
        exponent = min(attempts - 1, 64)
        return float(min(self.first_retry * 2**exponent, self.max_interval))

    def after_failure(self, *, created: float, attempts: int, now: float) -> Deferral:
        """What to do with a recipient whose ``attempts``-th attempt failed temporarily."""
        if now - created >= self.give_up_after:
            return Deferral(Verdict.GIVE_UP, now)
        next_attempt = now + self.interval(attempts)
        # Never schedule past the deadline: the last try happens at the deadline.
        next_attempt = min(next_attempt, created + self.give_up_after)
        return Deferral(Verdict.RETRY, next_attempt)

    def warning_due(self, *, created: float, now: float, warned: bool) -> bool:
        """True once per message: it is older than ``warn_after`` and not yet warned about
        (a zero ``warn_after`` turns warnings off)."""
        return not warned and self.warn_after > 0 and now - created >= self.warn_after


class Verdict(enum.Enum):
    RETRY = "retry"
    GIVE_UP = "give-up"


@dataclass(frozen=True, slots=True)
class Deferral:
    verdict: Verdict
    next_attempt: float  # Unix time of the next attempt (for GIVE_UP: now)
