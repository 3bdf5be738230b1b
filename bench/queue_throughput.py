"""Outbound queue throughput, mailkeep beside Postfix: N queued messages of SIZE bytes to D
destination domains, each served by Postfix's smtp-sink on its own loopback address
(127.0.0.10, .11, ...), drained by mailkeep's queue worker and by Postfix's queue manager
in the same run, to the same sinks.

mailkeep: the messages are put in a spool first (not timed: that is submission's cost),
then ``QueueWorker.run_once`` drains it (timed: MX from an in-memory zone, SMTP with
PIPELINING, up to 100 messages per connection, each result made durable before the next
message, the files removed), on uvloop as ``mailkeep serve`` runs. Log lines go to a file
at level info, as ``mailkeep serve`` writes them.

Postfix: a throwaway instance whose config, queue and data directories all live in a
temporary directory (``postfix -c DIR start``; nothing under /etc/postfix or
/var/spool/postfix is read or changed, the shared anchor instance is not touched). Its
smtpd takes the same messages over SMTP and puts them on hold (``check_client_access
static:HOLD``; not timed: that is Postfix's submission cost); ``postsuper -H ALL`` moves
them to the deferred queue (timed separately and printed); the timed part starts at
``postqueue -f`` and ends when no queue file is left in incoming, active or deferred
(polled every 20 ms). Routing is a transport map (``dN.test smtp:[127.0.0.1N]:PORT``),
so Postfix makes no DNS lookups either. Everything else is Postfix's default (destination
concurrency 20, connection cache on demand, fsynced queue files), except ``in_flow_delay
= 0`` (so the untimed injection is not throttled while nothing leaves the hold queue) and
``queue_run_delay = minimal_backoff_time = 3600s`` (no periodic deferred-queue scan may
start the deliveries before the timer; no message is ever deferred in this run, which the
bench checks in the log). Needs root (Postfix's master) and the postfix package.

    .venv/bin/python bench/queue_throughput.py [--messages 10000] [--domains 10] [--rounds 1]
        [--no-postfix]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mailkeep.dns.fake import FakeResolver
from mailkeep.dns.resolver import RecordType
from mailkeep.log import KeyValueFormatter
from mailkeep.net.smtp_client import OutboundSettings, SMTPClientTransport, TLSLevel
from mailkeep.queue.models import QueuedMessage, QueuedRecipient
from mailkeep.queue.spool import Spool, new_id
from mailkeep.queue.worker import QueueWorker, WorkerSettings

SENDER = "a@a.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message(i: int, size: int, rcpt: str) -> bytes:
    head = f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: bench {i}\r\nMessage-ID: <{i}@a.test>\r\n\r\n"
    line = b"the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n"
    body = line * (max(0, size - len(head)) // len(line) + 1)
    return (head.encode() + body)[:size]


def recipient(i: int, domains: int) -> str:
    return f"user{i}@d{i % domains}.test"


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


# -- mailkeep ------------------------------------------------------------------------------


def fill(spool: Spool, count: int, domains: int, size: int) -> None:
    now = time.time()
    for i in range(count):
        rcpt = recipient(i, domains)
        raw = message(i, size, rcpt)
        envelope = QueuedMessage(
            id=new_id(now),
            mail_from=SENDER,
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
    print(f"  mailkeep: delivered={report.delivered} deferred={report.deferred} left={left}")
    return elapsed


@contextlib.contextmanager
def logging_to(path: Path) -> Iterator[None]:
    """mailkeep's log lines (key=value, level info) into ``path``, as serve writes them."""
    handler = logging.FileHandler(path)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def run_mailkeep(tmp: Path, args: argparse.Namespace, hosts: list[str], port: int) -> float:
    root = tmp / "spool"
    shutil.rmtree(root, ignore_errors=True)
    fill(Spool(root), args.messages, args.domains, args.size)
    with logging_to(tmp / "mailkeep.log"), event_loop() as runner:
        elapsed = runner.run(drain_mailkeep(root, hosts, port, args.per_domain))
    return elapsed


def event_loop() -> asyncio.Runner:
    """The event loop ``mailkeep serve`` runs on: uvloop when installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


# -- Postfix -------------------------------------------------------------------------------


def _postfix(config: Path, *command: str) -> None:
    subprocess.run(
        ["postfix", "-c", str(config), *command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def postfix_instance(tmp: Path, hosts: list[str], sink_port: int) -> Iterator[tuple[Path, int]]:
    """A Postfix instance living in ``tmp``; yields (its directory, its smtpd port)."""
    top = tmp / "postfix"
    config = top / "etc"
    spool = top / "spool"
    data = top / "data"
    for path in (config, spool, data):
        path.mkdir(parents=True)
    shutil.chown(data, "postfix")
    smtpd_port = free_port()
    transport = "".join(f"d{d}.test smtp:[{host}]:{sink_port}\n" for d, host in enumerate(hosts))
    (config / "transport").write_text(transport)
    (config / "main.cf").write_text(
        f"""compatibility_level = 3.6
