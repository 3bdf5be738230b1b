"""Fixtures for the store tests: one runner per backend, the clock, message factories."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailkeep.store.disk import DiskStore
from mailkeep.store.interface import MailStore
from mailkeep.store.memory import MemoryStore
from mailkeep.store.models import StoreLimits

Body = Callable[[MailStore], Awaitable[None]]


class Clock:
    """A settable clock, so dates and UIDVALIDITY are deterministic."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_store(
    backend: str, root: Path, clock: Clock, limits: StoreLimits | None = None
) -> MailStore:
    if backend == "disk":
        return DiskStore(root, clock=clock, limits=limits)
    return MemoryStore(clock=clock, limits=limits)


def run_with(backend: str, root: Path, clock: Clock, body: Body) -> None:
    async def main() -> None:
        store = make_store(backend, root, clock)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "disk"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(backend: str, tmp_path: Path, clock: Clock) -> Callable[[Body], None]:
    """``run(body)`` runs ``await body(store)`` on a fresh store of the backend."""
    return lambda body: run_with(backend, tmp_path / "mail", clock, body)


def message(subject: str = "Hello", body: str = "Just a test.", **headers: str) -> bytes:
    lines = [f"Subject: {subject}", "From: Alice <alice@example.org>", "To: bob@example.net"]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()
