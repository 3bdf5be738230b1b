"""COMPRESS=DEFLATE (RFC 4978) with real third-party clients: mbsync (isync) turns it on
by itself when the server offers it; offlineimap3 with ``usecompression = yes``. Each
proves it compressed from its own protocol trace, and the mail must arrive intact."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailserver import MailServer, make_server, mbsync_config, offlineimap_config
from tests.tools import require_tool


def message(tag: str, i: int) -> bytes:
    body = b"".join(b"line %d of a longer body that compresses well\r\n" % n for n in range(300))
    return (
        b"From: sender@example.org\r\nTo: %s@example.test\r\nSubject: %s %d\r\n"
        b"Message-ID: <%s.z%d@example.org>\r\n\r\n"
        % (tag.encode(), tag.encode(), i, tag.encode(), i)
    ) + body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("imap-compress"))
    for name in ("mbsync", "offlineimap"):
        srv.add_user(f"{name}@example.test")
        srv.deliver_offline(f"{name}@example.test", [message(name, i) for i in range(5)])
    srv.start()
    yield srv
    srv.stop()


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=90, check=False)


def local_bodies(folder: Path) -> list[bytes]:
    found = [p.read_bytes() for sub in ("cur", "new") for p in (folder / sub).iterdir()]
    lines = (raw.replace(b"\r\n", b"\n").split(b"\n") for raw in found)
    return sorted(b"\n".join(x for x in ls if not x.startswith(b"X-TUID: ")) for ls in lines)


def expected(tag: str) -> list[bytes]:
    return sorted(message(tag, i).replace(b"\r\n", b"\n") for i in range(5))


def test_mbsync_compresses(server: MailServer, tmp_path: Path) -> None:
    mbsync = require_tool("mbsync")
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        mbsync_config(
            server,
            local,
            "mbsync@example.test",
            "Far :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSyncState *\nSync Pull\n",
        )
    )
    result = run([mbsync, "-D", "-c", str(rc), "-a"])
    assert result.returncode == 0, result.stdout + result.stderr
    trace = result.stdout + result.stderr
    assert "COMPRESS DEFLATE" in trace  # mbsync sent the command and went on compressed
    assert local_bodies(local / "INBOX") == expected("mbsync")


def test_offlineimap_compresses(server: MailServer, tmp_path: Path) -> None:
    offlineimap = require_tool("offlineimap")
    local = tmp_path / "mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(
        offlineimap_config(
            server,
            tmp_path / "meta",
            local,
            "offlineimap@example.test",
            "usecompression = yes\nfolderfilter = lambda f: f == 'INBOX'\n",
        )
    )
    result = run([offlineimap, "-c", str(rc), "-o", "-u", "basic", "-d", "imap"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Enabled COMPRESS=DEFLATE" in result.stdout + result.stderr
    assert local_bodies(local / "INBOX") == expected("offlineimap")