myhostname = mx.p.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
queue_directory = {spool}
data_directory = {data}
maillog_file = {top}/maillog
maillog_file_prefixes = {top}
alias_maps =
alias_database =
smtp_dns_support_level = disabled
smtp_tls_security_level = none
transport_maps = texthash:{config}/transport
smtpd_client_restrictions = check_client_access static:HOLD
in_flow_delay = 0
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
"""
    )
    master = []
    for line in Path("/etc/postfix/master.cf.proto").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "smtp" and fields[1] == "inet":
            line = f"127.0.0.1:{smtpd_port} inet n - n - - smtpd"
        elif len(fields) >= 8 and not line[0].isspace() and fields[4] == "y":
            fields[4] = "n"  # no chroot (nothing populates one here)
            line = " ".join(fields)
        master.append(line)
    (config / "master.cf").write_text("\n".join(master) + "\n")
    _postfix(config, "start")
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", smtpd_port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"postfix did not start; see {top}/maillog")
            time.sleep(0.1)
        yield top, smtpd_port
    finally:
        _postfix(config, "stop")


def _queue_files(spool: Path, queues: tuple[str, ...]) -> int:
    count = 0
    for queue in queues:
        for _, _, files in os.walk(spool / queue):
            count += len(files)
    return count


def inject_postfix(port: int, args: argparse.Namespace, streams: int = 10) -> None:
    """The messages into Postfix's smtpd (to the hold queue), over ``streams`` sessions."""

    def stream(first: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            for i in range(first, args.messages, streams):
                rcpt = recipient(i, args.domains)
                client.sendmail(SENDER, [rcpt], message(i, args.size, rcpt))

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_postfix(top: Path, port: int, args: argparse.Namespace) -> tuple[float, float]:
    """(seconds to release the hold queue, seconds to drain it)."""
    spool = top / "spool"
    config = top / "etc"
    log = top / "maillog"
    sent_before = log.read_text(errors="replace").count("status=sent")
    inject_postfix(port, args)
    while _queue_files(spool, ("hold",)) < args.messages:
        time.sleep(0.1)
    start = time.perf_counter()
    subprocess.run(
        ["postsuper", "-c", str(config), "-H", "ALL"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    released = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["postqueue", "-c", str(config), "-f"], check=True)
    while _queue_files(spool, ("incoming", "active", "deferred")):
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    time.sleep(1.5)  # postlogd writes asynchronously
    text = log.read_text(errors="replace")
    sent = text.count("status=sent") - sent_before
    deferred = text.count("status=deferred") + text.count("status=bounced")
    print(f"  postfix: sent={sent} deferred_or_bounced={deferred}")
    return released, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=10)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--per-domain", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-postfix", action="store_true")
    args = parser.parse_args()
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="mailkeep-bench-", dir="/var/tmp") as name,
        sinks(args.domains, port) as hosts,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(name)
        # Postfix's daemons (user postfix) must pass through to their own directories.
        os.chmod(tmp, 0o711)  # noqa: S103
        postfix = None
        if not args.no_postfix:
            postfix = stack.enter_context(postfix_instance(tmp, hosts, port))
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}: {time.strftime('%H:%M:%S')} {os.getloadavg()}")
            results: dict[str, float] = {}
            order = ["mailkeep", "postfix"] if round_number % 2 == 0 else ["postfix", "mailkeep"]
            for name_ in order:
                if name_ == "mailkeep":
                    seconds = run_mailkeep(tmp, args, hosts, port)
                    results["mailkeep"] = args.messages / seconds
                    print(
                        f"  mailkeep: {args.messages} in {seconds:.2f} s = "
                        f"{results['mailkeep']:.0f} msg/s  load {os.getloadavg()}"
                    )
                elif postfix is not None:
                    released, seconds = run_postfix(postfix[0], postfix[1], args)
                    results["postfix"] = args.messages / seconds
                    print(
                        f"  postfix: release {released:.2f} s, {args.messages} in "
                        f"{seconds:.2f} s = {results['postfix']:.0f} msg/s  "
                        f"load {os.getloadavg()}"
                    )
            if "postfix" in results:
                print(f"  ratio mailkeep/postfix = {results['mailkeep'] / results['postfix']:.2f}")


if __name__ == "__main__":
    main()
