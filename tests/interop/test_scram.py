"""SCRAM-SHA-256 (RFC 5802, RFC 7677) with independent client implementations: msmtp and
mpop (GNU SASL) for SMTP submission and POP3, mbsync (Cyrus SASL) for IMAP. None of them
shares code with our server, so a pass means both sides read the RFC the same way.

Each client is told to use SCRAM-SHA-256 and nothing else; the server's log names the
mechanism of each login, which the tests check so a silent fallback to PLAIN cannot pass.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from tests.interop.test_imap_clients import canonical
from tests.mailserver import PASSWORD, MailServer, make_server, mbsync_config
from tests.net.test_smtp_server import mailbox, strip_trace
from tests.tools import require_tool

USERS = ("smtp", "pop", "imap", "other")
SETTINGS = '[smtp]\ngreet_pause_seconds = 0\n[dns]\nnameservers = ["127.0.0.1:9"]\n'


def addr(name: str) -> str:
    return f"{name}@example.test"


def message(tag: str) -> bytes:
    return (
        f"From: {addr('smtp')}\r\nTo: {addr('other')}\r\nSubject: scram {tag}\r\n"
        f"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{tag}@example.test>\r\n\r\n"
        "Sent after a SCRAM-SHA-256 login.\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("scram"), SETTINGS)
    with Directory(srv.data_dir / DATABASE_NAME) as directory:
        for name in USERS:
            directory.add_user(addr(name), PASSWORD)
    srv.deliver_offline(addr("pop"), [message("pop")])
    srv.deliver_offline(addr("imap"), [message("imap")])
    srv.start()
    yield srv
    srv.stop()


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload,no-any-return]


def logged(server: MailServer, pattern: str) -> str:
    assert server.served is not None
    return server.served.wait_for(pattern, timeout=10)


def msmtp(server: MailServer, user: str, password: str, *recipients: str) -> list[str]:
    return [
        require_tool("msmtp"),
        "--host=localhost",
        f"--port={server.ports['submission']}",
        "--tls=on",
        "--tls-starttls=on",
        f"--tls-trust-file={server.ca_file}",
        "--auth=scram-sha-256",
        f"--user={user}",
        f"--passwordeval=echo '{password}'",
        f"--from={user}",
        *recipients,
    ]


def test_msmtp_submits_after_a_scram_login(server: MailServer) -> None:
    raw = message("msmtp")
    sent = run(msmtp(server, addr("smtp"), PASSWORD, addr("other")), input=raw.decode())
    assert sent.returncode == 0, sent.stdout + sent.stderr
    logged(server, r"login verified.*protocol=smtp.*login=smtp@example.test")
    logged(server, r"smtp login.*mechanism=SCRAM-SHA-256")
    assert any(strip_trace(m) == raw for m in mailbox(server, addr("other")))


def test_msmtp_with_a_wrong_password_is_refused(server: MailServer) -> None:
    sent = run(msmtp(server, addr("smtp"), "wrong password", addr("other")), input="x\n")
    assert sent.returncode != 0
    assert "535" in sent.stdout + sent.stderr


def mpop(server: MailServer, tmp_path: Path, password: str) -> tuple[list[str], Path]:
    maildir = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    return [
        require_tool("mpop"),
        "--host=localhost",
        f"--port={server.ports['pop3']}",
        "--tls=on",
        "--tls-starttls=on",
        f"--tls-trust-file={server.ca_file}",
        "--auth=scram-sha-256",
        f"--user={addr('pop')}",
        f"--passwordeval=echo '{password}'",
        f"--delivery=maildir,{maildir}",
        f"--uidls-file={tmp_path / 'uidls'}",
        "--keep=on",
    ], maildir


def test_mpop_retrieves_after_a_scram_login(server: MailServer, tmp_path: Path) -> None:
    args, maildir = mpop(server, tmp_path, PASSWORD)
    fetched = run(args)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    logged(server, r"login verified.*protocol=pop3.*login=pop@example.test")
    [got] = [p.read_bytes() for p in (maildir / "new").iterdir()]
    assert got.endswith(message("pop").replace(b"\r\n", b"\n"))


def test_mpop_with_a_wrong_password_is_refused(server: MailServer, tmp_path: Path) -> None:
    args, maildir = mpop(server, tmp_path, "wrong password")
    fetched = run(args)
    assert fetched.returncode != 0
    assert "authentication failed" in fetched.stdout + fetched.stderr
    assert list((maildir / "new").iterdir()) == []


def test_mbsync_syncs_after_a_scram_login(server: MailServer, tmp_path: Path) -> None:
    mbsync = require_tool("mbsync")
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        mbsync_config(
            server,
            local,
            addr("imap"),
            "Far :remote:INBOX\nNear :local:INBOX\nCreate Near\nSyncState *\nSync Pull\n",
            account="AuthMechs SCRAM-SHA-256\n",
        )
    )
    synced = run([mbsync, "-c", str(rc), "-a"])
    assert synced.returncode == 0, synced.stdout + synced.stderr
    logged(server, r"login verified.*protocol=imap.*login=imap@example.test")
    files = [p for sub in ("cur", "new") for p in (local / "INBOX" / sub).iterdir()]
    [got] = [p.read_bytes() for p in files]
    assert canonical(got) == canonical(message("imap"))
