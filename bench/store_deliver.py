"""Store delivery throughput: N messages of SIZE bytes to one user from W concurrent writers.

Each deliver() returns only when its message is durable (file and directory fsynced, SQLite
WAL committed); concurrent writers share commits (group commit). Prints messages/s, the
latency percentiles, the process's CPU time per message while delivering (user + system,
every thread: less sensitive to other load on the machine than the rate) and how long
full-text indexing took to catch up.

    .venv/bin/python bench/store_deliver.py [--messages 10000] [--writers 10] [--size 4096]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import string
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mailkeep.store.disk import DiskStore
from mailkeep.store.models import Recipient


def make_message(i: int, size: int, rng: random.Random) -> bytes:
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(40)]
    head = (
        f"From: Sender {i} <sender{i}@example.org>\r\nTo: user@example.net\r\n"
        f"Subject: message {i} {rng.choice(words)}\r\nMessage-ID: <{i}@bench>\r\n"
        "Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\n"
    )
    body: list[str] = []
    length = len(head)
    while length < size:
        line = " ".join(rng.choices(words, k=10)) + "\r\n"
        body.append(line)
        length += len(line)
    return (head + "".join(body)).encode()[:size]


async def run(root: Path, count: int, writers: int, size: int) -> None:
    rng = random.Random(1)
    corpus = [make_message(i, size, rng) for i in range(200)]
    store = DiskStore(root)
    await store.list_mailboxes(1)  # open the user outside the timing
    latencies: list[float] = []
    queue = list(range(count))

    async def writer() -> None:
        while queue:
            i = queue.pop()
            start = time.perf_counter()
            [result] = await store.deliver([Recipient(1)], corpus[i % len(corpus)])
            if isinstance(result, Exception):
                raise result
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    t_index = time.perf_counter()
    await store.wait_indexed(1)
    index_lag = time.perf_counter() - t_index
    await store.close()
    latencies.sort()
    print(
        f"messages={count} writers={writers} size={size} elapsed={elapsed:.2f}s "
        f"rate={count / elapsed:.0f}/s p50={statistics.median(latencies) * 1000:.1f}ms "
        f"p99={latencies[int(len(latencies) * 0.99)] * 1000:.1f}ms "
        f"cpu/msg={cpu / count * 1000:.2f}ms index_catch_up={index_lag:.2f}s"
    )


def disk_baseline(root: Path, writers: int, size: int, count: int = 500) -> float:
    """Files/s the disk takes right now: ``writers`` threads each creating, writing and
    fsyncing files (and their directory). The store cannot beat this; the machine is shared
    and noisy, so read the store's figure against this one from the same run."""
    directory = root / "baseline"
    directory.mkdir()
    data = b"x" * size

    def one(i: int) -> None:
        fd = os.open(directory / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    with ThreadPoolExecutor(writers) as pool:
        start = time.perf_counter()
        list(pool.map(one, range(count)))
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rate = disk_baseline(Path(tmp), args.writers, args.size)
        print(f"disk baseline: {rate:.0f} files/s (write+fsync+dir fsync, {args.writers} threads)")
        asyncio.run(run(Path(tmp) / "store", args.messages, args.writers, args.size))
        rate = disk_baseline(Path(tmp) / "store", args.writers, args.size)
        print(f"disk baseline after: {rate:.0f} files/s")


if __name__ == "__main__":
    main()
