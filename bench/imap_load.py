"""IMAP load, mailkeep side by side with Dovecot (the anchor), in one run.

Each of USERS users has an INBOX of MESSAGES messages. Each client (one per user, all at
once) runs one scenario over IMAPS, timing every command: LOGIN, SELECT, FETCH 1:* (FLAGS
UID RFC822.SIZE ENVELOPE), UID FETCH of whole bodies (the first BODIES messages), UID
SEARCH on a header and on a body word, STORE +FLAGS on 100 messages, APPEND, EXPUNGE of
the appended message, LOGOUT. Reported per command: p50/p99 latency and the ratio to
Dovecot; and the resident memory the server adds per idle (IDLE) connection.

    .venv/bin/python bench/imap_load.py [--messages 10000] [--users 2] [--idle 1000]

Run as root (the anchor and its Maildirs need it). Our own client, asyncio, no library.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pop3_retr import ANCHOR, fill_dovecot, make_message  # noqa: E402
from tests.mailserver import PASSWORD, MailServer, make_server  # noqa: E402

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
Timings = dict[str, list[float]]


class Client:
    """A minimal IMAP client: tagged commands, responses read with their literals."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.n = 0

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext) -> Client:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost", limit=16 << 20
        )
        await reader.readline()  # greeting
        return cls(reader, writer)

    async def command(self, line: bytes, literal: bytes | None = None) -> bytes:
        """Send a command (with one synchronizing literal); return the untagged octets."""
        self.n += 1
        tag = b"t%d" % self.n
        if literal is None:
            self.writer.write(tag + b" " + line + b"\r\n")
        else:
            self.writer.write(tag + b" " + line + b" {%d}\r\n" % len(literal))
            await self.reader.readline()  # "+ ..."
            self.writer.write(literal + b"\r\n")
        out = bytearray()
        while True:
            got = await self.reader.readline()
            if got.startswith(tag + b" "):
                if not got.startswith(tag + b" OK"):
                    raise RuntimeError(got.decode(errors="replace"))
                return bytes(out)
            out += got
            m = LITERAL.search(got)
            if m:
                out += await self.reader.readexactly(int(m.group(1)))

    async def close(self) -> None:
        self.writer.close()


