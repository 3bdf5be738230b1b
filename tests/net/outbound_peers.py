"""Remote MX peers for the outbound client tests: Postfix's smtp-sink on a loopback
address, and small raw-socket peers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from tests.process.server import free_port
from tests.tools import require_tool


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port}")
        time.sleep(0.05)


@contextlib.contextmanager
def smtp_sink(host: str, port: int, dump: Path | None = None, *options: str) -> Iterator[Path]:
    """smtp-sink on host:port; with ``dump``, each transaction ends up in a file there
    (written first to a directory the unprivileged sink can reach, which is yielded, and
    copied on exit)."""
    binary = require_tool("smtp-sink")
    args = [binary, "-h", "sink.test"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    scratch = Path(tempfile.mkdtemp(prefix="mailkeep-sink-"))
    scratch.chmod(0o777)
    if dump is not None:
        args += ["-d", f"{scratch}/%H%M%S."]
    args += [*options, f"{host}:{port}", "100"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(host, port)
        yield scratch
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if dump is not None:
            shutil.copytree(scratch, dump, dirs_exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


def dumped(dump: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(dump.iterdir())]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawPeer:
    """An asyncio server on 127.0.0.x whose behaviour a test scripts (no SMTP engine)."""

    def __init__(self, host: str, handler: Handler) -> None:
        self.host = host
        self.port = free_port()
        self.handler = handler
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0

    async def __aenter__(self) -> RawPeer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def ehlo_then(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extensions: list[str]
) -> None:
    """Greet and answer EHLO with ``extensions``."""
    writer.write(b"220 peer.test ESMTP\r\n")
    await writer.drain()
    await reader.readline()
    lines = ["peer.test", *extensions]
    text = "".join(
        f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n" for i, line in enumerate(lines)
    )
    writer.write(text.encode())
    await writer.drain()
