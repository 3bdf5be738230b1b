"""POP3 with real third-party clients from Debian: curl, fetchmail, getmail6 and mpop.

Each client gets its own user so the tests are independent; bytes retrieved must equal the
bytes delivered (clients that add a header of their own are checked on the original part).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailserver import PASSWORD, MailServer, client_message, serve_client_users
from tests.tools import require_tool

USERS = ("curl", "fetchkeep", "fetchdel", "getmail", "mpop")


def message(tag: str, i: int) -> bytes:
    return client_message(tag, i, b".dot line\r\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = serve_client_users(tmp_path_factory.mktemp("pop3-interop"), USERS, message)
    yield srv
    srv.stop()


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload,no-any-return]


def test_curl_pop3s_list_retr_and_stls(server: MailServer) -> None:
    curl = require_tool("curl")
    user = f"curl@example.test:{PASSWORD}"
    base = [curl, "-sS", "--cacert", str(server.ca_file), "-u", user]
    port = server.ports["pop3s"]
    listing = run([*base, f"pop3s://localhost:{port}/"])
    assert listing.returncode == 0, listing.stderr
    sizes = [int(line.split()[1]) for line in listing.stdout.splitlines()]
    assert sizes == [len(message("curl", i)) for i in range(3)]
    got = subprocess.run(
        [*base, f"pop3s://localhost:{port}/2"], capture_output=True, timeout=60, check=True
    ).stdout
    assert got == message("curl", 1)
    stls_port = server.ports["pop3"]
    stls = run([*base, "--ssl-reqd", f"pop3://localhost:{stls_port}/", "-X", "UIDL"])
    assert stls.returncode == 0, stls.stderr
    assert len(stls.stdout.splitlines()) == 3
    plain = run([curl, "-sS", "-u", user, f"pop3://localhost:{stls_port}/"])
    assert plain.returncode != 0  # no login without TLS


def _fetchmailrc(server: MailServer, home: Path, user: str, out: Path, keep: bool) -> Path:
    rc = home / "fetchmailrc"
    rc.write_text(
        f"poll localhost service {server.ports['pop3s']} protocol POP3 uidl\n"
        f'  user "{user}" there with password "{PASSWORD}" is "root" here\n'
        f"  ssl sslcertck sslcertfile {server.ca_file} sslproto tls1.2+\n"
        f"  {'keep' if keep else 'nokeep fetchall'}\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n"
    )
    rc.chmod(0o600)
    return rc


def _fetchmail(rc: Path, home: Path) -> subprocess.CompletedProcess[str]:
    fetchmail = require_tool("fetchmail")
    env = {**os.environ, "FETCHMAILHOME": str(home), "HOME": str(home)}
    return run(
        [
            fetchmail,
            "-f",
            str(rc),
            "--idfile",
            str(home / "ids"),
            "--pidfile",
            str(home / "pid"),
            "-N",
            "-v",
        ],
        env=env,
    )


def test_fetchmail_keep_mode_tracks_uidl(server: MailServer, tmp_path: Path) -> None:
    out = tmp_path / "mbox"
    rc = _fetchmailrc(server, tmp_path, "fetchkeep@example.test", out, keep=True)
    first = _fetchmail(rc, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    text = out.read_bytes()
    for i in range(3):
        assert message("fetchkeep", i).replace(b"\r\n", b"\n") in text
    second = _fetchmail(rc, tmp_path)  # UIDL remembered: nothing new (rc 1 = no mail)
    assert second.returncode == 1, second.stdout + second.stderr
    assert out.read_bytes() == text


def test_fetchmail_nokeep_deletes_on_the_server(server: MailServer, tmp_path: Path) -> None:
    out = tmp_path / "mbox"
    rc = _fetchmailrc(server, tmp_path, "fetchdel@example.test", out, keep=False)
    first = _fetchmail(rc, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert out.read_bytes().count(b"Subject: fetchdel") == 3
    (tmp_path / "ids").unlink(missing_ok=True)
    again = _fetchmail(rc, tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr  # the server's maildrop is empty


def test_getmail_pop3s_into_maildir(server: MailServer, tmp_path: Path) -> None:
    getmail = require_tool("getmail")
    nobody = pwd.getpwnam("nobody")
    # getmail will not deliver as root; user "nobody" must reach the Maildir, and pytest's
    # own temporary folders are private to root.
    shared = Path(tempfile.mkdtemp(prefix="mailkeep-getmail-"))
    shared.chmod(0o755)
    maildir = shared / "Maildir"
    for sub in ("", "cur", "new", "tmp"):
        (maildir / sub).mkdir(exist_ok=True)
        os.chown(maildir / sub, nobody.pw_uid, nobody.pw_gid)
    rc = tmp_path / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = localhost\n"
        f"port = {server.ports['pop3s']}\nusername = getmail@example.test\n"
        f"password = {PASSWORD}\nca_certs = {server.ca_file}\n"
        "ssl_cert_hostname = localhost\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\nuser = nobody\n"
        "[options]\nread_all = true\ndelete = false\nverbose = 1\n"
    )
    try:
        result = run([getmail, f"--getmaildir={tmp_path}", f"--rcfile={rc}"])
        assert result.returncode == 0, result.stdout + result.stderr
        got = sorted((maildir / "new").iterdir())
        bodies = b"".join(p.read_bytes() for p in got)
    finally:
        shutil.rmtree(shared)
    assert len(got) == 3
    for i in range(3):
        assert b"Subject: getmail %d" % i in bodies


def test_mpop_keep_then_delete(server: MailServer, tmp_path: Path) -> None:
    mpop = require_tool("mpop")
    maildir = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    base = [
        mpop,
        "--host=localhost",
        f"--port={server.ports['pop3s']}",
        "--tls=on",
        "--tls-starttls=off",
        f"--tls-trust-file={server.ca_file}",
        "--auth=user",
        "--user=mpop@example.test",
        f"--passwordeval=echo '{PASSWORD}'",
        f"--delivery=maildir,{maildir}",
        f"--uidls-file={tmp_path / 'uidls'}",
    ]
    kept = run([*base, "--keep=on"])
    assert kept.returncode == 0, kept.stdout + kept.stderr
    files = sorted((maildir / "new").iterdir())
    assert len(files) == 3
    assert any(p.read_bytes().endswith(message("mpop", 0).replace(b"\r\n", b"\n")) for p in files)
    deleted = run([*base, "--keep=off", "--only-new=off"])
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    info = run([*base, "--keep=on", "--only-new=off"])
    assert info.returncode == 0, info.stdout + info.stderr
    assert len(list((maildir / "new").iterdir())) == 6  # 3 kept + 3 fetched before delete
