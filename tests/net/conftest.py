"""Fixtures for the network layer: both event loops, a certificate, captured log lines."""

from __future__ import annotations

import asyncio
import datetime
import io
import logging
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from mailkeep.certs.manager import CertificateFiles, CertificateManager
from mailkeep.certs.selfsigned import ensure_self_signed
from mailkeep.log import KeyValueFormatter

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run[Any]:
    """Run a coroutine to completion on a fresh loop of each kind mailkeep may use."""

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as r:
            return r.run(coro)

    return runner


@pytest.fixture
def certificates(tmp_path: Path) -> CertificateManager:
    made = ensure_self_signed(
        tmp_path / "tls", "mail.example.test", datetime.datetime.now(datetime.UTC)
    )
    manager = CertificateManager(CertificateFiles(made.cert, made.key))
    manager.load()
    return manager


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every mailkeep log line, formatted as the server writes it (key=value)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("mailkeep")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
