"""SMTP load: messages/s accepted by an MX and messages/s until readable in the mailbox.

An asyncio client of our own: CONCURRENCY sessions, each sending its share of MESSAGES over
one connection (EHLO once; MAIL, RCPT and DATA pipelined; then the body), to one recipient.
"Accepted" is the time from the first connection to the last 250 after DATA. "Readable" is
the time until POP3 STAT for the recipient shows every message (polled every 50 ms, starting
after the last 250, so polling costs the server nothing while it receives).

    # against a mailkeep it starts itself (temporary data_dir, loopback ports):
    .venv/bin/python bench/smtp_load.py mailkeep [--sizes 4096,102400] [--concurrency 1,10,50]
    # against any server (e.g. the Postfix + Dovecot anchor):
    .venv/bin/python bench/smtp_load.py remote --smtp 127.0.0.1:10025 --pop3 127.0.0.1:10110 \
        --user user1@example.test --password pw
    # both in one run, each size and concurrency measured on mailkeep then on the anchor
    # right after, with the ratio of readable/s (the load on the machine moves less between
    # two neighbouring measurements than between two runs):
    .venv/bin/python bench/smtp_load.py mailkeep --anchor 127.0.0.1:10025,127.0.0.1:10110 \
        --user user2@example.test --password pw
"""

from __future__ import annotations

import argparse
import asyncio
import os
import poplib
import random
import re
import shutil
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mailkeep.certs.selfsigned import CERT_NAME

MAILKEEP = Path(sys.executable).with_name("mailkeep")
BENCH_PASSWORD = "bench password 1"


@dataclass(frozen=True)
class Target:
    smtp: tuple[str, int]
    pop3: tuple[str, int]
    user: str
    password: str
    pop3_ca: Path | None = None  # STLS first, trusting this certificate (mailkeep)


def make_message(i: int, size: int, rng: random.Random) -> bytes:
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(50)]
    head = (
        f"From: Sender {i} <sender{i}@example.org>\r\nTo: user@example.test\r\n"
        f"Subject: load {i} {rng.choice(words)}\r\nMessage-ID: <{i}.{rng.random()}@bench>\r\n"
        "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n"
    )
    lines = [head]
    length = len(head)
    while length < size:
        line = " ".join(rng.choices(words, k=10)) + "\r\n"
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()


async def _reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return int(line[:3])


async def _session(target: Target, messages: list[bytes]) -> int:
    reader, writer = await asyncio.open_connection(*target.smtp)
    sent = 0
    try:
        assert await _reply(reader) == 220
        writer.write(b"EHLO load.example.org\r\n")
        assert await _reply(reader) == 250
        rcpt = f"RCPT TO:<{target.user}>\r\n".encode()
        for raw in messages:
            writer.write(b"MAIL FROM:<load@example.org>\r\n" + rcpt + b"DATA\r\n")
            codes = [await _reply(reader) for _ in range(3)]
            if codes != [250, 250, 354]:
                raise RuntimeError(f"refused: {codes}")
            writer.write(raw + b".\r\n")
            if await _reply(reader) != 250:
                raise RuntimeError("message refused")
            sent += 1
        writer.write(b"QUIT\r\n")
        await _reply(reader)
    finally:
        writer.close()
    return sent


def pop3_count(target: Target) -> int:
    client = poplib.POP3(*target.pop3, timeout=30)
    try:
        if target.pop3_ca is not None:
            client.stls(ssl.create_default_context(cafile=str(target.pop3_ca)))
        client.user(target.user)
        client.pass_(target.password)
        return int(client.stat()[0])
    finally:
        client.quit()


def _count_or_zero(target: Target) -> int:
    """STAT, or 0 after a transient refusal (Dovecot answers "-ERR [SYS/TEMP] Mailbox is in
    inconsistent state, please relogin" while LMTP writes its maildir)."""
    try:
        return pop3_count(target)
    except (poplib.error_proto, OSError):
        return 0


def wait_for_count(target: Target, count: int, limit: float = 600.0) -> None:
    """Poll until the mailbox holds ``count`` messages; fail after ``limit`` seconds (a
    mailbox someone else empties meanwhile would otherwise keep the bench waiting)."""
    deadline = time.monotonic() + limit
    while (seen := _count_or_zero(target)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.user}: {seen} messages after {limit:.0f} s, not {count}")
        time.sleep(0.05)


