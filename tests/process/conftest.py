"""Fixtures for the process tests: a server started and always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process.server import Served


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Path], Served]]:
    """Start ``mailkeep serve`` with a config; every process is killed at the end."""
    started: list[Served] = []

    def starter(config: Path) -> Served:
        served = Served(config)
        started.append(served)
        return served

    yield starter
    for served in started:
        served.close()
