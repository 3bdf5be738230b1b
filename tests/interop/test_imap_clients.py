"""IMAP with real third-party clients: imapclient and aioimaplib (PyPI); curl, fetchmail,
getmail6, mbsync (isync) and offlineimap3 (Debian). Each client has its own user so the
tests are independent; bytes read back must equal bytes delivered or appended."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aioimaplib
import pytest
from imapclient import IMAPClient

from tests.mailserver import (
    PASSWORD,
    MailServer,
    client_message,
    mbsync_config,
    offlineimap_config,
    serve_client_users,
)
from tests.net.imap.conftest import tls_context
from tests.tools import require_tool

USERS = ("imapclient", "aio", "curl", "fetchmail", "getmail", "mbsync", "offlineimap")


message = client_message


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = serve_client_users(tmp_path_factory.mktemp("imap-interop"), USERS, message)
    yield srv
    srv.stop()


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=90, **kw)  # type: ignore[call-overload,no-any-return]


def test_imapclient_session(server: MailServer) -> None:
    with IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    ) as client:
        client.login("imapclient@example.test", PASSWORD)
        assert b"IMAP4REV2" in client.capabilities()
        folders = {f[2] for f in client.list_folders()}
        assert {"INBOX", "Sent", "Trash"} <= folders
        assert client.find_special_folder(b"\\Sent") == "Sent"
        info = client.select_folder("INBOX")
        assert info[b"EXISTS"] == 3
        fetched = client.fetch(
            client.search("ALL"), ["BODY.PEEK[]", "FLAGS", "ENVELOPE", "BODYSTRUCTURE"]
        )
        for uid, data in fetched.items():
            assert data[b"BODY[]"] == message("imapclient", uid - 1)
            assert data[b"ENVELOPE"].subject == b"imapclient %d" % (uid - 1)
        client.add_flags([1], [b"\\Flagged"])
        assert client.search(["FLAGGED"]) == [1]
        client.create_folder("Kept")
        client.move([2], "Kept")
        assert client.search("ALL") == [1, 3]
        client.folder_status("Kept", ["MESSAGES"])
        appended = client.append("Kept", message("imapclient", 9), flags=[b"\\Seen"])
        assert b"APPENDUID" in appended
        client.unselect_folder()
        assert client.folder_status("Kept", ["MESSAGES"])[b"MESSAGES"] == 2
        assert [c.upper() for c in client.enable("IMAP4rev2")] == [b"IMAP4REV2"]


def test_aioimaplib_session_with_idle(server: MailServer) -> None:
    async def scenario() -> None:
        client = aioimaplib.IMAP4_SSL(
            "localhost", server.ports["imaps"], ssl_context=tls_context(server), timeout=20
        )
        await client.wait_hello_from_server()
        response = await client.login("aio@example.test", PASSWORD)
        assert response.result == "OK"
        response = await client.select("INBOX")
        assert response.result == "OK"
        response = await client.uid("fetch", "1:*", "(BODY.PEEK[])")
        assert response.result == "OK"
        bodies = [line for line in response.lines if isinstance(line, bytearray)]
        assert [bytes(b) for b in bodies] == [message("aio", i) for i in range(3)]
        idle = await client.idle_start(timeout=10)
        other = aioimaplib.IMAP4_SSL(
            "localhost", server.ports["imaps"], ssl_context=tls_context(server), timeout=20
        )
        await other.wait_hello_from_server()
        await other.login("aio@example.test", PASSWORD)
        await other.append(message("aio", 7), mailbox="INBOX")
        pushed = await client.wait_server_push(timeout=10)
        assert any(b"4 EXISTS" in bytes(p) for p in pushed if isinstance(p, bytes | bytearray))
        client.idle_done()
        await asyncio.wait_for(idle, 10)
        await other.logout()
        await client.logout()

    asyncio.run(scenario())


def test_curl_imaps_and_starttls(server: MailServer) -> None:
    curl = require_tool("curl")
    user = f"curl@example.test:{PASSWORD}"
    base = [curl, "-sS", "--cacert", str(server.ca_file), "-u", user]
    port, plain_port = server.ports["imaps"], server.ports["imap"]
    listing = run([*base, f"imaps://localhost:{port}/"])
    assert listing.returncode == 0, listing.stderr
    assert '"/" "INBOX"' in listing.stdout
    body = subprocess.run(
        [*base, f"imaps://localhost:{port}/INBOX;UID=2"], capture_output=True, timeout=60
    )
    assert body.returncode == 0 and body.stdout == message("curl", 1)
    found = run([*base, f"imaps://localhost:{port}/INBOX?SUBJECT%20%22curl%202%22"])
    assert found.stdout.strip() == "* SEARCH 3"
    msg = tempfile.NamedTemporaryFile(delete=False)
    msg.write(message("curl", 5))
    msg.close()
    try:
        put = run([*base, "--ssl-reqd", "-T", msg.name, f"imap://localhost:{plain_port}/INBOX"])
        assert put.returncode == 0, put.stderr
    finally:
        os.unlink(msg.name)
    got = subprocess.run(
        [*base, "--ssl-reqd", f"imap://localhost:{plain_port}/INBOX;UID=4"],
        capture_output=True,
        timeout=60,
    )
    assert got.returncode == 0 and got.stdout == message("curl", 5)
    refused = run([curl, "-sS", "-u", user, f"imap://localhost:{plain_port}/"])
    assert refused.returncode != 0  # no login without TLS


def test_fetchmail_imaps(server: MailServer, tmp_path: Path) -> None:
    fetchmail = require_tool("fetchmail")
    out = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll localhost service {server.ports['imaps']} protocol IMAP\n"
        f'  user "fetchmail@example.test" there with password "{PASSWORD}" is "root" here\n'
        f"  ssl sslcertck sslcertfile {server.ca_file} sslproto tls1.2+\n"
        "  keep\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n"
    )
    rc.chmod(0o600)
    env = {**os.environ, "FETCHMAILHOME": str(tmp_path), "HOME": str(tmp_path)}
    args = [fetchmail, "-f", str(rc), "--idfile", str(tmp_path / "ids")]
    args += ["--pidfile", str(tmp_path / "pid"), "-N", "-v"]
    first = run(args, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    text = out.read_bytes()
    for i in range(3):
        assert message("fetchmail", i).replace(b"\r\n", b"\n") in text
    second = run(args, env=env)  # fetched messages are \Seen now: nothing new
    assert second.returncode == 1, second.stdout + second.stderr


def test_getmail_imaps_into_maildir(server: MailServer, tmp_path: Path) -> None:
    getmail = require_tool("getmail")
    nobody = pwd.getpwnam("nobody")
    shared = Path(tempfile.mkdtemp(prefix="mailkeep-getmail-"))
    shared.chmod(0o755)
    maildir = shared / "Maildir"
    for sub in ("", "cur", "new", "tmp"):
        (maildir / sub).mkdir(exist_ok=True)
        os.chown(maildir / sub, nobody.pw_uid, nobody.pw_gid)
    rc = tmp_path / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = localhost\n"
        f"port = {server.ports['imaps']}\nusername = getmail@example.test\n"
        f"password = {PASSWORD}\nca_certs = {server.ca_file}\n"
        "ssl_cert_hostname = localhost\nmailboxes = ALL\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\nuser = nobody\n"
        "[options]\nread_all = true\ndelete = false\nverbose = 1\n"
    )
    try:
        result = run([getmail, f"--getmaildir={tmp_path}", f"--rcfile={rc}"])
        assert result.returncode == 0, result.stdout + result.stderr
        bodies = [p.read_bytes() for p in sorted((maildir / "new").iterdir())]
    finally:
        shutil.rmtree(shared)
    assert len(bodies) == 3, result.stdout + result.stderr
    for i in range(3):  # getmail adds trace fields and stores LF line ends
        assert any(
            b"Subject: getmail %d\n" % i in b and b.endswith(b"\nHello %d\n" % i) for b in bodies
        )


def canonical(raw: bytes) -> bytes:
    """A message as sync tools keep it locally: LF line ends, without mbsync's X-TUID."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line for line in lines if not line.startswith(b"X-TUID: "))


