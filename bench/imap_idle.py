"""Memory per idle IMAP connection, mailkeep (the real ``mailkeep serve`` process) and the
Dovecot anchor measured in one run, plain and over TLS.

Each connection logs in (users user1..user10 in turn), selects INBOX and enters IDLE. The
figure is the server's added proportional set size (PSS: pages shared between processes are
split among them; for mailkeep's single process PSS is its RSS) divided by the number of
connections, read from /proc/PID/smaps_rollup once every connection is in IDLE. For Dovecot
every ``dovecot/imap`` and ``dovecot/imap-login`` process counts (a process per connection,
plus a TLS proxy process per TLS connection).

    .venv/bin/python bench/imap_idle.py [--counts 1000,10000] [--dovecot-max 1000]
                                         [--messages 100]

Run as root (the anchor needs it). mailkeep is configured for the run: logins from
127.0.0.1 without TLS (imap.plaintext_login_networks) and no per-IP or per-user connection
cap; Dovecot's anchor allows 1,000 connections per user and IP and about 1,000 imap
processes, so it is measured up to --dovecot-max connections only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pop3_retr import ANCHOR, make_message  # noqa: E402
from tests.mailserver import MailServer, make_server  # noqa: E402

USERS = [f"user{u}@example.test" for u in range(1, 11)]
OPENING_AT_ONCE = 64  # connections being opened (TCP, TLS, LOGIN, SELECT) at a time


def pss_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KB; (0, 0) when it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    found = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss"):
            found[key] = int(rest.split()[0])
    return found.get("Pss", 0), found.get("Rss", 0)


def total_kb(pids: list[int]) -> tuple[int, int]:
    sums = [pss_kb(p) for p in pids]
    return sum(s[0] for s in sums), sum(s[1] for s in sums)


def dovecot_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "dovecot/imap"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


class Idler:
    """One connection: greeting, LOGIN, SELECT INBOX, IDLE; then it only holds the socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.exists = -1

    @classmethod
    async def open(
        cls, port: int, context: ssl.SSLContext | None, user: str, password: str
    ) -> Idler:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
        )
        idler = cls(reader, writer)
        await reader.readline()  # greeting
        await idler.command(b'a LOGIN %s "%s"' % (user.encode(), password.encode()))
        for line in await idler.command(b"b SELECT INBOX"):
            if line.endswith(b" EXISTS\r\n"):
                idler.exists = int(line.split()[1])
        writer.write(b"c IDLE\r\n")
        continuation = await reader.readline()
        if not continuation.startswith(b"+"):
            raise RuntimeError(f"IDLE refused: {continuation!r}")
        return idler

    async def command(self, line: bytes) -> list[bytes]:
        tag = line.split(b" ", 1)[0] + b" "
        self.writer.write(line + b"\r\n")
        lines: list[bytes] = []
        while True:
            got = await self.reader.readline()
            if not got:
                raise RuntimeError(f"connection closed after {line[:20]!r}")
            if got.startswith(tag):
                if not got.startswith(tag + b"OK"):
                    raise RuntimeError(got.decode(errors="replace"))
                return lines
            lines.append(got)

    def close(self) -> None:
        self.writer.close()


async def measure(
    label: str,
    port: int,
    context: ssl.SSLContext | None,
    password: str,
    count: int,
    pids: Callable[[], list[int]],
) -> None:
    """Open ``count`` idle connections and print the memory they added. One connection per
    user is opened first and kept, so that what every server sets up once per user or on
    first use (an open user store, imported code) is in the baseline."""
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def one(i: int) -> Idler:
        async with gate:
            return await Idler.open(port, context, USERS[i % len(USERS)], password)

    warm = await asyncio.gather(*(one(i) for i in range(len(USERS))))
    await asyncio.sleep(1)
    before_pss, before_rss = total_kb(pids())
    start = time.perf_counter()
    idlers = await asyncio.gather(*(one(i) for i in range(count)))
    opened = time.perf_counter() - start
    await asyncio.sleep(2)  # let the server settle (buffers freed, tasks parked)
    after_pss, after_rss = total_kb(pids())
    exists = sorted({i.exists for i in idlers})
    print(
        f"{label:28} {count:6} open in {opened:6.1f} s; added PSS {after_pss - before_pss:9} KB"
        f" = {(after_pss - before_pss) / count:6.1f} KB/conn; RSS {after_rss - before_rss:9} KB"
        f" = {(after_rss - before_rss) / count:6.1f} KB/conn; INBOX sizes {exists}",
        flush=True,
    )
    for idler in [*warm, *idlers]:
        idler.close()
    await asyncio.sleep(1)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"client RLIMIT_NOFILE: {resource.getrlimit(resource.RLIMIT_NOFILE)}")


def server_nofile(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return " ".join(line.split()[3:5])
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000,10000")
    parser.add_argument("--dovecot-max", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100, help="mailkeep INBOX size")
    parser.add_argument("--skip-dovecot", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    print(f"machine: {os.cpu_count()} cores; load: {os.getloadavg()}")
    raise_nofile()
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    root = Path(tempfile.mkdtemp(prefix="mailkeep-bench-idle-"))
    extra = (
        "[imap]\nmax_connections_per_user = 100000\nmax_connections_per_ip = 100000\n"
        'plaintext_login_networks = ["127.0.0.1"]\n'
    )
    server: MailServer = make_server(root, extra)
    try:
        for u, address in enumerate(USERS, start=1):
            server.add_user(address, "pw")
            server.deliver_offline(
                address, (make_message(u, i, 6000) for i in range(args.messages))
            )
        tls: ssl.SSLContext | None = None
        for count in counts:
            for label, port, context in (
                ("mailkeep plain", server.ports["imap"], None),
                ("mailkeep TLS", server.ports["imaps"], tls),
            ):
                # a fresh process each time: memory freed by one run would be reused by the next
                pid = server.start().proc.pid
                if label.endswith("TLS"):  # the certificate exists once the server ran
                    tls = context = ssl.create_default_context(cafile=str(server.ca_file))
                print(f"mailkeep server RLIMIT_NOFILE (soft hard): {server_nofile(pid)}")
                asyncio.run(
                    measure(label, port, context, "pw", count, functools.partial(list, [pid]))
                )
                print(f"mailkeep server RSS at the end: {pss_kb(pid)[1]} KB")
                server.stop()
                server.served = None
    finally:
        server.stop()
        shutil.rmtree(root)

    if args.skip_dovecot:
        return
    subprocess.run(["bash", str(ANCHOR / "up.sh")], check=True, stdout=subprocess.DEVNULL)
    for count in sorted({min(c, args.dovecot_max) for c in counts}):
        for label, port, context in (
            ("dovecot plain", 10143, None),
            ("dovecot TLS", 10993, insecure),
        ):
            asyncio.run(measure(label, port, context, "pw", count, dovecot_pids))
    print(f"load at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
