"""``mailkeep domain | user | alias`` end to end: the installed command in a subprocess with a
temporary config; every refusal is one line on stderr, exit status 1, and no change on disk."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.accounts.models import Outcome
from mailkeep.admin.operations import format_size, parse_size
from mailkeep.errors import UserError

MAILKEEP = str(Path(sys.executable).with_name("mailkeep"))


@dataclass
class Mailkeep:
    """Runs the mailkeep command against one temporary config."""

    config: Path
    data_dir: Path

    def __call__(
        self, *args: str, stdin: str | bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "MAILKEEP_CONFIG"}
        data = stdin.encode() if isinstance(stdin, str) else stdin
        result = subprocess.run(
            [MAILKEEP, "-c", str(self.config), *args],
            input=data,
            stdin=subprocess.DEVNULL if data is None else None,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        return subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
        )

    def ok(self, *args: str, stdin: str | bytes | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        return result.stdout

    def dump(self) -> list[str]:
        db = sqlite3.connect(self.data_dir / DATABASE_NAME)
        try:
            return list(db.iterdump())
        finally:
            db.close()


def make(tmp_path: Path, data_dir: Path | None = None) -> Mailkeep:
    data_dir = data_dir or tmp_path / "data"
    config = tmp_path / "mailkeep.toml"
    config.write_text(f'hostname = "mail.example.test"\ndata_dir = "{data_dir}"\n')
    return Mailkeep(config, data_dir)


@pytest.fixture
def mk(tmp_path: Path) -> Mailkeep:
    return make(tmp_path)


def test_the_whole_flow(mk: Mailkeep) -> None:
    assert mk.ok("domain", "add", "example.test") == (
        "domain example.test added; its DKIM keys are made\n"
        "publish the DNS records that `mailkeep dns example.test` prints\n"
    )
    assert mk.ok("domain", "add", "Bücher.example").startswith("domain bücher.example added;")
    keys = sorted(p.name for p in (mk.data_dir / "dkim" / "example.test").glob("*-*"))
    assert [k.rsplit("-", 1)[1] for k in keys] == [
        "ed25519.key",
        "ed25519.pub",
        "rsa.key",
        "rsa.pub",
    ]
    assert mk.ok("domain", "list") == "example.test\nbücher.example\n"
    assert stat.S_IMODE(mk.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((mk.data_dir / DATABASE_NAME).stat().st_mode) == 0o600

    out = mk.ok(
        "user",
        "add",
        "Bob@example.test",
        "--password-stdin",
        "--quota",
        "2G",
        "--admin-of",
        "bücher.example",
        stdin="correct horse\n",
    )
    assert out == "user Bob@example.test added (id 1)\n"
    mk.ok("user", "add", "jörg@bücher.example", "--password-stdin", stdin="pässwörd\r\n")
    assert mk.ok("user", "list") == (
        "Bob@example.test  id=1  quota=2GiB  messages=unlimited  admin-of=bücher.example\n"
        "jörg@bücher.example  id=2  quota=unlimited  messages=unlimited\n"
    )
    assert mk.ok("user", "list", "bücher.example").startswith("jörg@bücher.example  id=2")
    assert mk.ok("user", "set", "bob@example.test", "--quota-messages", "500", "--no-admin") == (
        "Bob@example.test  id=1  quota=2GiB  messages=500\n"
    )

    out = mk.ok("alias", "add", "info@example.test", "bob@example.test", "far@remote.example")
    assert out == "alias info@example.test -> bob@example.test, far@remote.example\n"
    assert mk.ok("alias", "list") == "info@example.test -> bob@example.test, far@remote.example\n"
    mk.ok("alias", "del", "info@example.test", "far@remote.example")
    assert mk.ok("alias", "list", "example.test") == "info@example.test -> bob@example.test\n"

    assert mk.ok("domain", "catchall", "example.test") == "catch-all for example.test: off\n"
    out = mk.ok("domain", "catchall", "example.test", "info@example.test")
    assert out == "catch-all for example.test: info@example.test\n"

    mk.ok("user", "passwd", "BOB@example.test", "--password-stdin", stdin="battery staple\n")
    assert mk.ok("user", "disable", "bob@example.test") == "user Bob@example.test disabled\n"
    assert mk.ok("user", "list", "example.test").endswith("  disabled\n")

    # What the CLI wrote is what the server will read.
    with Directory(mk.data_dir / DATABASE_NAME) as directory:
        assert directory.authenticate("bob@example.test", "battery staple") is None  # disabled
        assert directory.resolve("anyone@example.test").outcome is Outcome.DISABLED
    mk.ok("user", "enable", "bob@example.test")
    with Directory(mk.data_dir / DATABASE_NAME) as directory:
        user = directory.authenticate("bob@example.test", "battery staple")
        assert user is not None and user.quota_bytes == 2 * 1024**3
        assert user.quota_messages == 500 and user.admin_of == ()
        assert directory.authenticate("JÖRG@bücher.example", "pässwörd") is not None
        assert [r.user_id for r in directory.resolve("anyone@example.test").local] == [1]

    mk.ok("domain", "catchall", "example.test", "--off")
    assert mk.ok("user", "del", "bob@example.test") == (
        "user Bob@example.test deleted (id 1)\n"
        "still pointing to it, now reaching no one there: info@example.test\n"
    )
    mk.ok("alias", "del", "info@example.test")
    mk.ok("domain", "del", "bücher.example", "--force")
    mk.ok("domain", "del", "example.test")
    assert mk.ok("domain", "list") == ""
    assert mk.ok("user", "list") == ""


ERRORS: list[tuple[tuple[str, ...], str | None, str]] = [
    (("domain", "add", "example.test"), None, "domain example.test already exists"),
    (
        ("domain", "add", "localhost"),
        None,
        "invalid domain name: 'localhost' is not fully qualified (expected e.g. mail.example.org)",
    ),
    (
        ("domain", "del", "example.test"),
        None,
        "domain example.test has 1 user and 1 alias: delete them first, or force (--force) to "
        "delete them with the domain",
    ),
    (
        ("domain", "del", "nowhere.test"),
        None,
        "domain nowhere.test is not a local domain: add it with `mailkeep domain add nowhere.test`",
    ),
    (
        ("domain", "catchall", "example.test", "ghost@example.test"),
        None,
        "ghost@example.test does not exist: add the user or alias first",
    ),
    (
        ("domain", "catchall", "example.test", "bob@example.test", "--off"),
        None,
        "give a TARGET or --off, not both",
    ),
    (
        ("user", "add", "bob@example.test", "--password-stdin"),
        "pw\n",
        "user bob@example.test already exists",
    ),
    (
        ("user", "add", "x@@y", "--password-stdin"),
        "pw\n",
        "invalid address 'x@@y': character '@' not allowed unquoted in local part",
    ),
    (
        ("user", "add", "carol@other.test", "--password-stdin"),
        "pw\n",
        "domain other.test is not a local domain: add it with `mailkeep domain add other.test`",
    ),
    (
        ("user", "add", "carol@example.test", "--password-stdin"),
        "\n",
        "the password is empty (give it as the first line of stdin)",
    ),
    (
        ("user", "add", "carol@example.test", "--password-stdin"),
        "",
        "the password is empty (give it as the first line of stdin)",
    ),
    (
        ("user", "add", "carol@example.test"),
        None,
        "no terminal to ask for the password: pipe it in with --password-stdin",
    ),
    (
        ("user", "add", "carol@example.test", "--password-stdin", "--quota", "12X"),
        "pw\n",
        "invalid size '12X': expected e.g. 500M, 2G, 1024 or unlimited",
    ),
    (
        ("user", "add", "carol@example.test", "--password-stdin", "--admin-of", "nowhere.test"),
        "pw\n",
        "domain nowhere.test is not a local domain: add it with `mailkeep domain add nowhere.test`",
    ),
    (
        ("user", "add", "info@example.test", "--password-stdin"),
        "pw\n",
        "info@example.test is an alias: delete the alias first",
    ),
    (("user", "del", "ghost@example.test"), None, "no such user ghost@example.test"),
    (("user", "disable", "ghost@example.test"), None, "no such user ghost@example.test"),
    (
        ("user", "passwd", "ghost@example.test", "--password-stdin"),
        "pw\n",
        "no such user ghost@example.test",
    ),
    (
        ("user", "passwd", "bob@example.test", "--password-stdin"),
        "a\x00b\n",
        "the password contains a prohibited character U+0000",
    ),
    (
        ("user", "passwd", "bob@example.test", "--password-stdin"),
        b"\xff\xfe\n",
        "the password on standard input is not UTF-8",
    ),
    (
        ("user", "set", "bob@example.test"),
        None,
        "nothing to change: give --quota, --quota-messages, --admin-of or --no-admin",
    ),
    (
        ("user", "set", "bob@example.test", "--quota", "1G", "--admin-of", "nowhere.test"),
        None,
        "domain nowhere.test is not a local domain: add it with `mailkeep domain add nowhere.test`",
    ),
    (
        ("user", "list", "nowhere.test"),
        None,
        "domain nowhere.test is not a local domain: add it with `mailkeep domain add nowhere.test`",
    ),
    (
        ("alias", "add", "bob@example.test", "x@remote.example"),
        None,
        "bob@example.test is a user: an alias with the same address would never be used",
    ),
    (
        ("alias", "add", "team@example.test", "bob@example.test", "ghost@example.test"),
        None,
        "ghost@example.test does not exist: add the user or alias first",
    ),
    (("alias", "del", "ghost@example.test"), None, "no such alias ghost@example.test"),
    (
        ("alias", "del", "info@example.test", "far@remote.example"),
        None,
        "alias info@example.test does not point to far@remote.example",
    ),
]


def test_every_error_is_one_line_exit_1_and_changes_nothing(mk: Mailkeep) -> None:
    mk.ok("domain", "add", "example.test")
    mk.ok("user", "add", "bob@example.test", "--password-stdin", stdin="pw\n")
    mk.ok("alias", "add", "info@example.test", "bob@example.test")
    before = mk.dump()
    problems = []
    for args, stdin, message in ERRORS:
        result = mk(*args, stdin=stdin)
        got = (result.returncode, result.stdout, result.stderr)
        if got != (1, "", f"mailkeep: {message}\n"):
            problems.append(f"{' '.join(args)}: {got!r}")
        if mk.dump() != before:
            problems.append(f"{' '.join(args)}: changed the database")
            before = mk.dump()
    assert not problems, "\n".join(problems)


def test_data_dir_is_created_private(tmp_path: Path) -> None:
    mk = make(tmp_path, tmp_path / "deep" / "data")
    mk.ok("domain", "list")
    assert stat.S_IMODE(mk.data_dir.stat().st_mode) == 0o700
    assert (mk.data_dir / DATABASE_NAME).is_file()


def test_unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for data_dir, message in [
        (blocker, f"data_dir {blocker} exists and is not a directory"),
        (blocker / "data", f"cannot create data_dir {blocker / 'data'}: not a directory"),
    ]:
        result = make(tmp_path, data_dir)("domain", "add", "example.test")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == f"mailkeep: {message}\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the command as another user")
def test_unwritable_data_dir_is_one_line() -> None:
    # pytest's tmp_path is private to root: this test needs a directory others can enter.
    with tempfile.TemporaryDirectory() as name:
        base = Path(name)
        base.chmod(0o755)
        data_dir = base / "data"
        data_dir.mkdir(mode=0o755)
        mk = make(base, data_dir)
        mk.config.chmod(0o644)
        result = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, MAILKEEP, "-c", str(mk.config), "domain", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if "cannot run as nobody" in result.stderr:
        pytest.skip(result.stderr.strip())  # e.g. the interpreter lives under /root
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"mailkeep: data_dir {data_dir} is not writable by this user (uid 65534)\n"
    )


_AS_NOBODY = """
import os, sys
try:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    os.execv(sys.argv[1], sys.argv[1:])
except OSError as exc:
    sys.exit(f"cannot run as nobody: {exc}")
