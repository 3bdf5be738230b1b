"""Store reads on a big mailbox: the state a SELECT needs, FLAGS+ENVELOPE of every message,
header and full-text searches, and resident memory; for several mailbox sizes side by side.

The mailbox is filled through the store's append (parallel batches, each message durable),
then indexed; the timed operations are what the IMAP server asks of the store. Prints one
Markdown table.

    .venv/bin/python bench/store_mailbox.py [--sizes 10000,100000] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from mailkeep.store import query as q
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX, Flag, FlagOp, NewMessage, Quota, UidSet

RARE = "xylophonequartz"
CHUNK = 5000  # UIDs per fetch call, as the IMAP layer would chunk FETCH 1:*


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [26 - i for i in range(26)]
    return ["".join(rng.choices(letters, weights, k=rng.randint(2, 10))) for _ in range(size)]


def make_message(
    i: int, rng: random.Random, words: list[str], rare: bool, size: int = 4096
) -> bytes:
    zipf = [1 / (r + 1) for r in range(len(words))]
    subject = " ".join(rng.choices(words, zipf, k=5))
    head = (
        f"From: Person {i % 500} <p{i % 500}@example.org>\r\nTo: user@example.net\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{i}@bench.example>\r\n"
        f"Date: Tue, {1 + i % 28:02d} Jan 2024 10:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    text = " ".join(rng.choices(words, zipf, k=size // 6))
    if rare:
        text = f"{RARE} " + text
    return (head + text).encode()[:size] + b"\r\n"


async def fill(store: DiskStore, count: int) -> float:
    rng = random.Random(7)
    words = vocabulary(rng)
    start = time.perf_counter()
    batch = 8  # small appends from many tasks: the files are fsynced in parallel
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            first = next_index
            next_index = min(count, first + batch)
            items = [
                NewMessage(
                    make_message(i, rng, words, i == count // 2), Flag.SEEN if i % 3 else Flag.NONE
                )
                for i in range(first, next_index)
            ]
            await store.append(1, INBOX, items, Quota())

    await asyncio.gather(*(worker() for _ in range(32)))
    return time.perf_counter() - start


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed(fn: Callable[[], Awaitable[object]], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def measure(root: Path, count: int) -> dict[str, str]:
    store = DiskStore(root)
    row: dict[str, str] = {"messages": f"{count:,}"}
    try:
        row["fill (s)"] = f"{await fill(store, count):.0f}"
        start = time.perf_counter()
        await store.wait_indexed(1)
        row["index catch-up (s)"] = f"{time.perf_counter() - start:.0f}"
        snap = await store.select(1, INBOX)
        box = snap.status.id
        row["SELECT state, unchanged mailbox (ms)"] = (
            f"{await timed(lambda: store.select(1, INBOX)):.1f}"
        )

        async def select_after(change: Callable[[], Awaitable[object]]) -> str:
            """Median of five SELECTs, each the first after ``change``."""
            took = []
            for _ in range(5):
                await change()
                start = time.perf_counter()
                await store.select(1, INBOX)
                took.append(time.perf_counter() - start)
            return f"{statistics.median(took) * 1000:.1f}"

        flip = iter(range(10**9))

        async def flag_change() -> None:
            op = FlagOp.ADD if next(flip) % 2 == 0 else FlagOp.REMOVE
            await store.store_flags(1, box, UidSet.of([1]), op, Flag.FLAGGED)

        async def arrival() -> None:
            await store.append(1, INBOX, [NewMessage(make_message(0, rng, words, False))], Quota())

        async def expunge() -> None:
            uid = (await store.select(1, INBOX)).uids[1]
            await store.store_flags(1, box, UidSet.of([uid]), FlagOp.ADD, Flag.DELETED)
            await store.expunge(1, box, UidSet.of([uid]))

        rng = random.Random(8)
        words = vocabulary(rng)
        row["SELECT after a flag change (ms)"] = await select_after(flag_change)
        row["SELECT after new mail (ms)"] = await select_after(arrival)
        row["SELECT after an expunge: every UID read (ms)"] = await select_after(expunge)

        async def fetch_all(envelopes: bool) -> int:
            n = 0
            for lo in range(1, snap.status.uidnext, CHUNK):
                span = UidSet.span(lo, lo + CHUNK - 1)
                metas = await store.fetch(1, box, span, with_envelope=envelopes)
                n += len(metas)
            return n

        row["FLAGS all (ms)"] = f"{await timed(lambda: fetch_all(False), 3):.0f}"
        row["FLAGS+ENVELOPE all (ms)"] = f"{await timed(lambda: fetch_all(True), 3):.0f}"
        searches = {
            "SEARCH BODY rare (ms)": q.Body(RARE[2:12]),
            "SEARCH SUBJECT (ms)": q.Header("subject", "zzqx"),
            "SEARCH FROM (ms)": q.Header("from", "p42@"),
            "SEARCH UNSEEN (ms)": q.Not(q.HasFlag(Flag.SEEN)),
            "SEARCH TEXT 2 chars (ms)": q.Text("qj"),
        }
        hits = await store.search(1, box, q.Body(RARE[2:12]))
        assert len(hits) == 1, hits
        for name, criterion in searches.items():
            row[name] = f"{await timed(lambda c=criterion: store.search(1, box, c), 3):.1f}"
        row["RSS now (MB)"] = f"{rss_mb():.0f}"
        row["peak RSS (MB)"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
        db = root / "1" / "store.sqlite3"
        row["database (MB)"] = f"{db.stat().st_size / 1e6:.0f}"
    finally:
        await store.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the stores")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            rows.append(asyncio.run(measure(Path(tmp), size)))
            print(rows[-1], flush=True)
    keys = list(rows[0])
    print("| " + " | ".join(["operation", *(r["messages"] for r in rows)]) + " |")
    print("|" + "---|" * (len(rows) + 1))
    for key in keys[1:]:
        print("| " + " | ".join([key, *(r[key] for r in rows)]) + " |")


if __name__ == "__main__":
    main()
