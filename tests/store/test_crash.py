"""Crash safety: kill -9 a writer at random moments, then check the store (issue item 6).

After every kill: the store opens without repair and verify finds nothing wrong; every
acknowledged message is present with its exact bytes (unless its expunge was acknowledged);
no UID ever names two different messages; nothing half-written is visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX, UidSet

REPO = Path(__file__).resolve().parents[2]


def batch_sizes(path: Path) -> list[int]:
    """How many writes each group commit the writer started carried."""
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [int(line.split()[1]) for line in lines if line.startswith("batch ")]


def read_log(path: Path) -> tuple[dict[int, str], set[int], set[int]]:
    """(acknowledged additions, acknowledged expunges, UIDs an expunge was started for)."""
    added: dict[int, str] = {}
    gone: set[int] = set()
    doomed: set[int] = set()
    if not path.exists():
        return added, gone, doomed
    for line in path.read_text().split("\n")[:-1]:  # the last piece is "" or cut short
        parts = line.split()
        if parts[0] == "add" and len(parts) == 4:
            uid = int(parts[1])
            assert uid not in added or added[uid] == parts[2], f"UID {uid} reused"
            added[uid] = parts[2]
        elif parts[0] == "gone" and len(parts) == 2:
            gone.add(int(parts[1]))
        elif parts[0] == "doomed" and len(parts) == 2:
            doomed.add(int(parts[1]))
    return added, gone, doomed


def check_store(root: Path, added: dict[int, str], gone: set[int], doomed: set[int]) -> None:
    async def body() -> None:
        store = DiskStore(root)
        try:
            report = await store.verify(1)
            assert report.problems == (), report.problems
            inbox = await store.status(1, INBOX)
            present = set((await store.select(1, INBOX)).uids)
            assert not (present & gone), "an acknowledged expunge came back"
            for uid, digest in added.items():
                if uid in gone or (uid in doomed and uid not in present):
                    continue
                assert uid in present, f"acknowledged UID {uid} lost"
                raw = await store.read_message(1, inbox.id, uid)
                assert hashlib.sha256(raw).hexdigest() == digest, f"UID {uid} corrupted"
            # Unacknowledged but committed messages are whole too.
            for meta in await store.fetch(1, inbox.id, UidSet.span(1, inbox.uidnext)):
                raw = await store.read_message(1, inbox.id, meta.uid)
                assert len(raw) == meta.size and raw.startswith(b"Subject: ")
            assert inbox.uidnext > max(added, default=0)
            repaired = await store.verify(1, repair=True)
            assert repaired.problems == ()
        finally:
            await store.close()

    asyncio.run(body())


MIN_ACKS_PER_ROUND = 4


def test_kill_9_at_random_points(tmp_path: Path) -> None:
    root, log = tmp_path / "mail", tmp_path / "acks.log"
    rng = random.Random(4242)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    total_acked = 0
    for round_ in range(6):
        before = len(read_log(log)[0]) if log.exists() else 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store.crash_writer", str(root), str(log), f"r{round_}"],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
        )
        try:
            # Wait for a few acknowledgements (however slow the machine), then kill at a
            # random instant among the writes that follow.
            deadline = time.monotonic() + 60
            while (len(read_log(log)[0]) if log.exists() else 0) < before + MIN_ACKS_PER_ROUND:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the writer acknowledged too little"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.05, 0.8))
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if proc.stderr:
                proc.stderr.close()
        added, gone, doomed = read_log(log)
        assert len(added) > total_acked
        total_acked = len(added)
        check_store(root, added, gone, doomed)
    assert total_acked >= 6 * MIN_ACKS_PER_ROUND
    # The kills landed among group commits: batches carried several deliveries at once.
    assert max(batch_sizes(log.with_suffix(".batches"))) > 1