async def scenario(
    port: int, user: str, password: str, context: ssl.SSLContext, bodies: int
) -> Timings:
    timings: Timings = defaultdict(list)

    async def timed(name: str, line: bytes, literal: bytes | None = None) -> bytes:
        start = time.perf_counter()
        out = await client.command(line, literal)
        timings[name].append(time.perf_counter() - start)
        return out

    start = time.perf_counter()
    client = await Client.open(port, context)
    await client.command(b'LOGIN %s "%s"' % (user.encode(), password.encode()))
    timings["LOGIN"].append(time.perf_counter() - start)
    await timed("SELECT", b"SELECT INBOX")
    await timed("FETCH 1:* meta", b"FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
    await timed("UID FETCH bodies", b"UID FETCH 1:%d (BODY.PEEK[])" % bodies)
    await timed("SEARCH header", b'UID SEARCH SUBJECT "message 4242"')
    await timed("SEARCH body", b"UID SEARCH BODY needle4242")
    await timed("STORE 100", b"STORE 1:100 +FLAGS.SILENT (\\Flagged)")
    await timed("STORE 100", b"STORE 1:100 -FLAGS.SILENT (\\Flagged)")
    appended = await timed("APPEND", b"APPEND INBOX (\\Deleted)", make_message(0, 999999, 6000))
    del appended
    await timed("EXPUNGE", b"EXPUNGE")
    await timed("LOGOUT", b"LOGOUT")
    await client.close()
    return timings


def bench_message(user: int, i: int) -> bytes:
    raw = make_message(user, i, 6000)
    return raw.replace(b"Subject: bench message", b"Subject: message") + b"needle%d\r\n" % i


async def run_all(
    port: int, users: list[str], password: str, context: ssl.SSLContext, bodies: int
) -> Timings:
    results = await asyncio.gather(*(scenario(port, u, password, context, bodies) for u in users))
    merged: Timings = defaultdict(list)
    for t in results:
        for k, v in t.items():
            merged[k] += v
    return merged


def rss_kb(pid: int) -> int:
    """Proportional set size (shared pages split between processes), in KB."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


async def idle_memory(
    port: int,
    user: str,
    password: str,
    context: ssl.SSLContext,
    pids: Callable[[], list[int]],
    count: int,
) -> float:
    """KB of server RSS added per IDLE connection (``count`` of them)."""
    before = sum(rss_kb(p) for p in pids())
    clients = []
    for _ in range(count):
        c = await Client.open(port, context)
        await c.command(b'LOGIN %s "%s"' % (user.encode(), password.encode()))
        await c.command(b"SELECT INBOX")
        c.writer.write(b"i IDLE\r\n")
        await c.reader.readline()
        clients.append(c)
    await asyncio.sleep(1)
    after = sum(rss_kb(p) for p in pids())
    for c in clients:
        await c.close()
    return (after - before) / count


def dovecot_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "dovecot/imap"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def report(name: str, timings: Timings) -> dict[str, float]:
    medians = {}
    for label, values in timings.items():
        values.sort()
        p50 = statistics.median(values)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        medians[label] = p50
        print(f"{name:9} {label:17} p50 {p50 * 1000:9.2f} ms  p99 {p99 * 1000:9.2f} ms")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--bodies", type=int, default=500)
    parser.add_argument("--idle", type=int, default=200, help="0: skip the memory part")
    parser.add_argument(
        "--first-user", type=int, default=1, help="use anchor users N.. (others may use 1, 2)"
    )
    parser.add_argument(
        "--profile", type=Path, help="run mailkeep under cProfile and write its stats here"
    )
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}")
    print(f"machine: {os.cpu_count()} cores; {args.users} users x {args.messages} messages")
    subprocess.run(["bash", str(ANCHOR / "up.sh")], check=True, stdout=subprocess.DEVNULL)
    first = args.first_user
    users = [f"user{u}@example.test" for u in range(first, first + args.users)]
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    import bench.pop3_retr as pop3_bench

    pop3_bench.make_message = lambda u, i, size: bench_message(u, i)  # type: ignore[assignment]
    fill_dovecot(args.users, args.messages, 6000, first)
    asyncio.run(run_all(10993, users, "pw", insecure, args.bodies))  # warm-up: index build
    dovecot = report("dovecot", asyncio.run(run_all(10993, users, "pw", insecure, args.bodies)))

    root = Path(tempfile.mkdtemp(prefix="mailkeep-bench-imap-"))
    many = "[imap]\nmax_connections_per_user = 100000\nmax_connections_per_ip = 100000\n"
    server: MailServer = make_server(root, many)
    try:
        for u, address in enumerate(users, start=first):
            server.add_user(address)
            server.deliver_offline(address, (bench_message(u, i) for i in range(args.messages)))
        wrapper = (
            (sys.executable, "-m", "cProfile", "-o", str(args.profile)) if args.profile else ()
        )
        served = server.start(wrapper)
        context = ssl.create_default_context(cafile=str(server.ca_file))
        port = server.ports["imaps"]
        asyncio.run(run_all(port, users, PASSWORD, context, args.bodies))
        mine = report("mailkeep", asyncio.run(run_all(port, users, PASSWORD, context, args.bodies)))
        for label, value in mine.items():
            print(f"ratio {label:17} {dovecot[label] / value:6.2f} (speed, mailkeep / dovecot)")
        if args.idle:
            per = asyncio.run(
                idle_memory(port, users[0], PASSWORD, context, lambda: [served.proc.pid], args.idle)
            )
            print(f"mailkeep  memory (PSS) per IDLE connection over TLS: {per:.0f} KB")
    finally:
        server.stop()
        shutil.rmtree(root)
    if args.profile:
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    print(f"load average at the end: {os.getloadavg()}")
    if not args.idle:
        return
    per = asyncio.run(
        idle_memory(10993, users[0], "pw", insecure, dovecot_pids, min(args.idle, 900))
    )
    print(
        f"dovecot   memory (PSS) per IDLE connection over TLS: {per:.0f} KB (imap processes only)"
    )


if __name__ == "__main__":
    main()
