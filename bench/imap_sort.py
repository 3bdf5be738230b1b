"""IMAP SORT and THREAD on a big mailbox, mailkeep side by side with Dovecot (the anchor).

Both servers get the same MESSAGES messages in one INBOX: conversations of one to eight
messages with References and In-Reply-To, subjects with "Re:", "Fwd:", "[list]" and
"(fwd)" decorations, some encoded-words, Date headers in several zones (some missing),
display names or bare addresses. Then, over one IMAPS connection each, every command
below runs ROUNDS times; reported: the first run (cold: Dovecot builds its cache then)
and the median of the others, and the ratio of the medians.

    .venv/bin/python bench/imap_sort.py [--messages 10000] [--rounds 5] [--user user7]

Run as root (the anchor and its Maildirs need it). The anchor user's INBOX is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import pwd
import random
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

from bench.imap_load import Client  # noqa: E402
from bench.pop3_retr import ANCHOR_MB  # noqa: E402
from tests.mailserver import PASSWORD, MailServer, make_server  # noqa: E402

from mailkeep.app import store_root  # noqa: E402
from mailkeep.config.load import load_config  # noqa: E402
from mailkeep.store.disk import DiskStore  # noqa: E402

# the anchor's scripts sit beside the repository (or beside the worktrees' parent)
ANCHOR = next(
    (
        p
        for p in (REPO.parent / "shared" / "anchors", REPO.parents[1] / "shared" / "anchors")
        if p.exists()
    ),
    REPO.parent / "shared" / "anchors",
)
COMMANDS = [
    ("SORT DATE", b"UID SORT (DATE) UTF-8 ALL"),
    ("SORT SUBJECT", b"UID SORT (SUBJECT) UTF-8 ALL"),
    ("SORT REVERSE ARRIVAL", b"UID SORT (REVERSE ARRIVAL) UTF-8 ALL"),
    ("SORT FROM DATE", b"UID SORT (FROM DATE) UTF-8 ALL"),
    ("THREAD REFERENCES", b"UID THREAD REFERENCES UTF-8 ALL"),
    ("THREAD ORDEREDSUBJECT", b"UID THREAD ORDEREDSUBJECT UTF-8 ALL"),
]
TOPICS = (
    "budget review",
    "offsite plans",
    "release notes",
    "Server migration",
    "lunch on friday",
    "quarterly numbers",
    "bug in login",
    "new hire onboarding",
    "caf\u00e9 menu",
    "holiday rota",
    "conference talk",
    "printer on floor 3",
    "contract renewal",
    "API deprecation",
)
PEOPLE = (
    ("Alice Example", "alice@example.org"),
    ("", "bob@example.net"),
    ("Carol D.", "carol@example.com"),
    ("\u00c9mile Zola", "emile@example.fr"),
    ("", "dave@example.org"),
    ("Zed", "zed@example.org"),
)
ZONES = ("+0000", "-0800", "+0100", "+0530", "-0500")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _address(rng: random.Random) -> str:
    name, addr = rng.choice(PEOPLE)
    if not name:
        return addr
    return f"{_encoded_word(name) if not name.isascii() else name} <{addr}>"


def make_mailbox(count: int, seed: int = 5256) -> list[bytes]:
    """``count`` messages in delivery order: interleaved conversations."""
    rng = random.Random(seed)
    messages: list[bytes] = []
    open_threads: list[tuple[str, list[str]]] = []
    n = 0
    while len(messages) < count:
        n += 1
        mid = f"<m{n}.{rng.randrange(10**6)}@bench.example>"
        if open_threads and rng.random() < 0.6:
            index = rng.randrange(len(open_threads))
            topic, chain = open_threads[index]
            prefix = rng.choice(("Re: ", "RE: ", "Re: Re: ", "Fwd: ", "[list] Re: ", "Re[2]: "))
            subject = prefix + topic + (" (fwd)" if rng.random() < 0.05 else "")
            refs = " ".join(chain[-rng.randint(1, 8) :])
            head = f"References: {refs}\r\nIn-Reply-To: {chain[-1]}\r\n"
            chain.append(mid)
            if len(chain) >= rng.randint(2, 8):
                open_threads.pop(index)
        else:
            topic = rng.choice(TOPICS) + f" #{n}"
            subject = ("[list] " if rng.random() < 0.2 else "") + topic
            head = ""
            open_threads.append((topic, [mid]))
        if not subject.isascii():
            subject = _encoded_word(subject)
        day = 1 + (len(messages) * 300 // count) % 28
        date = (
            f"{DAYS[day % 7]}, {day} {MONTHS[len(messages) * 12 // count]} 2026 "
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d} "
            f"{rng.choice(ZONES)}"
        )
        head = (
            f"From: {_address(rng)}\r\nTo: {_address(rng)}\r\nSubject: {subject}\r\n"
            f"Message-ID: {mid}\r\n" + ("" if rng.random() < 0.03 else f"Date: {date}\r\n") + head
        )
        body = "Some text of the conversation, quoted and not.\r\n" * rng.randint(3, 40)
        messages.append((head + "\r\n" + body).encode())
    return messages


def fill_dovecot(user: str, messages: list[bytes]) -> None:
    vmail = pwd.getpwnam("vmail")
    home = ANCHOR_MB / "example.test" / user
    maildir = home / "Maildir"
    for _ in range(10):  # Dovecot may still be writing its index files there
        shutil.rmtree(maildir, ignore_errors=True)
        if not maildir.exists():
            break
        time.sleep(0.5)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i, raw in enumerate(messages):
        # the file name's time is the internal date: one second apart, in delivery order
        (maildir / "cur" / f"{1764072000 + i}.M{i}P1.sortbench,S={len(raw)}:2,S").write_bytes(raw)
    for root, _dirs, files in os.walk(home):
        for entry in [root, *(os.path.join(root, f) for f in files)]:
            os.chown(entry, vmail.pw_uid, vmail.pw_gid)


async def measure(
    port: int, user: str, password: str, context: ssl.SSLContext, rounds: int
) -> dict[str, list[float]]:
    client = await Client.open(port, context)
    await client.command(b'LOGIN %s "%s"' % (user.encode(), password.encode()))
    await client.command(b"SELECT INBOX")
    times: dict[str, list[float]] = {}
    for name, line in COMMANDS:
        for _ in range(rounds):
            start = time.perf_counter()
            out = await client.command(line)
            times.setdefault(name, []).append(time.perf_counter() - start)
            assert out.startswith((b"* SORT", b"* THREAD")), out[:80]
    await client.command(b"LOGOUT")
    await client.close()
    return times


async def index_offline(server: MailServer, address: str) -> None:
    """Let the full-text indexer finish before the server starts, so the timings are of a
    settled mailbox, not of SORT sharing the CPU with indexing 10,000 new messages."""
    store = DiskStore(store_root(load_config(server.config)))
    try:
        await store.wait_indexed(server.user_id(address))
    finally:
        await store.close()


def show(label: str, times: dict[str, list[float]]) -> dict[str, float]:
    medians = {}
    for name, values in times.items():
        medians[name] = statistics.median(values[1:]) if len(values) > 1 else values[0]
        print(
            f"{label:9} {name:22} first {values[0] * 1000:8.1f} ms   "
            f"median {medians[name] * 1000:8.1f} ms"
        )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--user", default="user7", help="the anchor user whose INBOX is used")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"machine: {os.cpu_count()} cores, load {' '.join(load)}; {args.messages} messages")
    messages = make_mailbox(args.messages)
    subprocess.run(["bash", str(ANCHOR / "up.sh")], check=True, stdout=subprocess.DEVNULL)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    fill_dovecot(args.user, messages)
    anchor_user = f"{args.user}@example.test"
    dovecot = show("dovecot", asyncio.run(measure(10993, anchor_user, "pw", insecure, args.rounds)))

    root = Path(tempfile.mkdtemp(prefix="mailkeep-bench-sort-"))
    server: MailServer = make_server(root)
    try:
        server.add_user("sorter@example.test")
        server.deliver_offline("sorter@example.test", messages)
        asyncio.run(index_offline(server, "sorter@example.test"))
        server.start()
        context = ssl.create_default_context(cafile=str(server.ca_file))
        times = asyncio.run(
            measure(server.ports["imaps"], "sorter@example.test", PASSWORD, context, args.rounds)
        )
        mine = show("mailkeep", times)
    finally:
        server.stop()
        shutil.rmtree(root)
    for name, value in mine.items():
        print(f"ratio {name:22} {dovecot[name] / value:6.2f} (speed, mailkeep / dovecot)")
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load after: {' '.join(load)}")


if __name__ == "__main__":
    main()
