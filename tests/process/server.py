"""Running ``mailkeep serve`` as a subprocess on loopback ports, for the process tests."""

from __future__ import annotations

import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from cryptography import x509

MAILKEEP = Path(sys.executable).with_name("mailkeep")
LISTENERS = ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    directory: Path,
    *,
    data_dir: Path | None = None,
    listen: dict[str, str] | None = None,
    extra: str = "",
    user: str | None = None,
) -> tuple[Path, dict[str, int]]:
    """A config on free loopback ports; returns its path and the port of each listener."""
    ports = {name: free_port() for name in LISTENERS}
    addresses = listen or {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    user = user or pwd.getpwuid(os.geteuid()).pw_name
    lines = [
        'hostname = "mail.example.test"',
        f'data_dir = "{data_dir or directory / "data"}"',
        "[listen]",
        *(f'{name} = "{address}"' for name, address in addresses.items()),
        "[server]",
        f'user = "{user}"',
        "shutdown_grace_seconds = 2",
        extra,
    ]
    path = directory / "mailkeep.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, ports


class Served:
    """A ``mailkeep serve`` process whose stderr is collected line by line."""

    def __init__(self, config: Path, wrapper: tuple[str, ...] = ()) -> None:
        """``wrapper`` goes before the command (benchmarks: a profiler)."""
        self.proc = subprocess.Popen(
            [*wrapper, str(MAILKEEP), "-c", str(config), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 30, start: int = 0) -> str:
        """The first log line from ``start`` on matching ``pattern``; fails after timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no log line matches {pattern!r}:\n" + self.text)
                self._changed.wait(min(remaining, 0.1))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def ready(self) -> Served:
        self.wait_for(r"msg=ready")
        return self

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def exit_status(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        """Kill the process if it still runs and release its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def tls_connection(port: int, host: str = "127.0.0.1") -> ssl.SSLSocket:
    """An implicit-TLS connection that does not check the (self-signed) certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host, port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname="mail.example.test")
    except BaseException:
        raw.close()
        raise


def served_certificate(port: int, host: str = "127.0.0.1") -> x509.Certificate:
    """Connect with implicit TLS; the certificate the server presents."""
    with tls_connection(port, host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)