async def run_once(target: Target, size: int, concurrency: int, count: int) -> tuple[float, float]:
    rng = random.Random(size * 1000 + concurrency)
    before = await asyncio.to_thread(pop3_count, target)
    messages = [make_message(i, size, rng) for i in range(count)]
    shares = [messages[i::concurrency] for i in range(concurrency)]
    start = time.perf_counter()
    sent = sum(await asyncio.gather(*(_session(target, share) for share in shares)))
    accepted = time.perf_counter() - start
    await asyncio.to_thread(wait_for_count, target, before + sent)
    readable = time.perf_counter() - start
    return sent / accepted, sent / readable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailkeepProcess:
    """``mailkeep serve`` on a temporary data_dir with one user, limits opened for load."""

    def __init__(self, extra_config: tuple[str, ...] = ()) -> None:
        """``extra_config``: TOML lines appended to the config (sections not used above)."""
        self.root = Path(tempfile.mkdtemp(prefix="mailkeep-bench-"))
        self.smtp, self.pop3 = free_port(), free_port()
        user = os.environ.get("USER") or "root"
        config = self.root / "mailkeep.toml"
        config.write_text(
            "\n".join([
                'hostname = "mail.example.test"',
                f'data_dir = "{self.root / "data"}"',
                "[listen]",
                f'smtp = "127.0.0.1:{self.smtp}"',
                f'pop3 = "127.0.0.1:{self.pop3}"',
                "[server]",
                f'user = "{user}"',
                "[smtp]",
                "greet_pause_seconds = 0",
                "max_connections_per_ip = 10000",
                "messages_per_minute_per_ip = 100000000",
                "[pop3]",
                "max_connections_per_ip = 1000",
                *extra_config,
            ]) + "\n"
        )  # fmt: skip
        self.config = config
        self._cli("domain", "add", "example.test")
        self._cli("user", "add", "user1@example.test", "--password-stdin", stdin=BENCH_PASSWORD)
        self.log = self.root / "server.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(MAILKEEP), "-c", str(config), "serve"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while b"msg=ready" not in self.log.read_bytes():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("mailkeep did not start:\n" + self.log.read_text())
            time.sleep(0.1)

    def _cli(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [str(MAILKEEP), "-c", str(self.config), *args],
            input=(stdin + "\n").encode() if stdin else None,
            check=True,
            capture_output=True,
        )

    def target(self) -> Target:
        return Target(
            ("127.0.0.1", self.smtp),
            ("127.0.0.1", self.pop3),
            "user1@example.test",
            BENCH_PASSWORD,
            pop3_ca=self.root / "data" / "tls" / CERT_NAME,
        )

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) if match else 0

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far, user + system (every thread)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


async def idle_rss(server: MailkeepProcess, connections: int) -> tuple[int, int]:
    """RSS before and with ``connections`` idle SMTP sessions (greeted, EHLO sent)."""
    before = server.rss_kib()
    opened = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.smtp)
        await _reply(reader)
        writer.write(b"EHLO idle.example.org\r\n")
        await _reply(reader)
        opened.append(writer)
    await asyncio.sleep(1)
    during = server.rss_kib()
    for writer in opened:
        writer.close()
    await asyncio.sleep(1)  # let the server close its side before the load runs
    return before, during


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["mailkeep", "remote"])
    parser.add_argument("--smtp", type=_hostport)
    parser.add_argument("--pop3", type=_hostport)
    parser.add_argument("--user", default="user1@example.test")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--sizes", default="4096,102400")
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--messages", type=int, default=1000, help="per run, for 4 KB")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections for RSS")
    parser.add_argument("--anchor", help="SMTP,POP3 of a server to measure after each step")
    args = parser.parse_args()
    server = MailkeepProcess() if args.mode == "mailkeep" else None
    if server:
        target = server.target()
    else:
        target = Target(args.smtp, args.pop3, args.user, args.password)
    anchor = None
    if args.anchor:
        smtp, pop3 = (_hostport(part) for part in args.anchor.split(","))
        anchor = Target(smtp, pop3, args.user, args.password)
    try:
        if server and args.idle:  # first, on the fresh process
            before, during = asyncio.run(idle_rss(server, args.idle))
            print(f"rss_kib fresh: {before}  with {args.idle} idle smtp sessions: {during}  "
                  f"per_session_kib: {(during - before) / args.idle:.1f}")  # fmt: skip
        header = "size_bytes concurrency messages accepted_per_s readable_per_s"
        if anchor:
            header += " anchor_accepted_per_s anchor_readable_per_s readable_ratio load1"
        print(header)
        for size in map(int, args.sizes.split(",")):
            count = args.messages if size <= 4096 else max(100, args.messages * 3 // 10)
            for concurrency in map(int, args.concurrency.split(",")):
                ok, readable = asyncio.run(run_once(target, size, concurrency, count))
                line = f"{size} {concurrency} {count} {ok:.0f} {readable:.0f}"
                if anchor:
                    a_ok, a_readable = asyncio.run(run_once(anchor, size, concurrency, count))
                    line += f" {a_ok:.0f} {a_readable:.0f} {readable / a_readable:.2f}"
                    line += f" {os.getloadavg()[0]:.1f}"
                print(line, flush=True)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