"""


def test_password_prompt_on_a_terminal(mk: Mailkeep) -> None:
    pty = pytest.importorskip("pty")
    mk.ok("domain", "add", "example.test")
    pid, fd = pty.fork()
    if pid == 0:  # the child: mailkeep with the pty as its terminal
        try:
            args = [MAILKEEP, "-c", str(mk.config), "user", "add", "eve@example.test"]
            os.execv(MAILKEEP, args)  # noqa: S606 (a fixed program, no shell)
        finally:
            os._exit(127)
    transcript = b""
    try:
        for answer in (b"s3cret pass\n", b"s3cret pass\n"):
            transcript += _read_until(fd, b": ")
            os.write(fd, answer)
        transcript += _read_until(fd, b"added")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert b"s3cret" not in transcript  # hidden input is not echoed
    assert transcript.count(b"Password") == 1 and b"Repeat for confirmation" in transcript
    with Directory(mk.data_dir / DATABASE_NAME) as directory:
        assert directory.authenticate("eve@example.test", "s3cret pass") is not None


def _read_until(fd: int, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_sizes() -> None:
    cases = {"0": 0, "unlimited": 0, "1024": 1024, "10k": 10240, "500M": 500 * 1024**2}
    cases |= {"2G": 2 * 1024**3, "2GiB": 2 * 1024**3, "1 TB": 1024**4, " 7b ": 7}
    for text, size in cases.items():
        assert parse_size(text) == size, text
    for bad in ("", "-1", "1.5G", "12X", "G", "1e9"):
        with pytest.raises(UserError, match="invalid size"):
            parse_size(bad)
    assert format_size(0) == "unlimited"
    assert format_size(2 * 1024**3) == "2 GiB"
    assert format_size(1536 * 1024) == "1536 KiB"
    assert format_size(1000) == "1000 B"
