"""Third-party and hostile messages: delivered, served back byte for byte, parsed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mailkeep.mail.mime import MessageInfo
from mailkeep.store import query as q
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import INBOX, NewMessage, Quota, UidSet
from tests.store.conftest import Clock

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def corpus_messages() -> list[tuple[str, bytes]]:
    if not CORPUS.is_dir():
        if os.environ.get("MAILKEEP_REQUIRE_TOOLS") == "1":
            pytest.fail(f"the shared corpus is missing at {CORPUS}")
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    found: list[tuple[str, bytes]] = []
    mime = CORPUS / "mime"
    for path in sorted(mime.rglob("*.eml")) + sorted(mime.rglob("msg_*.txt")):
        found.append((str(path.relative_to(CORPUS)), path.read_bytes()))
    for path in sorted((CORPUS / "load" / "spamassassin-sample").glob("*/*.eml")):
        data = path.read_bytes()
        if data.startswith(b"From "):
            data = data.split(b"\n", 1)[1]  # the mbox separator line is not part of it
        found.append((str(path.relative_to(CORPUS)), data))
    return found


def hostile_messages() -> list[tuple[str, bytes]]:
    deep = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(3000)
    )
    return [
        ("empty", b""),
        ("no header end", b"Subject: never ends"),
        ("only body", b"\r\n\r\njust text"),
        ("bare CR", b"Subject: x\rFrom: y\r\rbody\r"),
        (
            "8-bit junk header",
            b"Subject: \xff\xfe\x80 caf\xe9\r\nFrom: \x00\x01@\xff\r\n\r\nhi\r\n",
        ),
        ("bad base64", b"Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64===\r\n"),
        ("unknown charset", b"Content-Type: text/plain; charset=x-nope\r\n\r\n\xe9t\xe9\r\n"),
        ("bad encoded word", b"Subject: =?utf-8?B?####?= =?bogus?Q?x?=\r\n\r\n."),
        (
            "broken boundary",
            b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\nx\r\n--b--',
        ),
        ("nesting 3000 deep", deep),
        ("8 MB single line", b"Subject: big\r\n\r\n" + b"y" * (8 << 20)),
    ]


def test_every_message_stored_and_served_back(tmp_path: Path) -> None:
    items = corpus_messages() + hostile_messages()
    assert len(items) > 350

    async def body() -> None:
        store = DiskStore(tmp_path, clock=Clock())
        try:
            for start in range(0, len(items), 50):
                chunk = items[start : start + 50]
                await store.append(1, INBOX, [NewMessage(raw) for _, raw in chunk], Quota())
            inbox = (await store.status(1, INBOX)).id
            metas = await store.fetch(
                1, inbox, UidSet.span(1, len(items)), with_info=True, with_envelope=True
            )
            assert len(metas) == len(items)
            for (name, raw), meta in zip(items, metas, strict=True):
                assert meta.size == len(raw), name
                assert await store.read_message(1, inbox, meta.uid) == raw, name
                assert meta.info is not None
                info = MessageInfo.from_bytes(meta.info)
                assert info.size == len(raw), name
                assert meta.envelope == info.envelope, name
            await store.wait_indexed(1)
            assert await store.search(1, inbox, q.Text("yyyyyyyy")) == [len(items)]
            assert (await store.verify(1)).problems == ()
        finally:
            await store.close()

    asyncio.run(body())
