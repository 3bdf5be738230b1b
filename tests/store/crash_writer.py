"""A store writer for the crash test: run as ``python -m tests.store.crash_writer ROOT LOG TAG``.

Several concurrent tasks deliver messages, flag some and expunge some, forever. After each
acknowledged operation a line goes to LOG (written and flushed, so it survives SIGKILL of
this process): "add UID SHA256 TAG-N" or "gone UID"; before an expunge, "doomed UID" (the
kill may land between the expunge's commit and its acknowledgement). The test kills this
process at random moments and checks the store against LOG.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from pathlib import Path

from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX, Flag, FlagOp, Recipient, UidSet


async def main(root: Path, log_path: Path, tag: str) -> None:
    store = DiskStore(root)
    log = log_path.open("a", buffering=1)
    inbox = (await store.status(1, INBOX)).id
    counter = 0
    commit_batch = store._db._commit_batch
    batches = log_path.with_suffix(".batches").open("a", buffering=1)

    def logged_batch(user, batch):  # type: ignore[no-untyped-def]
        batches.write(f"batch {len(batch)}\n")
        commit_batch(user, batch)

    store._db._commit_batch = logged_batch  # type: ignore[method-assign]

    async def deliverer(seed: int) -> None:
        nonlocal counter
        rng = random.Random(seed)
        while True:
            counter += 1
            name = f"{tag}-{counter}"
            body = "".join(rng.choice("abcdefgh \r\n") for _ in range(rng.randint(10, 30000)))
            raw = f"Subject: {name}\r\nX-Seq: {name}\r\n\r\n{body}\r\n".encode()
            [result] = await store.deliver([Recipient(1)], raw)
            if isinstance(result, Exception):
                raise result
            uid = next(iter(result.uids))
            log.write(f"add {uid} {hashlib.sha256(raw).hexdigest()} {name}\n")

    async def expunger() -> None:
        rng = random.Random(99)
        while True:
            await asyncio.sleep(0.02)
            uids = list((await store.select(1, INBOX)).uids)
            if len(uids) < 5:
                continue
            doomed = UidSet.of(rng.sample(uids, 2))
            for uid in doomed:
                log.write(f"doomed {uid}\n")
            await store.store_flags(1, inbox, doomed, FlagOp.ADD, Flag.DELETED)
            for uid in await store.expunge(1, inbox, doomed):
                log.write(f"gone {uid}\n")

    await asyncio.gather(*(deliverer(i) for i in range(6)), expunger())


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
