"""Messages per minute per client IP and per user: a sliding window with a memory bound.

The clock is injected (DESIGN 3.8); the window is 60 seconds. At most ``max_tracked`` keys
are remembered, the least recently seen forgotten first, so a flood of addresses cannot
grow memory without bound.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateLimiter:
    """``allow(key)`` is True while ``key`` made fewer than ``per_minute`` calls in the
    last minute, and counts the call when it allows it."""

    def __init__(
        self, per_minute: int, clock: Callable[[], float], *, max_tracked: int = 100_000
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.max_tracked = max_tracked
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self.clock()
        times = self._seen.get(key)
        if times is None:
            times = self._seen[key] = deque()
            while len(self._seen) > self.max_tracked:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True
