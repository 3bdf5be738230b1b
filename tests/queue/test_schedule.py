"""Retry intervals, the delay warning and the give-up deadline (pure, clock passed in)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailkeep.queue.schedule import RetrySchedule, Verdict

HOUR = 3600.0
DAY = 86400.0


def test_defaults_double_from_five_minutes_to_four_hours() -> None:
    schedule = RetrySchedule()
    assert [schedule.interval(n) for n in range(1, 9)] == [
        300.0,
        600.0,
        1200.0,
        2400.0,
        4800.0,
        9600.0,
        4 * HOUR,
        4 * HOUR,
    ]
    assert schedule.interval(10_000) == 4 * HOUR


def test_retry_is_scheduled_from_now() -> None:
    deferral = RetrySchedule().after_failure(created=1000.0, attempts=1, now=2000.0)
    assert deferral.verdict is Verdict.RETRY
    assert deferral.next_attempt == 2300.0


def test_gives_up_after_five_days() -> None:
    schedule = RetrySchedule()
    late = schedule.after_failure(created=0.0, attempts=30, now=5 * DAY)
    assert late.verdict is Verdict.GIVE_UP
    # Just before the deadline the next attempt is clamped to the deadline itself.
    near = schedule.after_failure(created=0.0, attempts=30, now=5 * DAY - 60)
    assert near.verdict is Verdict.RETRY and near.next_attempt == 5 * DAY


def test_warning_once_after_four_hours() -> None:
    schedule = RetrySchedule()
    assert not schedule.warning_due(created=0.0, now=4 * HOUR - 1, warned=False)
    assert schedule.warning_due(created=0.0, now=4 * HOUR, warned=False)
    assert not schedule.warning_due(created=0.0, now=5 * HOUR, warned=True)
    assert not RetrySchedule(warn_after=0).warning_due(created=0.0, now=DAY, warned=False)


@pytest.mark.parametrize(
    "kwargs",
    [{"first_retry": 0}, {"first_retry": 600, "max_interval": 60}, {"give_up_after": 0}],
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetrySchedule(**kwargs)


@given(
    attempts=st.integers(min_value=0, max_value=10_000),
    created=st.floats(min_value=0, max_value=2e9),
    age=st.floats(min_value=0, max_value=30 * DAY),
)
def test_next_attempt_is_never_past_the_deadline_nor_in_the_past(
    attempts: int, created: float, age: float
) -> None:
    schedule = RetrySchedule()
    now = created + age
    deferral = schedule.after_failure(created=created, attempts=attempts, now=now)
    if deferral.verdict is Verdict.RETRY:
        assert now < deferral.next_attempt <= created + schedule.give_up_after
        assert deferral.next_attempt - now <= schedule.max_interval + 1e-6  # float rounding
