"""``mailkeep config ...`` end to end: the real entry point in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailkeep.config.docgen import render_example, render_reference
from tests.tools import require_tool

MAILKEEP = Path(sys.executable).parent / "mailkeep"
MINIMAL = 'hostname = "mail.example.org"\n[listen]\nimaps = "127.0.0.1:2993"\n'


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MAILKEEP_CONFIG"}
    environ.update(env or {})
    return subprocess.run(
        [*prefix, str(MAILKEEP), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr of a failed run: one ``mailkeep: `` line per problem, nothing else."""
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("mailkeep: ") for line in lines), lines
    return [line.removeprefix("mailkeep: ") for line in lines]


def test_valid_file_is_ok_with_a_warning_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "mailkeep.toml").write_text(MINIMAL)
    result = run("config", "check", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "mailkeep.toml: ok\n"
    assert result.stderr == (
        "mailkeep: warning: mailkeep.toml: tls: neither cert nor key is set: a self-signed "
        "certificate for mail.example.org will be made under /var/lib/mailkeep (mail clients "
        "will warn)\n"
    )


def test_each_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[listen]\nsmtp = 25\nimapss = "127.0.0.1:993"\n[log]\nlevel = "loud"\n')
    assert error_lines(run("-c", str(path), "config", "check", cwd=tmp_path)) == [
        f'{path}: hostname: required, e.g. hostname = "mail.example.org"',
        f'{path}: listen.smtp: expected a "host:port" string like "0.0.0.0:25", got 25 '
        "(an integer)",
        f"{path}: listen.imapss: unknown key; did you mean 'imaps'?",
        f'{path}: log.level: expected "debug", "info", "warning" or "error", got "loud" (a string)',
    ]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL + "[tls\n")
    (line,) = error_lines(run("-c", str(path), "config", "check", cwd=tmp_path))
    assert line.startswith(f"{path}: line 4, column 5: not valid TOML: ")


def test_environment_variable_pointing_at_a_directory(tmp_path: Path) -> None:
    result = run("config", "check", cwd=tmp_path, env={"MAILKEEP_CONFIG": str(tmp_path)})
    assert error_lines(result) == [f"{tmp_path}: is a directory, not a config file"]


def test_missing_file_named_by_option(tmp_path: Path) -> None:
    result = run("-c", "nope.toml", "config", "check", cwd=tmp_path)
    assert error_lines(result) == ["nope.toml: config file not found"]


@pytest.mark.skipif(
    Path("/etc/mailkeep/mailkeep.toml").exists(), reason="this machine has a system config"
)
def test_no_config_anywhere(tmp_path: Path) -> None:
    (line,) = error_lines(run("config", "check", cwd=tmp_path))
    assert line.startswith("no config file: pass -c FILE, set MAILKEEP_CONFIG")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text(MINIMAL)
    path.chmod(0)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root reads anything: run without the capabilities that allow it
        setpriv = require_tool("setpriv")
        prefix = (setpriv, "--bounding-set", "-dac_override,-dac_read_search")
    env = {"MAILKEEP_CONFIG": str(path)}
    result = run("config", "check", cwd=tmp_path, env=env, prefix=prefix)
    assert error_lines(result) == [f"{path}: cannot read config file: permission denied"]


def test_certificate_files_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "mailkeep.toml"
    path.write_text(MINIMAL + '[tls]\ncert = "c.pem"\nkey = "k.pem"\n')
    assert error_lines(run("config", "check", cwd=tmp_path)) == [
        f"mailkeep.toml: tls.cert: {tmp_path / 'c.pem'}: file not found",
        f"mailkeep.toml: tls.key: {tmp_path / 'k.pem'}: file not found",
    ]


def test_reference_needs_no_config_and_writes_stdout_or_a_file(tmp_path: Path) -> None:
    result = run("config", "reference", cwd=tmp_path, env={"MAILKEEP_CONFIG": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_reference()
    out = tmp_path / "config.md"
    result = run("config", "reference", "-o", str(out), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
    assert out.read_text() == render_reference()


def test_reference_to_an_unwritable_place(tmp_path: Path) -> None:
    result = run("config", "reference", "-o", str(tmp_path / "no" / "x.md"), cwd=tmp_path)
    assert error_lines(result) == [
        f"{tmp_path / 'no' / 'x.md'}: cannot write: No such file or directory"
    ]


def test_example_passes_check(tmp_path: Path) -> None:
    result = run("config", "example", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == render_example()
    (tmp_path / "mailkeep.toml").write_text(result.stdout)
    checked = run("config", "check", cwd=tmp_path)
    assert (checked.returncode, checked.stdout) == (0, "mailkeep.toml: ok\n")
