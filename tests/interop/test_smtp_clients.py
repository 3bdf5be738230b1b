"""SMTP with real third-party clients from Debian: swaks, curl, and Postfix as a sending MTA.

Each test has its own recipient; the message is read back from the store and compared byte
for byte (after the Return-Path and Received fields the server puts on top).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.test_smtp_server import add_users, addr, mailbox, strip_trace
from tests.tools import require_tool

USERS = ("sw1", "sw2", "sw3", "sw4", "cu1", "cu2", "pf1", "pf2", "sender")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("smtp-interop"), "[smtp]\ngreet_pause_seconds = 0\n")
    add_users(srv, USERS, {})
    srv.start()
    yield srv
    srv.stop()


def message(tag: str, sender: str = "someone@example.org") -> bytes:
    return (
        f"From: {sender}\r\nTo: {tag}@example.test\r\nSubject: {tag}\r\n"
        f"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{tag}@example.org>\r\n\r\n"
        f"Hello {tag}\r\n.a leading dot\r\n..two dots\r\n"
    ).encode()


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload,no-any-return]


def swaks_base(server: MailServer, listener: str) -> list[str]:
    return [require_tool("swaks"), "-s", "127.0.0.1", "-p", str(server.ports[listener])]


def tls_verify(server: MailServer) -> list[str]:
    return ["--tls-verify", "--tls-ca-path", str(server.ca_file), "--tls-sni", "localhost"]


def write(tmp_path: Path, raw: bytes) -> str:
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    return str(path)


def write_for_swaks(tmp_path: Path, raw: bytes) -> str:
    """swaks puts CRLF before the final dot itself: give it the data without the last one."""
    assert raw.endswith(b"\r\n")
    return write(tmp_path, raw[:-2])


def test_swaks_mx_starttls(server: MailServer, tmp_path: Path) -> None:
    raw = message("sw1")
    result = run([
        *swaks_base(server, "smtp"), "-f", "a@example.org", "-t", addr("sw1"),
        "--tls", *tls_verify(server), "--data", write_for_swaks(tmp_path, raw),
    ])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [stored] = mailbox(server, addr("sw1"))
    assert b"with ESMTPS id" in stored
    assert strip_trace(stored) == raw


@pytest.mark.parametrize(("mechanism", "user"), [("PLAIN", "sw2"), ("LOGIN", "sw3")])
def test_swaks_submission_auth_with_pipelining(
    server: MailServer, tmp_path: Path, mechanism: str, user: str
) -> None:
    raw = message(user, sender=addr("sender"))
    result = run([
        *swaks_base(server, "submission"), "--tls", *tls_verify(server),
        "-a", mechanism, "-au", addr("sender"), "-ap", PASSWORD, "--pipeline",
        "-f", addr("sender"), "-t", addr(user), "--data", write_for_swaks(tmp_path, raw),
    ])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PIPELINING" in result.stdout
    [stored] = mailbox(server, addr(user))
    assert b"with ESMTPSA id" in stored
    assert strip_trace(stored) == raw


def test_swaks_submissions_implicit_tls(server: MailServer, tmp_path: Path) -> None:
    raw = message("sw4", sender=addr("sender"))
    result = run([
        *swaks_base(server, "submissions"), "--tlsc", *tls_verify(server),
        "-a", "PLAIN", "-au", addr("sender"), "-ap", PASSWORD,
        "-f", addr("sender"), "-t", addr("sw4"), "--data", write_for_swaks(tmp_path, raw),
    ])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [stored] = mailbox(server, addr("sw4"))
    assert strip_trace(stored) == raw


def test_swaks_relay_attempt_is_denied(server: MailServer) -> None:
    result = run([
        *swaks_base(server, "smtp"), "-f", "a@example.org", "-t", "victim@remote.example",
    ])  # fmt: skip
    assert result.returncode == 24, result.stdout  # 24: no recipient accepted
    assert "550 5.7.1" in result.stdout


def test_swaks_wrong_password_is_refused(server: MailServer) -> None:
    result = run([
        *swaks_base(server, "submission"), "--tls", *tls_verify(server),
        "-a", "PLAIN", "-au", addr("sender"), "-ap", "wrong", "-f", addr("sender"),
        "-t", addr("sw2"),
    ])  # fmt: skip
    assert result.returncode == 28, result.stdout  # 28: authentication failed
    assert "535 5.7.8" in result.stdout


def test_curl_mx_plain(server: MailServer, tmp_path: Path) -> None:
    curl = require_tool("curl")
    raw = message("cu1")
    result = run([
        curl, "-sS", f"smtp://127.0.0.1:{server.ports['smtp']}/client.example.org",
        "--mail-from", "a@example.org", "--mail-rcpt", addr("cu1"), "-T", write(tmp_path, raw),
    ])  # fmt: skip
    assert result.returncode == 0, result.stderr
    [stored] = mailbox(server, addr("cu1"))
    assert b"from client.example.org" in stored
    assert strip_trace(stored) == raw


def test_curl_smtps_submission(server: MailServer, tmp_path: Path) -> None:
    curl = require_tool("curl")
    raw = message("cu2", sender=addr("sender"))
    result = run([
        curl, "-sS", "--cacert", str(server.ca_file),
        f"smtps://localhost:{server.ports['submissions']}", "-u", f"{addr('sender')}:{PASSWORD}",
        "--mail-from", addr("sender"), "--mail-rcpt", addr("cu2"), "-T", write(tmp_path, raw),
    ])  # fmt: skip
    assert result.returncode == 0, result.stderr
    [stored] = mailbox(server, addr("cu2"))
    assert strip_trace(stored) == raw


# --- Postfix as a real sending MTA ------------------------------------------------------------


def _debian_master_cf() -> str:
    """Debian's master.cf as packaged (the anchor set-up keeps the original aside)."""
    for path in (Path("/etc/postfix/master.cf.dist"), Path("/etc/postfix/master.cf")):
        if path.exists():
            return path.read_text()
    pytest.skip("no Postfix master.cf")


