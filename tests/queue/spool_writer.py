"""Puts messages into a spool forever, printing each id once ``put`` returned (for the
crash test, which kills this process with SIGKILL at a random moment)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mailkeep.queue.models import QueuedMessage, QueuedRecipient
from mailkeep.queue.spool import Spool, new_id


def main() -> None:
    spool = Spool(Path(sys.argv[1]))
    i = 0
    while True:
        spool_id = new_id(time.time())
        raw = b"Subject: %d\r\n\r\n" % i + b"x" * (i % 5000) + b"\r\n"
        envelope = QueuedMessage(
            id=spool_id,
            mail_from="a@example.test",
            recipients=(QueuedRecipient(f"r{i}@remote.example"),),
            created=time.time(),
            size=len(raw),
        )
        spool.put_sync(envelope, raw)
        print(spool_id, flush=True)
        i += 1


if __name__ == "__main__":
    main()
