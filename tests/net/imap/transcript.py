"""A raw IMAPS session for tests that check responses line by line (CONDSTORE, QRESYNC)."""

from __future__ import annotations

import re
import ssl
from itertools import count

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.test_auth import exchange, raw_session


class Transcript:
    """One logged-in connection; ``cmd`` sends a command and returns every line up to and
    including its tagged response."""

    def __init__(self, server: MailServer, user: str) -> None:
        self.sock: ssl.SSLSocket = raw_session(server)
        self._tags = count(1)
        greeting = self.sock.recv(4096)
        assert greeting.startswith(b"* OK"), greeting
        self.ok(f'LOGIN {user} "{PASSWORD}"')

    def cmd(self, line: str) -> list[str]:
        tag = f"t{next(self._tags)}"
        out = exchange(self.sock, f"{tag} {line}".encode(), tag.encode())
        lines = out.decode("utf-8", "replace").split("\r\n")
        while lines and not lines[-1].startswith(tag + " "):
            lines.pop()  # the tagged line ends the answer (exchange stops there)
        return [
            ln.replace(tag + " ", "TAG ", 1) if ln.startswith(tag + " ") else ln for ln in lines
        ]

    def ok(self, line: str) -> list[str]:
        """``cmd``, asserting a tagged OK; the untagged lines and the tagged one."""
        lines = self.cmd(line)
        assert lines[-1].startswith("TAG OK"), lines
        return lines

    def close(self) -> None:
        try:
            self.cmd("LOGOUT")
        except OSError:
            pass
        self.sock.close()


def code_value(lines: list[str], code: str) -> int:
    """The number in the first ``[CODE n]`` of the lines."""
    for line in lines:
        found = re.search(rf"\[{code} (\d+)\]", line)
        if found:
            return int(found.group(1))
    raise AssertionError(f"no [{code}] in {lines}")


def fetches(lines: list[str]) -> list[str]:
    return [ln for ln in lines if re.match(r"\* \d+ FETCH ", ln)]
