"""QRESYNC reconnect time on a big mailbox: the client comes back after 10 changes made by
another session (6 flag changes, 4 expunges) and resynchronises with
``SELECT INBOX (QRESYNC (uidvalidity modseq known-uids))``.

For each mailbox size a real ``mailkeep serve`` is started on a fresh data directory. Its
INBOX is filled offline through the store: 1,000 messages appended, then copied into INBOX
with the store's COPY until the size is reached (the copies share message files, so 100,000
messages take seconds, not the minutes 100,000 fsynced appends take; a QRESYNC resync reads
only UIDs, flags and MODSEQs, so shared contents change nothing it does). One message in
three is left unseen.

Each round: a second session makes the 10 changes, then the client opens a new IMAPS
connection, logs in, ENABLEs QRESYNC and SELECTs with QRESYNC. Reported per size: p50 and
max over the rounds of the SELECT alone (command sent to tagged OK) and of the whole
reconnect (TCP connect to tagged OK of the SELECT), and the untagged lines the SELECT
returned (VANISHED (EARLIER) and FETCH must be exactly the 10 changes).

    .venv/bin/python bench/imap_qresync.py [--sizes 10000,100000] [--rounds 10] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mailserver import PASSWORD, MailServer, make_server  # noqa: E402

from mailkeep.app import store_root  # noqa: E402
from mailkeep.config.load import load_config  # noqa: E402
from mailkeep.store.disk import DiskStore  # noqa: E402
from mailkeep.store.models import INBOX, Flag, NewMessage, Quota, UidSet  # noqa: E402

USER = "sync@example.test"
SEED = 1000  # messages appended; the rest are copies of them


def message(i: int) -> bytes:
    return (
        f"From: Person {i % 50} <p{i % 50}@example.org>\r\nTo: sync@example.test\r\n"
        f"Subject: message {i}\r\nMessage-ID: <{i}@bench.example>\r\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n" + "body text line\r\n" * 40
    ).encode()


def fill(server: MailServer, size: int) -> float:
    """INBOX of ``size`` messages, written through the store while the server is down."""
    user_id = server.user_id(USER)
    config = load_config(server.config)

    async def run() -> None:
        store = DiskStore(store_root(config))
        try:
            await store.create_mailbox(user_id, "seed")
            for first in range(0, SEED, 100):
                batch = [
                    NewMessage(message(i), Flag.NONE if i % 3 == 0 else Flag.SEEN)
                    for i in range(first, first + 100)
                ]
                await store.append(user_id, "seed", batch, Quota())
            seed = (await store.status(user_id, "seed")).id
            left = size
            while left > 0:
                n = min(SEED, left)
                await store.copy(user_id, seed, UidSet.span(1, n), INBOX, Quota())
                left -= n
            await store.delete_mailbox(user_id, "seed")
        finally:
            await store.close()

    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start


class Session:
    """A blocking IMAPS session; ``command`` returns the lines up to the tagged response."""

    def __init__(self, server: MailServer) -> None:
        context = ssl.create_default_context(cafile=str(server.ca_file))
        raw = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=60)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""
        self.n = 0
        self.read_until(b"* OK")

    def read_until(self, prefix: bytes) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise ConnectionError(b"\n".join(lines))
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def command(self, line: str) -> list[bytes]:
        self.n += 1
        tag = b"b%d" % self.n
        self.sock.sendall(tag + b" " + line.encode() + b"\r\n")
        lines = self.read_until(tag + b" ")
        if not lines[-1].startswith(tag + b" OK"):
            raise RuntimeError(lines[-1])
        return lines

    def close(self) -> None:
        self.command("LOGOUT")
        self.sock.close()


def code(lines: list[bytes], name: str) -> int:
    for line in lines:
        found = re.search(rb"\[" + name.encode() + rb" (\d+)\]", line)
        if found:
            return int(found.group(1))
    raise ValueError(name)


def measure(server: MailServer, size: int, rounds: int) -> dict[str, float | str]:
    first = Session(server)
    first.command(f'LOGIN {USER} "{PASSWORD}"')
    first.command("ENABLE QRESYNC")
    selected = first.command("SELECT INBOX")
    validity, modseq = code(selected, "UIDVALIDITY"), code(selected, "HIGHESTMODSEQ")
    first.close()
    other = Session(server)
    other.command(f'LOGIN {USER} "{PASSWORD}"')
    other.command("SELECT INBOX")
    selects: list[float] = []
    reconnects: list[float] = []
    answer = ""
    for r in range(rounds):
        base = 1 + r * 50  # each round changes other messages
        for uid in range(base, base + 6):
            other.command(f"UID STORE {uid} +FLAGS.SILENT (\\Flagged)")
        gone = f"{base + 10}:{base + 13}"
        other.command(f"UID STORE {gone} +FLAGS.SILENT (\\Deleted)")
        other.command(f"UID EXPUNGE {gone}")
        start = time.perf_counter()
        client = Session(server)
        client.command(f'LOGIN {USER} "{PASSWORD}"')
        client.command("ENABLE QRESYNC")
        sent = time.perf_counter()
        lines = client.command(f"SELECT INBOX (QRESYNC ({validity} {modseq} 1:{size}))")
        done = time.perf_counter()
        selects.append((done - sent) * 1000)
        reconnects.append((done - start) * 1000)
        vanished = [ln for ln in lines if ln.startswith(b"* VANISHED")]
        fetched = [ln for ln in lines if re.match(rb"\* \d+ FETCH", ln)]
        answer = f"{len(vanished)} VANISHED ({vanished[0].decode()}), {len(fetched)} FETCH"
        if vanished != [f"* VANISHED (EARLIER) {gone}".encode()] or len(fetched) != 6:
            raise AssertionError(lines)
        modseq = code(lines, "HIGHESTMODSEQ")
        client.close()
    other.close()
    return {
        "select_p50": statistics.median(selects),
        "select_max": max(selects),
        "reconnect_p50": statistics.median(reconnects),
        "reconnect_max": max(reconnects),
        "answer": answer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--dir", default=None, help="where the data directories go")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            server = make_server(Path(tmp))
            server.add_user(USER)
            filled = fill(server, size)
            server.start()
            try:
                result = measure(server, size, args.rounds)
            finally:
                server.stop()
        rows.append((size, filled, result))
    print("| messages | fill (s) | SELECT (QRESYNC) p50 / max (ms) | reconnect p50 / max (ms) |")
    print("|---|---|---|---|")
    for size, filled, result in rows:
        print(
            f"| {size:,} | {filled:.0f} | {result['select_p50']:.1f} / {result['select_max']:.1f}"
            f" | {result['reconnect_p50']:.1f} / {result['reconnect_max']:.1f} |"
        )
    for size, _, result in rows:
        print(f"{size:,}: each SELECT answered {result['answer']}")


if __name__ == "__main__":
    main()
