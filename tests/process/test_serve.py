"""``mailkeep serve`` as a real process: TLS seen from outside with openssl s_client, the
self-signed certificate, reloads, signals, start-up errors, privileges and log lines."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from mailkeep.certs.selfsigned import make_certificate
from tests.certs.pairs import install_pair
from tests.process.server import Served, served_certificate, tls_connection, write_config
from tests.tools import require_tool

Start = Callable[[Path], Served]
LEGACY = ("-cipher", "DEFAULT:@SECLEVEL=0")  # lets the client offer TLS 1.0/1.1
# The first line each protocol may greet with: ready, or refusing (busy).
GREETING = re.compile(rb"^(220 |421 |\* OK |\* BYE |\+OK|-ERR)[^\r\n]*\r\n")
IMPLICIT_TLS = ("submissions", "imaps", "pop3s")


def s_client(port: int, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [
            require_tool("openssl"),
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-brief",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=20,
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def error_lines(served: Served) -> list[str]:
    return [line for line in served.lines if line.startswith("mailkeep:")]


def test_implicit_tls_refuses_tls11_and_serves_tls12_and_tls13(
    tmp_path: Path, start: Start
) -> None:
    require_tool("openssl")
    config, ports = write_config(tmp_path)
    served = start(config).ready()
    for name in IMPLICIT_TLS:
        code, out = s_client(ports[name], "-tls1_1", *LEGACY)
        assert code != 0 and "Protocol version" not in out, (name, out)
        for flag, version in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            code, out = s_client(ports[name], flag)  # stdin at EOF: it ends after the handshake
            assert code == 0, (name, out)
            assert f"Protocol version: {version}\n" in out, (name, out)
        code, out = s_client(ports[name], "-tls1_2")
        assert re.search(r"Ciphersuite: ECDHE-ECDSA-(AES128-GCM|AES256-GCM|CHACHA20)", out), out
        # After the handshake, the protocol server speaks first.
        with tls_connection(ports[name]) as tls:
            assert GREETING.match(tls.recv(1000)), name
    assert served.stop() == 0


def test_self_signed_certificate_names_and_reuse_across_restarts(
    tmp_path: Path, start: Start
) -> None:
    config, ports = write_config(tmp_path)
    served = start(config).ready()
    assert "no certificate configured, serving a self-signed one" in served.text
    cert = served_certificate(ports["imaps"])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    key = tmp_path / "data" / "tls" / "selfsigned.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert served.stop() == 0
    again = start(config).ready()
    assert served_certificate(ports["pop3s"]).serial_number == cert.serial_number
    assert "new=False" in again.wait_for("self-signed")
    assert again.stop() == 0


def test_reload_on_sighup_and_on_file_change(tmp_path: Path, start: Start) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    first = install_pair(cert, key)
    config, ports = write_config(
        tmp_path,
        extra=f'[tls]\ncert = "{cert}"\nkey = "{key}"\nreload_check_seconds = 1',
    )
    served = start(config).ready()
    port = ports["submissions"]
    assert served_certificate(port).serial_number == first

    second = install_pair(cert, key)
    mark = len(served.lines)
    served.signal(signal.SIGHUP)
    served.wait_for(r'msg="certificate reloaded" reason=SIGHUP', start=mark)
    assert served_certificate(port).serial_number == second

    time.sleep(0.05)  # a new mtime even on coarse-grained file systems
    third = install_pair(cert, key)
    served.wait_for(r'msg="certificate reloaded" reason="files changed"', start=mark)
    assert served_certificate(port).serial_number == third

    mark = len(served.lines)
    cert.write_text("-----BEGIN CERTIFICATE-----\ntruncated")
    served.signal(signal.SIGHUP)
    failed = served.wait_for(r"certificate reload failed", start=mark)
    assert "level=error" in failed and "no PEM certificate" in failed
    assert served_certificate(port).serial_number == third  # the old one stays
    assert served.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_exits_zero_within_the_grace_time(
    tmp_path: Path, start: Start, signum: signal.Signals
) -> None:
    config, ports = write_config(tmp_path)
    served = start(config).ready()
    with (
        socket.create_connection(("127.0.0.1", ports["imaps"])),  # handshake never starts
        socket.create_connection(("127.0.0.1", ports["pop3"])) as plain,
    ):
        plain.settimeout(10)
        greeting = plain.recv(1000)
        assert GREETING.match(greeting)
        started = time.monotonic()
        served.signal(signum)
        rest = b""
        while data := plain.recv(1000):
            rest += data
        if greeting.startswith(b"+OK"):  # a session was open: it was told goodbye
            assert rest.startswith(b"-ERR"), rest
        assert served.exit_status() == 0
        assert time.monotonic() - started < 2 + 3  # shutdown_grace_seconds = 2, slack for load
        assert f"signal={signum.name}" in served.wait_for("stop requested")
        assert "msg=stopped" in served.text
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ports["pop3"]), timeout=1)


def test_connection_lines_carry_the_connection_id_and_peer(tmp_path: Path, start: Start) -> None:
    config, ports = write_config(tmp_path)
    served = start(config).ready()
    with socket.create_connection(("127.0.0.1", ports["smtp"])) as s:
        assert GREETING.match(s.recv(1000))
        local_port = s.getsockname()[1]
    closed = served.wait_for(r'msg="connection closed"')
    opened = served.wait_for(r'msg="connection opened"')
    conn = re.search(r"conn=([0-9a-f]+)", opened)
    assert conn and f"conn={conn.group(1)}" in closed
    assert f"peer=127.0.0.1:{local_port}" in opened
    assert served.stop() == 0


def _fails_with_one_line(start: Start, config: Path) -> str:
    served = start(config)
    assert served.exit_status() == 1
    errors = error_lines(served)
    assert len(errors) == 1, served.text
    assert "Traceback" not in served.text
    return errors[0]


def test_port_in_use_is_one_line_and_nothing_stays_open(tmp_path: Path, start: Start) -> None:
    config, ports = write_config(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["pop3"]))
        busy.listen()
        line = _fails_with_one_line(start, config)
    assert f"listen.pop3 = '127.0.0.1:{ports['pop3']}'" in line
    assert "in use by another program" in line
    for name in ("smtp", "imap", "imaps"):  # bound before pop3, closed again
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", ports[name]))


def test_address_not_on_this_machine(tmp_path: Path, start: Start) -> None:
    config, _ = write_config(tmp_path, listen={"smtp": "192.0.2.1:2525"})
    line = _fails_with_one_line(start, config)
    assert "listen.smtp" in line and "not on this machine" in line


def test_unusable_data_dir(tmp_path: Path, start: Start) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config, _ = write_config(tmp_path, data_dir=blocker / "data")
    line = _fails_with_one_line(start, config)
    assert f"data_dir {blocker / 'data'}" in line


def test_broken_certificate_is_one_line(tmp_path: Path, start: Start) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    install_pair(cert, key)
    key.write_bytes(make_certificate("x.example.test", datetime.datetime.now(datetime.UTC))[1])
    config, _ = write_config(tmp_path, extra=f'[tls]\ncert = "{cert}"\nkey = "{key}"')
    line = _fails_with_one_line(start, config)
    assert "does not belong to the first certificate" in line


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@root_only
def test_missing_server_user_is_one_line(tmp_path: Path, start: Start) -> None:
    config, _ = write_config(tmp_path, user="no-such-mailkeep-user")
    line = _fails_with_one_line(start, config)
    assert "server.user 'no-such-mailkeep-user' does not exist" in line


@root_only
def test_root_binds_then_runs_as_server_user(start: Start) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    # Under /tmp, not pytest's 0700 tmp dir, so that nobody can reach data_dir.
    base = Path(tempfile.mkdtemp(prefix="mailkeep-priv-"))
    try:
        base.chmod(0o755)
        config, ports = write_config(base, user="nobody")
        served = start(config).ready()
        status = Path(f"/proc/{served.proc.pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M)
        assert uids and {int(u) for u in uids.groups()} == {nobody.pw_uid}
        data = base / "data"
        for path in (data, data / "tls", data / "tls" / "selfsigned.key"):
            assert path.stat().st_uid == nobody.pw_uid, path
        assert served_certificate(ports["imaps"]).subject.rfc4514_string() == (
            "CN=mail.example.test"
        )
        assert served.stop() == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


@root_only
def test_key_only_root_can_read_loads_and_warns_that_reloads_will_fail(start: Start) -> None:
    base = Path(tempfile.mkdtemp(prefix="mailkeep-priv-"))
    try:
        base.chmod(0o755)
        cert, key = base / "cert.pem", base / "key.pem"
        serial = install_pair(cert, key)
        key.chmod(0o600)  # root's, as certbot leaves it
        config, ports = write_config(
            base, user="nobody", extra=f'[tls]\ncert = "{cert}"\nkey = "{key}"'
        )
        served = start(config).ready()
        warning = served.wait_for("not readable after dropping privileges")
        assert f"path={key}" in warning
        assert served_certificate(ports["imaps"]).serial_number == serial
        assert served.stop() == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


@root_only
def test_a_data_dir_in_use_by_someone_else_is_not_handed_over(start: Start) -> None:
    base = Path(tempfile.mkdtemp(prefix="mailkeep-priv-"))
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir()
        (data / "someone-elses-file").write_text("")
        config, _ = write_config(base, user="nobody")
        line = _fails_with_one_line(start, config)
        assert "is not empty, not private and not owned by server.user 'nobody'" in line
        assert data.stat().st_uid == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


@root_only
def test_what_the_cli_made_as_root_is_handed_to_server_user(start: Start) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody").pw_uid
    base = Path(tempfile.mkdtemp(prefix="mailkeep-priv-"))
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir(mode=0o700)  # as the CLI makes it, run as root
        (data / "accounts.sqlite3").write_text("")
        (data / "dkim" / "example.org").mkdir(parents=True)
        (data / "dkim" / "example.org" / "key.pem").write_text("")
        (data / "link-to-etc").symlink_to("/etc")
        config, _ = write_config(base, user="nobody")
        served = start(config).ready()
        for path in (data, data / "accounts.sqlite3", data / "dkim" / "example.org" / "key.pem"):
            assert path.stat().st_uid == nobody, path
        assert (data / "link-to-etc").lstat().st_uid == nobody
        assert Path("/etc").stat().st_uid == 0  # the link was not followed
        assert served.stop() == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


def test_the_open_file_limit_is_raised_to_the_hard_limit(tmp_path: Path, start: Start) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip("hard open file limit too low to lower the soft one")
    config, _ = write_config(tmp_path)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by the server
    try:
        served = start(config)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    served.ready()
    limits = Path(f"/proc/{served.proc.pid}/limits").read_text()
    row = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.M)
    assert row and int(row.group(1)) == int(row.group(2)) == hard
    assert f"from=256 to={hard}" in served.wait_for("raised the open file limit")
    assert served.stop() == 0
