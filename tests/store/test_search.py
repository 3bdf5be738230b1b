"""Search on the disk store's index against the naive scan of the memory store.

A generated corpus (non-ASCII text, odd case, broken MIME, random flags, keywords, dates,
sizes) goes into both backends with the same clock; random criteria trees (every key, with
NOT/OR/AND nesting) must give the same UIDs, with every text still waiting for the
full-text index and again once all are indexed. Then the evaluator's own meaning is pinned
by explicit cases.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from mailkeep.store import query as q
from mailkeep.store.disk import DiskStore
from mailkeep.store.memory import MemoryStore
from mailkeep.store.models import INBOX, Flag, FlagOp, NewMessage, Quota, StoreLimits, UidSet
from tests.store.conftest import Clock

WORDS = [
    "Hello", "world", "café", "CRÈME", "straße", "STRASSE", "Ωμέγα", "ΟΔΟΣ", "日本語",
    "テスト", "naïve", "zebra", "Zebrafish", "report", "REPORT", "q3", "x", "ab", "İstanbul",
    "déjà-vu", "100%", "a*b", "[tag]", "under_score", "emoji😀",
]  # fmt: skip
KEYWORDS = ["$Forwarded", "Work", "$Junk", "todo"]
HEADERS = ["X-Tag", "X-Mailer", "List-Id"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_corpus(rng: random.Random, count: int) -> list[NewMessage]:
    out = []
    for i in range(count):
        subject = _text(rng, 3)
        body = _text(rng, rng.randint(0, 30))
        headers = [
            f"Subject: {subject}",
            f"From: {rng.choice(WORDS)} <user{i % 7}@example.org>",
            f"To: {rng.choice(['bob@example.net', 'Ωμέγα <o@example.gr>'])}",
        ]
        if rng.random() < 0.5:
            headers.append(f"Cc: carol{i % 3}@example.com")
        if rng.random() < 0.4:
            headers.append(f"{rng.choice(HEADERS)}: {_text(rng, 2)}")
        if rng.random() < 0.7:
            day = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 20))
            headers.append(day.strftime("Date: %a, %d %b %Y %H:%M:%S +0000"))
        kind = rng.random()
        if kind < 0.5:
            headers.append("Content-Type: text/plain; charset=utf-8")
            raw = ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()
        elif kind < 0.65:
            enc = body.encode("utf-8")
            import base64

            headers += [
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: base64",
            ]
            raw = ("\r\n".join(headers) + "\r\n\r\n").encode() + base64.encodebytes(enc)
        elif kind < 0.8:
            headers.append('Content-Type: multipart/alternative; boundary="zz"')
            raw = (
                "\r\n".join(headers)
                + "\r\n\r\n--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                + body
                + "\r\n--zz\r\nContent-Type: text/html\r\n\r\n<p>html only</p>\r\n"
                + ("--zz--\r\n" if rng.random() < 0.5 else "")  # sometimes never closed
            ).encode()
        elif kind < 0.9:
            headers.append("Content-Type: text/plain; charset=latin-1")
            raw = ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("latin-1", "replace")
        else:
            raw = b"\xff\xfe junk \x80\r\n" + ("\r\n".join(headers)).encode() + b"\r\n\r\n\xc3"
        flags = Flag(rng.randint(0, 31))
        keywords = frozenset(rng.sample(KEYWORDS, rng.randint(0, 2)))
        zone = timezone(timedelta(hours=rng.randint(-12, 12)))
        when = datetime(2024, 1, 1, tzinfo=zone) + timedelta(hours=rng.randint(0, 24 * 20))
        out.append(NewMessage(raw, flags, keywords, when))
    return out


def random_criterion(rng: random.Random, depth: int = 0) -> q.Criterion:
    choice = rng.randint(0, 16 if depth < 3 else 12)
    term = rng.choice(WORDS)
    if rng.random() < 0.5:
        start = rng.randint(0, max(0, len(term) - 1))
        term = term[start : start + rng.randint(1, 5)]
    if rng.random() < 0.3:
        term = term.upper() if rng.random() < 0.5 else term.lower()
    day = date(2024, 1, 1) + timedelta(days=rng.randint(-1, 21))
    match choice:
        case 0:
            return q.All()
        case 1:
            return q.HasFlag(rng.choice(list(Flag)[1:]))
        case 2:
            return q.HasKeyword(rng.choice([*KEYWORDS, "absent"]).swapcase())
        case 3:
            return q.DateIs(
                rng.choice(list(q.DateField)), rng.choice(["before", "on", "since"]), day
            )
        case 4:
            return q.SizeIs(rng.choice(["<", ">"]), rng.randint(50, 400))
        case 5:
            return q.Header(rng.choice(["subject", "from", "to", "cc", "bcc"]), term)
        case 6:
            return q.Header(rng.choice([*HEADERS, "Subject", "X-Absent"]), rng.choice([term, ""]))
        case 7:
            return q.Body(term)
        case 8:
            return q.Text(term)
        case 9:
            return q.Uids(UidSet.of(rng.sample(range(1, 130), rng.randint(0, 80))))
        case 10:
            return q.ModSeqAtLeast(rng.randint(1, 200))
        case 11:
            return q.Age(rng.choice(["older", "younger"]), rng.randint(0, 3600 * 24 * 400))
        case 12:
            return q.Body("")
        case 13 | 14:
            return q.Not(random_criterion(rng, depth + 1))
        case 15:
            return q.Or(random_criterion(rng, depth + 1), random_criterion(rng, depth + 1))
        case _:
            items = tuple(random_criterion(rng, depth + 1) for _ in range(rng.randint(0, 3)))
            return q.And(items)


def test_index_search_equals_naive_scan(tmp_path: Path) -> None:
    rng = random.Random(20260301)
    corpus = make_corpus(rng, 120)
    criteria = [random_criterion(rng) for _ in range(400)]
    clock = Clock()
    clock.now = datetime(2025, 1, 1, tzinfo=UTC)

    async def body() -> None:
        # Nothing indexed at first (index_batch=0): the queue path is checked, then the index.
        disk = DiskStore(tmp_path, clock=clock, limits=StoreLimits(index_batch=0))
        memory = MemoryStore(clock=clock)
        try:
            ids = []
            for store in (disk, memory):
                for start in range(0, len(corpus), 20):
                    await store.append(1, INBOX, corpus[start : start + 20], Quota())
                inbox = (await store.status(1, INBOX)).id
                await store.store_flags(1, inbox, UidSet.span(1, 40), FlagOp.ADD, Flag.SEEN)
                ids.append(inbox)
            for phase in ("not indexed", "fully indexed"):
                mismatches = []
                for c in criteria:
                    got = await disk.search(1, ids[0], c)
                    want = await memory.search(1, ids[1], c)
                    if got != want:
                        mismatches.append((c, got, want))
                assert not mismatches, (phase, mismatches[:3])
                disk.limits = StoreLimits()
                await disk.wait_indexed(1)
        finally:
            await disk.close()
            await memory.close()

    asyncio.run(body())
    assert len({type(c) for c in criteria}) >= 12


def _candidate(**kw: object) -> q.Candidate:
    base: dict[str, object] = {
        "uid": 5,
        "modseq": 9,
        "flags": Flag.SEEN,
        "keywords": frozenset({"$Work"}),
        "size": 100,
        "internal_date": datetime(2024, 1, 10, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        "save_date": datetime(2024, 1, 11, 1, 0, tzinfo=UTC),
        "sent_date": None,
        "headers": {
            "subject": q.fold("Straße Report"),
            "from": "",
            "to": "",
            "cc": "",
            "bcc": "",
        }.__getitem__,
        "header_text": lambda: q.fold("subject: Straße Report\nx-tag: Blue Sky"),
        "body_text": lambda: q.fold("Καλημέρα κόσμε, hello WORLD"),
    }
    base.update(kw)
    return q.Candidate(**base)  # type: ignore[arg-type]


def test_evaluator_meaning() -> None:
    now = datetime(2024, 1, 11, 4, 30, tzinfo=UTC)
    c = _candidate()

    def ev(x: q.Criterion) -> bool:
        return q.evaluate(x, c, now)

    assert ev(q.Body("ΚΑΛΗΜ")) and ev(q.Body("lo wor")) and not ev(q.Body("report"))
    assert ev(q.Header("Subject", "STRASSE")) and ev(q.Header("subject", "aße rep"))
    assert (
        ev(q.Header("X-TAG", "sky")) and ev(q.Header("x-tag", "")) and not ev(q.Header("x-no", ""))
    )
    assert not ev(q.Header("x-tag", "report"))  # the value must be in that field
    assert ev(q.Text("report")) and ev(q.Text("κόσμε"))
    assert ev(q.HasKeyword("$WORK")) and not ev(q.HasKeyword("work"))
    # The internal date's own zone decides the day (Jan 10 at -05:00, Jan 11 in UTC).
    assert ev(q.DateIs(q.DateField.INTERNAL, "on", date(2024, 1, 10)))
    assert ev(q.DateIs(q.DateField.SAVED, "on", date(2024, 1, 11)))
    assert not ev(q.DateIs(q.DateField.SENT, "since", date(2000, 1, 1)))  # no Date: header
    assert ev(q.Age("younger", 3600)) and not ev(q.Age("older", 3601))
    assert ev(q.Or(q.HasFlag(Flag.DELETED), q.Not(q.SizeIs(">", 100))))
    assert ev(q.And(())) and ev(q.ModSeqAtLeast(9)) and not ev(q.ModSeqAtLeast(10))
