"""Server CPU per message on the MX with mail authentication on and off: issue 9's bar is
at most 5 ms of CPU for SPF + DKIM + DMARC per 4 KB message, DNS cached, measured in the
SMTP benchmark.

    .venv/bin/python bench/smtp_mailauth.py [--rounds 5] [--messages 300] [--concurrency 10]

Two ``mailkeep serve`` processes from bench/smtp_load.py, identical but for
``mailauth.verify``, resolve through a DNS server on loopback (dnslib, in this process)
that serves the sending domain example.org: SPF ``ip4:127.0.0.1 -all``, DMARC
``p=reject``, an Ed25519 and an RSA-2048 DKIM key. The messages are smtp_load's, about
4 KB with both DKIM-Signature fields (signed here beforehand), sent by smtp_load's client
(MAIL FROM load@example.org, From: senderN@example.org, to one local user). Each round
sends a batch to each server in turn and reads the server's CPU time (utime + stime of
the whole process, /proc/PID/stat) before and after: CPU per message is the difference
over the batch size, so it covers everything the server does for a message (SMTP,
checks, store). "checks" is on minus off in the same round. A first batch per server
fills the DNS cache and is not counted. The last message delivered with the checks on is
read back over POP3 to show its Authentication-Results (they must pass, or the figure
would be the cost of a failure path).

Prints one line per round and the medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import poplib
import random
import ssl
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from smtp_load import MailkeepProcess, Target, _session, make_message  # noqa: E402
from tests.dns.server import dns_server  # noqa: E402

from mailkeep.mailauth.dkim import sign_message  # noqa: E402
from mailkeep.mailauth.keys import KeyStore  # noqa: E402

DOMAIN = "example.org"


def signed_messages(count: int, keys: KeyStore) -> list[bytes]:
    rng = random.Random(4096)
    signing = keys.signing_keys(DOMAIN)
    out = []
    for i in range(count):
        raw = make_message(i, 3300, rng)  # about 4.3 KB once signed
        out.append(sign_message(raw, signing) + raw)
    return out


async def send(target: Target, messages: list[bytes], concurrency: int) -> int:
    shares = [messages[i::concurrency] for i in range(concurrency)]
    return sum(await asyncio.gather(*(_session(target, share) for share in shares)))


def cpu_per_message(server: MailkeepProcess, messages: list[bytes], concurrency: int) -> float:
    before = server.cpu_seconds()
    sent = asyncio.run(send(server.target(), messages, concurrency))
    if sent != len(messages):
        raise RuntimeError(f"only {sent} of {len(messages)} messages accepted")
    return (server.cpu_seconds() - before) / sent


def last_results(target: Target) -> str:
    """The Authentication-Results field of the newest message in the user's mailbox."""
    client = poplib.POP3(*target.pop3, timeout=30)
    try:
        assert target.pop3_ca is not None
        client.stls(ssl.create_default_context(cafile=str(target.pop3_ca)))
        client.user(target.user)
        client.pass_(target.password)
        count = int(client.stat()[0])
        lines = client.top(count, 0)[1]
    finally:
        client.quit()
    text = b"\n".join(lines).decode("utf-8", "replace")
    start = text.find("Authentication-Results:")
    end = text.find(";\n", text.find("arc=", start))
    return text[start : end if end > 0 else start + 400]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=300, help="per batch")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    keys = KeyStore(Path(tempfile.mkdtemp(prefix="mailkeep-bench-dkim-")))
    keys.generate(DOMAIN, "bench")
    messages = signed_messages(args.messages, keys)
    sizes = sorted(len(m) for m in messages)
    with dns_server() as (zones, address):
        for key in keys.keys(DOMAIN):
            zones.add_txt(key.record_name, key.txt_record())
        zones.add_txt(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
        zones.add_txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject")
        zones.ttl = 86400
        dns = ("[dns]", f'nameservers = ["{address}"]')
        servers = {
            "on": MailkeepProcess((*dns, "[mailauth]", "verify = true")),
            "off": MailkeepProcess((*dns, "[mailauth]", "verify = false")),
        }
        try:
            for server in servers.values():  # warm-up: DNS cache, imports, first mailbox
                cpu_per_message(server, messages[:50], args.concurrency)
            print(f"messages {len(messages)} per batch, {sizes[len(sizes) // 2]} bytes median, "
                  f"concurrency {args.concurrency}")  # fmt: skip
            print("round  on_ms  off_ms  checks_ms")
            rows = []
            for n in range(args.rounds):
                order = ["on", "off"] if n % 2 == 0 else ["off", "on"]
                got = {name: cpu_per_message(servers[name], messages, args.concurrency)
                       for name in order}  # fmt: skip
                rows.append((got["on"] * 1000, got["off"] * 1000))
                on, off = rows[-1]
                print(f"{n + 1:5}  {on:5.2f}  {off:6.2f}  {on - off:9.2f}", flush=True)
            on = statistics.median(r[0] for r in rows)
            off = statistics.median(r[1] for r in rows)
            diff = statistics.median(r[0] - r[1] for r in rows)
            print(f"median  {on:5.2f}  {off:6.2f}  {diff:9.2f}   (bar: checks <= 5 ms)")
            print(last_results(servers["on"].target()))
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
