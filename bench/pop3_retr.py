"""POP3 RETR throughput, mailkeep side by side with Dovecot (the anchor), in one run.

Each of USERS users has a mailbox of MESSAGES messages of about SIZE bytes. A client logs
in (STLS first, on both servers, so both pay for TLS), then RETRs every message one after
the other, as fetchmail and getmail do, and QUITs without deleting. Reported: messages/s
and MB/s for 1 client, and for USERS clients at once (each on its own mailbox), the median
of ROUNDS runs after one warm-up run (Dovecot builds its index on first access).

    # starts the anchor with ../shared/anchors/up.sh if it is not up, fills both stores:
    .venv/bin/python bench/pop3_retr.py [--messages 1000] [--size 6000] [--users 10]

Run as root (the anchor and its Maildirs need it). Nothing is deleted on either server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mailserver import PASSWORD, MailServer, make_server  # noqa: E402

# the anchor's scripts sit in shared/anchors next to the repository (or its worktree folder)
ANCHOR = next(
    (p / "shared" / "anchors" for p in REPO.parents if (p / "shared" / "anchors").is_dir()),
    REPO.parent / "shared" / "anchors",
)
ANCHOR_MB = Path(os.environ.get("MB", "/var/tmp/mb-anchor"))


def make_message(user: int, i: int, size: int) -> bytes:
    head = (
        f"From: Sender {i} <sender{i}@example.org>\r\n"
        f"To: user{user}@example.test\r\nSubject: bench message {i}\r\n"
        f"Message-ID: <bench.{user}.{i}@example.org>\r\n"
        "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


async def retr_all(
    host: str, port: int, user: str, password: str, context: ssl.SSLContext
) -> tuple[int, int, float]:
    """Log in with STLS, RETR every message; return (messages, bytes, seconds of RETRs)."""
    reader, writer = await asyncio.open_connection(host, port, limit=4 << 20)

    async def command(line: bytes, multiline: bool = False) -> bytes:
        writer.write(line + b"\r\n")
        status = await reader.readline()
        if not status.startswith(b"+OK"):
            raise RuntimeError(f"{line[:20]!r}: {status!r}")
        if multiline:
            return await reader.readuntil(b"\r\n.\r\n")
        return status

    await reader.readline()
    await command(b"STLS")
    await writer.start_tls(context, server_hostname="localhost")
    await command(b"USER " + user.encode())
    await command(b"PASS " + password.encode())
    count = int((await command(b"STAT")).split()[1])
    total = 0
    started = time.perf_counter()
    for number in range(1, count + 1):
        total += len(await command(b"RETR %d" % number, multiline=True))
    elapsed = time.perf_counter() - started
    await command(b"QUIT")
    writer.close()
    return count, total, elapsed


async def one_round(
    host: str, port: int, users: list[str], password: str, context: ssl.SSLContext
) -> tuple[float, float]:
    """All ``users`` at once: (messages/s, MB/s) over the slowest client's time."""
    started = time.perf_counter()
    results = await asyncio.gather(*(retr_all(host, port, u, password, context) for u in users))
    wall = time.perf_counter() - started
    messages = sum(r[0] for r in results)
    octets = sum(r[1] for r in results)
    return messages / wall, octets / wall / 1e6


def measure(
    name: str,
    host: str,
    port: int,
    users: list[str],
    password: str,
    context: ssl.SSLContext,
    rounds: int,
) -> dict[str, tuple[float, float]]:
    out = {}
    for label, group in (("1 client", users[:1]), (f"{len(users)} clients", users)):
        asyncio.run(one_round(host, port, group, password, context))  # warm-up
        runs = [asyncio.run(one_round(host, port, group, password, context)) for _ in range(rounds)]
        out[label] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
        print(f"{name:9} {label:11} {out[label][0]:9.0f} msgs/s {out[label][1]:8.1f} MB/s")
    return out


def fill_dovecot(users: int, messages: int, size: int, first: int = 1) -> None:
    """Fill the Maildirs of anchor users ``first`` .. ``first + users - 1``."""
    vmail = pwd.getpwnam("vmail")
    for u in range(first, first + users):
        maildir = ANCHOR_MB / "example.test" / f"user{u}" / "Maildir"
        for _attempt in range(30):  # Dovecot may still be writing its index files there
            try:
                shutil.rmtree(maildir)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(1)
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        for i in range(messages):
            raw = make_message(u, i, size)
            (maildir / "cur" / f"1764072000.M{i}P1.bench,S={len(raw)}:2,S").write_bytes(raw)
        for root, _dirs, files in os.walk(ANCHOR_MB / "example.test" / f"user{u}"):
            for entry in [root, *(os.path.join(root, f) for f in files)]:
                os.chown(entry, vmail.pw_uid, vmail.pw_gid)


def fill_mailkeep(root: Path, users: int, messages: int, size: int) -> MailServer:
    server = make_server(root)
    for u in range(1, users + 1):
        address = f"user{u}@example.test"
        server.add_user(address)
        server.deliver_offline(address, (make_message(u, i, size) for i in range(messages)))
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    print(
        f"machine: {os.cpu_count()} cores; {args.users} mailboxes x {args.messages} "
        f"messages of ~{args.size} bytes; STLS on both; median of {args.rounds}"
    )
    subprocess.run(["bash", str(ANCHOR / "up.sh")], check=True, stdout=subprocess.DEVNULL)
    fill_dovecot(args.users, args.messages, args.size)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # the anchor's self-signed certificate
    users = [f"user{u}@example.test" for u in range(1, args.users + 1)]
    dovecot = measure("dovecot", "127.0.0.1", 10110, users, "pw", insecure, args.rounds)

    root = Path(tempfile.mkdtemp(prefix="mailkeep-bench-pop3-"))
    server = fill_mailkeep(root, args.users, args.messages, args.size)
    try:
        context = ssl.create_default_context(cafile=str(server.ca_file))
        mine = measure(
            "mailkeep", "127.0.0.1", server.ports["pop3"], users, PASSWORD, context, args.rounds
        )
    finally:
        server.stop()
        shutil.rmtree(root)
    for label in mine:
        print(f"ratio {label:11} {mine[label][0] / dovecot[label][0]:.2f} (mailkeep / dovecot)")


if __name__ == "__main__":
    main()
