"""Outbound queue throughput: N spooled messages of SIZE bytes to D destination domains,
each served by Postfix's smtp-sink on its own loopback address (127.0.0.10, .11, ...),
drained by mailkeep's queue worker.

Messages are put in a spool first (not timed: that is submission's cost), then the worker
drains it (timed: MX from an in-memory zone, SMTP with PIPELINING, up to 100 messages per
connection, each result made durable before the next message, the files removed).
The side-by-side run against Postfix's own queue manager is not automated yet (a second
Postfix instance must not disturb the shared anchor instance in /etc/postfix).

    .venv/bin/python bench/queue_throughput.py [--messages 10000] [--domains 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType
from mailkeep.net.smtp_client import OutboundSettings, SMTPClientTransport, TLSLevel
from mailkeep.queue.models import QueuedMessage, QueuedRecipient
from mailkeep.queue.spool import Spool, new_id
from mailkeep.queue.worker import QueueWorker, WorkerSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message(i: int, size: int, rcpt: str) -> bytes:
    head = f"From: a@a.test\r\nTo: {rcpt}\r\nSubject: bench {i}\r\nMessage-ID: <{i}@a.test>\r\n\r\n"
    line = b"the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n"
    body = line * (max(0, size - len(head)) // len(line) + 1)
    return (head.encode() + body)[:size]


@contextlib.contextmanager
def sinks(domains: int, port: int) -> Iterator[list[str]]:
    hosts = [f"127.0.0.{10 + d}" for d in range(domains)]
    procs = []
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    for host in hosts:
        procs.append(
            subprocess.Popen(
                ["smtp-sink", *user, "-m", "1000", f"{host}:{port}", "1000"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(0.5)
    try:
        yield hosts
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


def fill(spool: Spool, count: int, domains: int, size: int) -> None:
    now = time.time()
    for i in range(count):
        rcpt = f"user{i}@d{i % domains}.test"
        raw = message(i, size, rcpt)
        envelope = QueuedMessage(
            id=new_id(now),
            mail_from="a@a.test",
            recipients=(QueuedRecipient(rcpt),),
            created=now,
            size=len(raw),
        )
        spool.put_sync(envelope, raw)


async def drain_mailkeep(root: Path, hosts: list[str], port: int, per_domain: int) -> float:
    zone = FakeResolver()
    for d, host in enumerate(hosts):
        zone.add_mx(f"d{d}.test", 10, f"mx.d{d}.test")
        zone.add(f"mx.d{d}.test", RecordType.A, host)
    transport = SMTPClientTransport(
        OutboundSettings(hostname="mx.a.test", port=port, default_tls=TLSLevel.NONE), zone
    )
    settings = WorkerSettings(
        hostname="mx.a.test",
        max_connections=100,
        max_connections_per_domain=per_domain,
        max_messages_per_connection=100,
    )
    spool = Spool(root)
    worker = QueueWorker(spool, transport, settings)
    start = time.perf_counter()
    report = await worker.run_once()
    elapsed = time.perf_counter() - start
    left = len(spool.list_ids())
    print(f"mailkeep: delivered={report.delivered} deferred={report.deferred} left={left}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=10)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--per-domain", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="mailkeep-bench-") as tmp,
        sinks(args.domains, port) as hosts,
    ):
        root = Path(tmp) / "spool"
        fill(Spool(root), args.messages, args.domains, args.size)
        elapsed = asyncio.run(drain_mailkeep(root, hosts, port, args.per_domain))
        ours = args.messages / elapsed
        print(f"mailkeep: {args.messages} messages in {elapsed:.2f} s = {ours:.0f} msg/s")


if __name__ == "__main__":
    main()
