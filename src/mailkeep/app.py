"""The one place that builds mailkeep's objects from the config and wires them together.

``serve(config)`` is ``mailkeep serve``: prepare data_dir, load (or make) the certificate,
bind every listener, drop privileges, serve until SIGTERM/SIGINT, then stop gracefully.
SIGHUP reloads the certificate. A protocol server replaces its placeholder in
``protocol_handlers`` with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from mailkeep.certs.contexts import TLSProfile
from mailkeep.certs.manager import CertificateManager, files_from_config, utc_now
from mailkeep.config.schema import Config
from mailkeep.log import setup_logging
from mailkeep.net.connection import ConnectionHandler, Timeouts
from mailkeep.net.listeners import Listeners, ListenerSpec
from mailkeep.net.placeholder import imap_not_available, pop3_not_available, smtp_not_available
from mailkeep.privileges import (
    RunAs,
    check_writable,
    drop_privileges,
    give_to,
    prepare_data_dir,
    run_as_user,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListenerKind:
    """What a config listener key means: its protocol, TLS mode and TLS profile."""

    protocol: str
    implicit_tls: bool
    tls_profile: TLSProfile


# RFC 8314 3.3 (submissions 465), 3.2 (imaps 993, pop3s 995); RFC 3207 (smtp STARTTLS).
LISTENER_KINDS: Mapping[str, ListenerKind] = {
    "smtp": ListenerKind("smtp", implicit_tls=False, tls_profile=TLSProfile.MX),
    "submission": ListenerKind("submission", implicit_tls=False, tls_profile=TLSProfile.CLIENT),
    "submissions": ListenerKind("submission", implicit_tls=True, tls_profile=TLSProfile.CLIENT),
    "imap": ListenerKind("imap", implicit_tls=False, tls_profile=TLSProfile.CLIENT),
    "imaps": ListenerKind("imap", implicit_tls=True, tls_profile=TLSProfile.CLIENT),
    "pop3": ListenerKind("pop3", implicit_tls=False, tls_profile=TLSProfile.CLIENT),
    "pop3s": ListenerKind("pop3", implicit_tls=True, tls_profile=TLSProfile.CLIENT),
}


def protocol_handlers(config: Config) -> dict[str, ConnectionHandler]:
    """The protocol server for each protocol. Plug a real one in by replacing its line."""
    return {
        "smtp": smtp_not_available(config.hostname),
        "submission": smtp_not_available(config.hostname),
        "imap": imap_not_available(config.hostname),
        "pop3": pop3_not_available(config.hostname),
    }


def listener_specs(config: Config, handlers: Mapping[str, ConnectionHandler]) -> list[ListenerSpec]:
    """One ListenerSpec per listener set in [listen]."""
    specs = []
    for name, kind in LISTENER_KINDS.items():
        address = getattr(config.listen, name)
        if address is not None:
            specs.append(
                ListenerSpec(
                    name=name,
                    address=address,
                    implicit_tls=kind.implicit_tls,
                    tls_profile=kind.tls_profile,
                    handler=handlers[kind.protocol],
                )
            )
    return specs


def build_certificates(config: Config, run_as: RunAs | None) -> CertificateManager:
    """Find or make the certificate and load it (UserError on any problem)."""
    files = files_from_config(config, utc_now())
    if files.self_signed:
        for path in (files.cert.parent, files.cert, files.key):
            give_to(path, run_as)
    manager = CertificateManager(files)
    info = manager.load()
    log.info(
        "certificate loaded",
        extra={
            "cert": str(files.cert),
            "subject": info.subject,
            "serial": f"{info.serial:x}",
            "not_after": info.not_after.date().isoformat(),
        },
    )
    return manager


class MailServer:
    """The running server: listeners and certificates; stopped by ``request_stop``."""

    def __init__(
        self,
        config: Config,
        certificates: CertificateManager,
        handlers: Mapping[str, ConnectionHandler],
    ) -> None:
        self.config = config
        self.certificates = certificates
        self.listeners = Listeners(
            certificates,
            Timeouts(
                handshake=config.tls.handshake_timeout_seconds,
                write=config.server.write_timeout_seconds,
            ),
        )
        self._specs = listener_specs(config, handlers)
        self._stop = asyncio.Event()

    async def bind(self) -> None:
        """Open every listening socket, or none (UserError)."""
        await self.listeners.bind(self._specs)

    def request_stop(self) -> None:
        """Begin a graceful stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def serve(self) -> None:
        """Accept connections and watch the certificate until ``request_stop``, then stop."""
        watcher = asyncio.get_running_loop().create_task(
            self.certificates.watch(self.config.tls.reload_check_seconds)
        )
        try:
            await self.listeners.start()
            log.info("ready", extra={"hostname": self.config.hostname})
            await self._stop.wait()
            await self.listeners.shutdown(self.config.server.shutdown_grace_seconds)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.listeners.close_sockets()


async def _run(config: Config, run_as: RunAs | None) -> None:
    certificates = build_certificates(config, run_as)
    server = MailServer(config, certificates, protocol_handlers(config))
    await server.bind()
    try:
        drop_privileges(run_as)
        check_writable(config.data_dir)
        _warn_if_unreadable(certificates)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_stop_signal, server, signum)
        loop.add_signal_handler(signal.SIGHUP, _on_sighup, certificates)
    except BaseException:
        server.listeners.close_sockets()
        raise
    await server.serve()
    log.info("stopped")


def _warn_if_unreadable(certificates: CertificateManager) -> None:
    for path in (certificates.files.cert, certificates.files.key):
        if not os.access(path, os.R_OK):
            log.warning(
                "certificate file not readable after dropping privileges: reloads will fail; "
                "let server.user (or one of its groups) read it",
                extra={"path": str(path)},
            )


def _on_stop_signal(server: MailServer, signum: int) -> None:
    log.info("stop requested", extra={"signal": signal.Signals(signum).name})
    server.request_stop()


def _on_sighup(certificates: CertificateManager) -> None:
    log.info("reload requested", extra={"signal": "SIGHUP"})
    certificates.reload("SIGHUP")


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def serve(config: Config) -> None:
    """Run the mail server until stopped by a signal. Raises UserError for a problem a
    person must fix (before anything is served)."""
    setup_logging(config.log.format, config.log.level)
    run_as = run_as_user(config.server.user)
    prepare_data_dir(config.data_dir, run_as)
    if run_as is None:
        check_writable(config.data_dir)
    with _runner() as runner:
        runner.run(_run(config, run_as))
