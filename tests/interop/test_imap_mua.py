"""IMAP with the mail programs people script and read mail with (Debian): imapfilter (Lua
filters: search, move, flag, delete, expunge) and neomutt (a session driven through a pty
under ``script``: send by submission with the Fcc copy APPENDed to Sent, read, flag, save
to another mailbox, expunge). Batch-mode neomutt skips an Fcc to IMAP ("not supported in
batch mode"), so sending happens inside the session too. What each did is checked afterwards with
another client against the server."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.mailserver import PASSWORD, MailServer, client_message, serve_client_users
from tests.net.imap.conftest import tls_context
from tests.tools import require_tool

USERS = ("imapfilter", "neomutt", "reader")
message = client_message


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = serve_client_users(tmp_path_factory.mktemp("imap-mua"), USERS, message, count=4)
    yield srv
    srv.stop()


def mailbox_state(server: MailServer, user: str) -> dict[str, dict[str, tuple[bytes, ...]]]:
    """Every mailbox of ``user``: subject -> flags, read with imapclient."""
    with IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    ) as client:
        client.login(f"{user}@example.test", PASSWORD)
        state: dict[str, dict[str, tuple[bytes, ...]]] = {}
        for _, _, name in client.list_folders():
            client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
            state[name] = {
                data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip(): tuple(
                    sorted(f for f in data[b"FLAGS"] if f != b"\\Recent")
                )
                for data in fetched.values()
            }
        return state


def test_imapfilter_search_move_flag_expunge(server: MailServer, tmp_path: Path) -> None:
    imapfilter = require_tool("imapfilter")
    openssl = require_tool("openssl")
    unshare = require_tool("unshare")
    # imapfilter has no CA option: it trusts /etc/ssl/certs, so a private mount namespace
    # shows it a directory holding only the server's certificate.
    cadir = tmp_path / "certs"
    cadir.mkdir()
    shutil.copy(server.ca_file, cadir / "mailkeep.pem")
    subprocess.run([openssl, "rehash", str(cadir)], check=True, timeout=30)
    config = tmp_path / "filter.lua"
    config.write_text(
        "options.timeout = 30\noptions.create = true\noptions.expunge = true\n"
        "options.certificates = false\n"
        "account = IMAP {\n"
        f"  server = 'localhost', port = {server.ports['imaps']},\n"
        f"  username = 'imapfilter@example.test', password = '{PASSWORD}', ssl = 'auto',\n"
        "}\n"
        "inbox = account.INBOX\n"
        # search on a header, move (MOVE, creating the mailbox after TRYCREATE)
        "inbox:contain_subject('imapfilter 1'):move_messages(account['Filed'])\n"
        # search on a body word, flag
        "inbox:contain_body('Hello 0'):mark_flagged()\n"
        # delete and expunge
        "inbox:contain_subject('imapfilter 2'):delete_messages()\n"
        "moved = account['Filed']:select_all()\n"
        "print('filed ' .. #moved)\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    script = f"mount --bind {cadir} /etc/ssl/certs && exec {imapfilter} -c {config}"
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=90, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "filed 1" in done.stdout
    state = mailbox_state(server, "imapfilter")
    assert state["INBOX"] == {
        "Subject: imapfilter 0": (b"\\Flagged",),
        "Subject: imapfilter 3": (),
    }
    assert state["Filed"] == {"Subject: imapfilter 1": ()}


def test_neomutt_session_read_flag_save_expunge_and_fcc(server: MailServer, tmp_path: Path) -> None:
    neomutt = require_tool("neomutt")
    script = require_tool("script")
    imaps = f"imaps://localhost:{server.ports['imaps']}/"
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(
        f'set folder="{imaps}"\nset spoolfile="+INBOX"\nset record="+Sent"\n'
        f'set imap_user="neomutt@example.test"\nset imap_pass="{PASSWORD}"\n'
        f'set smtp_url="smtp://localhost:{server.ports["submission"]}/"\n'
        f'set smtp_user="neomutt@example.test"\nset smtp_pass="{PASSWORD}"\n'
        'set from="neomutt@example.test"\nset ssl_starttls=yes\nset ssl_force_tls=yes\n'
        f'set ssl_ca_certificates_file="{server.ca_file}"\n'
        "set confirmcreate=no\nset confirmappend=no\nset delete=yes\nset move=no\n"
        "set quit=yes\nset wait_key=no\nset mark_old=no\nset copy=yes\n"
        'set header_cache=""\nset message_cachedir=""\nset imap_passive=no\n'
        "set editor=\"printf 'a body\\\\n' >>\"\nset abort_unmodified=no\nset askcc=no\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm"}
    # One interactive session through a pty: compose and send a message (submission with
    # STARTTLS and AUTH; the editor is a command that writes the body; the Fcc copy is
    # APPENDed to Sent), read message 3 (sets \\Seen), flag message 1, save message 2 to
    # another mailbox (copy, then delete), expunge on quit.
    keys = (
        'push "'
        "<mail>reader@example.test<enter>neomutt sent<enter><send-message>"
        "<search>~s 'neomutt 3'<enter><display-message><exit>"
        "<search>~s 'neomutt 1'<enter><flag-message>"
        "<search>~s 'neomutt 2'<enter><save-message>=Saved<enter>"
        '<sync-mailbox><quit>"'
    )
    command = shlex.join([neomutt, "-n", "-F", str(muttrc), "-f", imaps + "INBOX", "-e", keys])
    session = subprocess.run(
        [script, "-qec", command, "/dev/null"],
        capture_output=True,
        timeout=90,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert session.returncode == 0, session.stdout[-2000:]
    state = mailbox_state(server, "neomutt")
    assert state["INBOX"] == {
        "Subject: neomutt 0": (),
        "Subject: neomutt 1": (b"\\Flagged",),
        "Subject: neomutt 3": (b"\\Seen",),
    }
    assert list(state["Saved"]) == ["Subject: neomutt 2"]
    assert list(state["Sent"]) == ["Subject: neomutt sent"]
    assert b"\\Seen" in state["Sent"]["Subject: neomutt sent"]
    assert "Subject: neomutt sent" in mailbox_state(server, "reader")["INBOX"]