def _without_inet_services(master: str) -> str:
    """No listening service of its own: mail enters through sendmail only."""
    kept: list[str] = []
    skipping = False
    for line in master.splitlines():
        if line[:1] in (" ", "\t"):  # continuation of the entry above
            if not skipping:
                kept.append(line)
            continue
        fields = line.split()
        skipping = len(fields) > 1 and not line.startswith("#") and fields[1] == "inet"
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


class Postfix:
    """A private Postfix instance (own config, queue and log under ``root``) whose only
    route is mailkeep's MX, with TLS required and the certificate verified."""

    def __init__(self, root: Path, mx_port: int, ca_file: Path) -> None:
        self.root = root
        self.conf = root / "conf"
        self.log = root / "maillog"
        root.chmod(0o755)  # the daemons run as the postfix user
        for name in ("conf", "queue", "data"):
            (root / name).mkdir()
        shutil.chown(root / "data", "postfix")
        ca = root / "ca.pem"
        ca.write_bytes(ca_file.read_bytes())
        ca.chmod(0o644)
        (self.conf / "master.cf").write_text(_without_inet_services(_debian_master_cf()))
        (self.conf / "main.cf").write_text(
            "\n".join([
                "compatibility_level = 3.6",
                f"queue_directory = {root}/queue",
                f"data_directory = {root}/data",
                "mail_owner = postfix",
                "setgid_group = postdrop",
                "myhostname = relay.example.org",
                "mydomain = example.org",
                "myorigin = example.org",
                "mydestination =",
                "inet_interfaces = loopback-only",
                "inet_protocols = ipv4",
                f"relayhost = [localhost]:{mx_port}",
                "smtp_tls_security_level = secure",
                "smtp_tls_secure_cert_match = nexthop",
                f"smtp_tls_CAfile = {ca}",
                "smtp_dns_support_level = disabled",
                "smtp_tls_loglevel = 1",
                f"maillog_file = {self.log}",
                f"maillog_file_prefixes = {root}",
            ]) + "\n"
        )  # fmt: skip
        self._postfix("postconf", "-c", str(self.conf), "-F", "*/*/chroot = n")

    @staticmethod
    def _postfix(*args: str) -> None:
        result = run(list(args))
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self) -> None:
        self._postfix(require_tool("postfix"), "-c", str(self.conf), "start")

    def stop(self) -> None:
        run(["postfix", "-c", str(self.conf), "stop"])
        pid_file = self.root / "queue" / "pid" / "master.pid"
        if pid_file.exists():  # still there: the master did not stop
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)

    def send(self, sender: str, recipient: str, raw: bytes) -> None:
        result = subprocess.run(
            ["/usr/sbin/sendmail", "-C", str(self.conf), "-f", sender, "-i", recipient],
            input=raw,
            capture_output=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="module")
def postfix(server: MailServer) -> Iterator[Postfix]:
    require_tool("postfix")
    root = Path(tempfile.mkdtemp(prefix="mailkeep-postfix-"))
    instance = Postfix(root, server.ports["smtp"], server.ca_file)
    instance.start()
    yield instance
    instance.stop()
    shutil.rmtree(root, ignore_errors=True)


def wait_for_mail(server: MailServer, address: str, count: int, postfix: Postfix) -> list[bytes]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = mailbox(server, address)
        if len(stored) >= count:
            return stored
        time.sleep(0.3)
    raise AssertionError("postfix did not deliver:\n" + postfix.log_text()[-3000:])


def test_postfix_relays_to_the_mx_over_verified_tls(server: MailServer, postfix: Postfix) -> None:
    raw = message("pf1")
    postfix.send("someone@example.org", addr("pf1"), raw)
    [stored] = wait_for_mail(server, addr("pf1"), 1, postfix)
    # Postfix puts its own Received field on top; ours is above it and names the cipher.
    assert stored.startswith(
        b"Return-Path: <someone@example.org>\r\nReceived: from relay.example.org"
    )
    assert re.search(rb"with ESMTPS id \w+\r\n\tfor <pf1@example.test>\r\n\ttls TLS_", stored)
    assert stored.endswith(raw)
    assert re.search(
        r"Verified TLS connection established to localhost\[127.0.0.1\]:\d+", postfix.log_text()
    )


def test_postfix_large_message_and_many_recipients(server: MailServer, postfix: Postfix) -> None:
    body = b"".join(b"line %06d " % i + b"x" * 60 + b"\r\n" for i in range(20000))  # ~1.4 MB
    raw = message("pf2")[:-2] + b"\r\n" + body
    postfix.send("someone@example.org", addr("pf2"), raw)
    [stored] = wait_for_mail(server, addr("pf2"), 1, postfix)
    assert stored.endswith(raw)