def _maildir_messages(folder: Path) -> list[bytes]:
    return sorted(
        canonical(p.read_bytes()) for sub in ("cur", "new") for p in (folder / sub).iterdir()
    )


def server_log(server: MailServer) -> str:
    """The server's log so far, for a failing sync tool's message (a NO [UNAVAILABLE] seen
    once in an mbsync run comes with the traceback of its StoreTemporaryError there)."""
    return "\n--- server log ---\n" + (server.served.text if server.served else "")


def test_mbsync_two_way_sync(server: MailServer, tmp_path: Path) -> None:
    mbsync = require_tool("mbsync")
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        mbsync_config(
            server,
            local,
            "mbsync@example.test",
            "Far :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\n"
            "SyncState *\nSync All\n",
            near="SubFolders Verbatim\n",
        )
    )
    args = [mbsync, "-c", str(rc), "-a"]
    first = run(args)
    assert first.returncode == 0, first.stdout + first.stderr + server_log(server)
    inbox = _maildir_messages(local / "INBOX")
    assert inbox == sorted(canonical(message("mbsync", i)) for i in range(3))
    # local changes go up: a new message, a new folder, a flag, a deletion
    new = local / "INBOX" / "new" / "1700000000.local.host"
    new.write_bytes(message("mbsync", 8))
    (local / "Projects" / "cur").mkdir(parents=True)
    for sub in ("new", "tmp"):
        (local / "Projects" / sub).mkdir()
    (local / "Projects" / "cur" / "1700000001.p.host:2,S").write_bytes(message("mbsync", 9))
    cur = sorted((local / "INBOX" / "cur").iterdir()) + sorted((local / "INBOX" / "new").iterdir())
    trashed = next(p for p in cur if canonical(p.read_bytes()) == canonical(message("mbsync", 1)))
    flagged = next(p for p in cur if canonical(p.read_bytes()) == canonical(message("mbsync", 0)))
    flagged.rename(flagged.parent.parent / "cur" / (flagged.name.split(":")[0] + ":2,F"))
    trashed.unlink()
    second = run(args)
    assert second.returncode == 0, second.stdout + second.stderr + server_log(server)
    with IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    ) as client:
        client.login("mbsync@example.test", PASSWORD)
        client.select_folder("INBOX")
        fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
        bodies = {canonical(data[b"BODY[]"]): data[b"FLAGS"] for data in fetched.values()}
        assert set(bodies) == {canonical(message("mbsync", i)) for i in (0, 2, 8)}
        assert b"\\Flagged" in bodies[canonical(message("mbsync", 0))]
        client.select_folder("Projects")
        got = client.fetch(client.search("ALL"), ["BODY.PEEK[]"]).values()
        assert [canonical(d[b"BODY[]"]) for d in got] == [canonical(message("mbsync", 9))]
        # server-side changes come down: a new message and a deletion
        client.select_folder("INBOX")
        client.append("INBOX", message("mbsync", 10))
        uid = next(
            u
            for u, d in fetched.items()
            if canonical(d[b"BODY[]"]) == canonical(message("mbsync", 2))
        )
        client.delete_messages([uid])
        client.expunge()
    third = run(args)
    assert third.returncode == 0, third.stdout + third.stderr + server_log(server)
    expected = sorted(canonical(message("mbsync", i)) for i in (0, 8, 10))
    assert _maildir_messages(local / "INBOX") == expected


def test_offlineimap_sync(server: MailServer, tmp_path: Path) -> None:
    offlineimap = require_tool("offlineimap")
    local = tmp_path / "mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(offlineimap_config(server, tmp_path / "meta", local, "offlineimap@example.test"))
    result = run([offlineimap, "-c", str(rc), "-o", "-u", "basic"])
    assert result.returncode == 0, result.stdout + result.stderr
    bodies = _maildir_messages(local / "INBOX")  # offlineimap stores LF line ends
    assert bodies == sorted(canonical(message("offlineimap", i)) for i in range(3))
    (local / "INBOX" / "new" / "1700000000_0.local.host,FMD5=x:2,S").write_bytes(
        message("offlineimap", 5)
    )
    again = run([offlineimap, "-c", str(rc), "-o", "-u", "basic"])
    assert again.returncode == 0, again.stdout + again.stderr
    with IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    ) as client:
        client.login("offlineimap@example.test", PASSWORD)
        client.select_folder("INBOX")
        got = [d[b"BODY[]"] for d in client.fetch(client.search("ALL"), ["BODY.PEEK[]"]).values()]
    assert any(b.endswith(b"Hello 5\r\n") and b"offlineimap 5" in b for b in got)
