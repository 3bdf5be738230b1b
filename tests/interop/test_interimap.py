"""interimap (Debian's package) as a real QRESYNC peer: two-way sync between two accounts
on mailkeep, and between mailkeep and Debian's Dovecot.

interimap refuses servers without QRESYNC, LIST-EXTENDED, LIST-STATUS and UIDPLUS; it
SELECTs with (QRESYNC (uidvalidity modseq known-uids (seqs uids))), propagates flags with
UID STORE (UNCHANGEDSINCE n), expunges with UID EXPUNGE and reads HIGHESTMODSEQ through
LIST ... RETURN (STATUS (... HIGHESTMODSEQ)). Each run must exit 0, and afterwards both
sides must hold the same messages with the same flags.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.imap.conftest import tls_context
from tests.tools import require_tool

LEFT = "left@example.test"
RIGHT = "right@example.test"
DOVE = "dove@example.test"
DOVECOT_IMAP = "/usr/lib/dovecot/imap"


def message(i: int) -> bytes:
    return (
        f"From: sender{i}@example.org\r\nTo: someone@example.test\r\nSubject: sync {i}\r\n"
        f"Message-ID: <sync{i}@example.org>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"body of message {i}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("interimap"))
    for user in (LEFT, RIGHT, DOVE):
        srv.add_user(user)
    srv.deliver_offline(LEFT, [message(i) for i in range(1, 6)])
    srv.start()
    yield srv
    srv.stop()


def login(server: MailServer, user: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL(
        "localhost", server.ports["imaps"], ssl_context=tls_context(server), timeout=30
    )
    client.login(user, PASSWORD)
    return client


def contents(client: imaplib.IMAP4) -> dict[str, dict[str, frozenset[str]]]:
    """mailbox → subject → flags (without \\Recent), over every mailbox."""
    out: dict[str, dict[str, frozenset[str]]] = {}
    _, listing = client.list()
    for raw in listing:
        assert isinstance(raw, bytes)
        name = raw.rsplit(b' "/" ', 1)[1].decode().strip('"')
        typ, exists = client.select(f'"{name}"', readonly=True)
        assert typ == "OK", name
        box: dict[str, frozenset[str]] = {}
        out[name] = box
        if exists[0] == b"0":
            continue  # "1:*" names nothing; Dovecot answers BAD to it
        _, data = client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = imaplib.ParseFlags(item[0])
            subject = item[1].decode().strip().removeprefix("Subject: ")
            box[subject] = frozenset(f.decode() for f in flags) - {"\\Recent"}
    return out


def side(server: MailServer, user: str) -> str:
    return (
        f"type = imaps\nhost = localhost\nport = {server.ports['imaps']}\n"
        f"username = {user}\npassword = {PASSWORD}\n"
        f"SSL_CAfile = {server.ca_file}\nSSL_hostname = localhost\n"
    )


def interimap(config: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("interimap")
    done = subprocess.run(
        [tool, f"--config={config}"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def test_two_accounts_on_mailkeep(server: MailServer, tmp_path: Path) -> None:
    config = tmp_path / "interimap.conf"
    config.write_text(
        f"database = {tmp_path / 'sync.db'}\n\n[local]\n{side(server, LEFT)}\n"
        f"[remote]\n{side(server, RIGHT)}"
    )
    left, right = login(server, LEFT), login(server, RIGHT)
    try:
        left.create("Projects")
        left.append("Projects", "(\\Flagged)", None, message(10))
        interimap(config)
        assert contents(left) == contents(right)
        assert set(contents(right)["INBOX"]) == {f"sync {i}" for i in range(1, 6)}

        # changes on both sides, then one run: flags, expunges and arrivals both ways
        left.select("INBOX")
        left.store("1", "+FLAGS", "(\\Seen)")
        left.store("2", "+FLAGS", "(\\Deleted)")
        left.expunge()
        right.select("INBOX")
        right.store("3", "+FLAGS", "($Important)")
        right.append("INBOX", "(\\Answered)", None, message(20))
        right.select("Projects")
        right.store("1", "-FLAGS", "(\\Flagged)")
        interimap(config)
        after = contents(left)
        assert after == contents(right)
        assert after["INBOX"]["sync 1"] == {"\\Seen"}
        assert "sync 2" not in after["INBOX"]
        assert after["INBOX"]["sync 3"] == {"$Important"}
        assert after["INBOX"]["sync 20"] == {"\\Answered"}
        assert after["Projects"]["sync 10"] == frozenset()

        interimap(config)  # nothing changed: nothing to do, nothing duplicated
        assert contents(left) == after == contents(right)
    finally:
        left.logout()
        right.logout()


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Path]:
    """A private Dovecot store (its imap binary, pre-authenticated, spoken to through a
    pipe): its mail belongs to "nobody", as Dovecot will not keep mail as root."""
    if not os.path.exists(DOVECOT_IMAP):
        require_tool("dovecot-imap-is-missing")  # skips, or fails in CI
    home = Path(tempfile.mkdtemp(prefix="mailkeep-dovecot-"))
    try:
        home.chmod(0o755)
        mail = home / "Mail"
        mail.mkdir()
        nobody = pwd.getpwnam("nobody")
        os.chown(mail, nobody.pw_uid, nobody.pw_gid)
        (home / "dovecot.conf").write_text(
            f"ssl = no\nmail_location = maildir:{mail}\nnamespace {{\n  inbox = yes\n"
            "  separator = /\n}\nmail_uid = nobody\nmail_gid = nogroup\n"
            f"first_valid_uid = 100\nlog_path = /dev/null\nbase_dir = {home}/run\n"
            f"state_dir = {home}/state\n"
        )
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def dovecot_session(home: Path) -> Iterator[imaplib.IMAP4]:
    """imaplib over a pipe to Dovecot's imap binary (pre-authenticated)."""
    proc = subprocess.Popen(
        [DOVECOT_IMAP, "-c", str(home / "dovecot.conf")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "USER": "root"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    reader, writer = proc.stdout, proc.stdin

    class Piped(imaplib.IMAP4):
        def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
            pass

        def read(self, size: int) -> bytes:
            return reader.read(size)

        def readline(self) -> bytes:
            return reader.readline()

        def send(self, data: bytes) -> None:
            writer.write(data)
            writer.flush()

        def shutdown(self) -> None:
            writer.close()
            proc.wait(timeout=30)
            reader.close()

    client = Piped()
    try:
        yield client
    finally:
        client.logout()


def test_mailkeep_and_dovecot(server: MailServer, dovecot: Path, tmp_path: Path) -> None:
    config = tmp_path / "interimap.conf"
    # Dovecot's imap refuses a socket on its standard input (it expects imap-login then):
    # interimap's tunnel is a socket pair, so pipes go in between.
    imap = f"env USER=root HOME={dovecot} {DOVECOT_IMAP} -c {dovecot / 'dovecot.conf'}"
    command = f"cat | {imap} | cat"
    config.write_text(
        f"database = {tmp_path / 'sync.db'}\n\n[local]\ntype = tunnel\ncommand = {command}\n"
        f"null-stderr = YES\n\n[remote]\n{side(server, DOVE)}"
    )
    ours = login(server, DOVE)
    try:
        ours.create("Lists")
        for i in range(30, 34):
            ours.append("INBOX", "(\\Seen)" if i % 2 else None, None, message(i))
        ours.append("Lists", None, None, message(40))
        interimap(config)
        synced = contents(ours)
        with dovecot_session(dovecot) as theirs:
            assert contents(theirs) == synced
        assert set(synced["INBOX"]) == {f"sync {i}" for i in range(30, 34)}

        # both directions: mailkeep flags and expunges, Dovecot flags and receives
        ours.select("INBOX")
        ours.store("1", "+FLAGS", "(\\Flagged)")
        ours.store("2", "+FLAGS", "(\\Deleted)")
        ours.expunge()
        with dovecot_session(dovecot) as theirs:
            theirs.select("INBOX")
            theirs.store("4", "+FLAGS", "($Dovecot)")
            theirs.append("Lists", "(\\Draft)", None, message(41))
        interimap(config)
        after = contents(ours)
        with dovecot_session(dovecot) as theirs:
            assert contents(theirs) == after
        assert "sync 31" not in after["INBOX"] and "\\Flagged" in after["INBOX"]["sync 30"]
        assert "$Dovecot" in after["INBOX"]["sync 33"]
        assert after["Lists"]["sync 41"] == {"\\Draft"}
    finally:
        ours.logout()
