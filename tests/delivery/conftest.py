"""A directory with example.test users, the in-memory store and a spool on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import argon2
import pytest

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.passwords import PasswordHasher
from mailkeep.delivery.inbound import InboundPolicy
from mailkeep.delivery.pipeline import Pipeline
from mailkeep.delivery.routing import Router
from mailkeep.delivery.submission import SubmissionPolicy
from mailkeep.queue.spool import Spool
from mailkeep.store.memory import MemoryStore

CHEAP = PasswordHasher(
    argon2.Parameters(
        type=argon2.Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=1,
        memory_cost=64,
        parallelism=1,
    )
)
NOW = 1_790_000_000.0


@dataclass
class World:
    directory: Directory
    store: MemoryStore
    spool: Spool
    pipeline: Pipeline
    router: Router
    inbound: InboundPolicy
    submission: SubmissionPolicy


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    directory = Directory(None, hasher=CHEAP)
    directory.add_domain("example.test")
    directory.add_domain("other.test")
    for name in ("alice", "bob", "carol"):
        directory.add_user(f"{name}@example.test", "pw")
    directory.add_user("small@example.test", "pw", quota_messages=1)
    directory.add_user("admin@example.test", "pw", admin_of=["other.test"])
    directory.add_user("off@example.test", "pw")
    directory.set_disabled("off@example.test", True)
    directory.add_alias("team@example.test", ["alice@example.test", "bob@example.test"])
    directory.add_alias("fwd@example.test", ["x@remote.example", "alice@example.test"])
    directory.add_alias("self@example.test", ["alice@example.test"])
    store = MemoryStore()
    spool = Spool(tmp_path / "queue")
    pipeline = Pipeline(hostname="mail.example.test", store=store, spool=spool, clock=lambda: NOW)
    router = Router(directory, store)
    yield World(
        directory,
        store,
        spool,
        pipeline,
        router,
        InboundPolicy(router, pipeline),
        SubmissionPolicy(directory, router, pipeline),
    )
    directory.close()
