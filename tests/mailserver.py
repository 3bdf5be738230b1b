"""A real ``mailkeep serve`` with a domain, users and (optionally) mail, for protocol tests.

Users are made with the real CLI; mail placed before start-up goes through the real store
(``DiskStore``) on the same data_dir, which is closed before the server opens it.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.app import store_root
from mailkeep.certs.selfsigned import CERT_NAME
from mailkeep.config.load import load_config
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import Recipient
from tests.process.server import MAILKEEP, Served, write_config

DOMAIN = "example.test"
PASSWORD = "correct horse battery staple"


@dataclass
class MailServer:
    """What a test needs to talk to the server."""

    root: Path
    config: Path
    ports: dict[str, int]
    users: list[str] = field(default_factory=list)
    served: Served | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate (its own CA) clients must trust."""
        return self.data_dir / "tls" / CERT_NAME

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MAILKEEP), "-c", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    def add_user(self, address: str, password: str = PASSWORD) -> None:
        self.cli("user", "add", address, "--password-stdin", stdin=password + "\n")
        self.users.append(address)

    def user_id(self, address: str) -> int:
        with Directory(self.data_dir / DATABASE_NAME) as directory:
            return directory.get_user(address).id

    def deliver_offline(self, address: str, messages: Iterable[bytes]) -> None:
        """Put messages in the user's INBOX through the store, with the server stopped."""
        assert self.served is None or self.served.proc.poll() is not None
        user_id = self.user_id(address)
        cfg = load_config(self.config)

        async def run() -> None:
            store = DiskStore(store_root(cfg))
            try:
                for raw in messages:
                    [result] = await store.deliver([Recipient(user_id)], raw)
                    assert not isinstance(result, Exception), result
            finally:
                await store.close()

        asyncio.run(run())

    def start(self, wrapper: tuple[str, ...] = ()) -> Served:
        self.served = Served(self.config, wrapper).ready()
        return self.served

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served.close()


def make_server(root: Path, extra: str = "") -> MailServer:
    """A configured (not yet started) server with the domain example.test."""
    settings = "[logins]\nfailure_delay_seconds = 0\n" + extra
    config, ports = write_config(root, extra=settings)
    server = MailServer(root, config, ports)
    server.cli("domain", "add", DOMAIN)
    return server


def client_message(tag: str, i: int, extra: bytes = b"") -> bytes:
    """Message ``i`` of the client test user ``tag``: unique subject and Message-ID, a
    one-line body ("Hello i") and then ``extra`` (e.g. a line that starts with a dot)."""
    return (
        b"From: sender@example.org\r\nTo: %s@example.test\r\nSubject: %s %d\r\n"
        b"Message-ID: <%s.%d@example.org>\r\n\r\nHello %d\r\n"
        % (tag.encode(), tag.encode(), i, tag.encode(), i, i)
    ) + extra


def serve_client_users(
    root: Path, users: Iterable[str], message: Callable[[str, int], bytes], count: int = 3
) -> MailServer:
    """A started server where each name in ``users`` is a user NAME@example.test with
    ``message(NAME, 0..count-1)`` in the INBOX (one user per third-party client, so the
    client tests are independent)."""
    server = make_server(root)
    for name in users:
        server.add_user(f"{name}@{DOMAIN}")
        server.deliver_offline(f"{name}@{DOMAIN}", [message(name, i) for i in range(count)])
    server.start()
    return server


def mbsync_config(
    server: MailServer,
    local: Path,
    user: str,
    channel: str,
    *,
    account: str = "",
    near: str = "",
) -> str:
    """An mbsyncrc: the far side is ``user`` (password PASSWORD) on the server's IMAPS port,
    trusting the server's CA; the near side a Maildir under ``local``; ``channel`` the
    lines of the "Channel sync" section after its name, ``account`` and ``near`` lines
    added to the account and to the Maildir store."""
    return (
        f"IMAPAccount remote\nHost localhost\nPort {server.ports['imaps']}\n"
        f'User {user}\nPass "{PASSWORD}"\nSSLType IMAPS\n'
        f"CertificateFile {server.ca_file}\n{account}\n"
        "IMAPStore remote\nAccount remote\n\n"
        f"MaildirStore local\nPath {local}/\nInbox {local}/INBOX\n{near}\n"
        f"Channel sync\n{channel}"
    )


def offlineimap_config(
    server: MailServer, metadata: Path, local: Path, user: str, remote: str = ""
) -> str:
    """An offlineimaprc syncing ``user`` (PLAIN login, password PASSWORD, over IMAPS with
    the server's CA) into Maildir folders under ``local``; ``remote`` adds lines to the
    remote repository."""
    return (
        f"[general]\naccounts = main\nmetadata = {metadata}\n\n"
        "[Account main]\nlocalrepository = local\nremoterepository = remote\n\n"
        f"[Repository local]\ntype = Maildir\nlocalfolders = {local}\n\n"
        "[Repository remote]\ntype = IMAP\nremotehost = localhost\n"
        f"remoteport = {server.ports['imaps']}\nremoteuser = {user}\n"
        f"remotepass = {PASSWORD}\nssl = yes\nsslcacertfile = {server.ca_file}\n"
        f"auth_mechanisms = PLAIN\n{remote}"
    )
