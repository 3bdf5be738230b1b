"""Debian's swaks, a real client, against the server core through a pipe (swaks --pipe)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tools import require_tool

ROOT = Path(__file__).resolve().parents[3]


def swaks(spool: Path, kind: str, *args: str) -> subprocess.CompletedProcess[str]:
    driver = f"{sys.executable} -m tests.protocol.smtp.pipe_driver {spool} {kind}"
    return subprocess.run(
        [require_tool("swaks"), "--pipe", driver, "--helo", "client.example", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_pipelined_message_with_dot_lines(tmp_path: Path) -> None:
    body = "first\n.dot line\n..\nlast"
    result = swaks(
        tmp_path,
        "mx",
        "--from",
        "a@b.example",
        "--to",
        "x@y.example,z@y.example",
        "--pipeline",
        "--body",
        body,
        "--header",
        "Subject: swaks",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<** " not in result.stdout  # no error replies
    message = (tmp_path / "0.eml").read_bytes()
    assert b"Subject: swaks\r\n" in message
    assert b"\r\n.dot line\r\n..\r\nlast\r\n" in message


def test_auth_plain_and_login(tmp_path: Path) -> None:
    for mechanism in ("PLAIN", "LOGIN"):
        result = swaks(
            tmp_path,
            "submissions",
            "--from",
            "alice@example.org",
            "--to",
            "x@y.example",
            "--auth",
            mechanism,
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            "correct horse",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "235 2.7.0 Authentication successful" in result.stdout


def test_wrong_password_fails(tmp_path: Path) -> None:
    result = swaks(
        tmp_path,
        "submissions",
        "--from",
        "alice@example.org",
        "--to",
        "x@y.example",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.org",
        "--auth-password",
        "nope",
    )
    assert result.returncode == 28  # swaks: authentication failed
    assert "535 5.7.8" in result.stdout
