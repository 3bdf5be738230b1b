"""The one place that builds mailkeep's objects from the config and wires them together.

``serve(config)`` is ``mailkeep serve``: prepare data_dir, load (or make) the certificate,
bind every listener, drop privileges, serve until SIGTERM/SIGINT, then stop gracefully.
SIGHUP reloads the certificate. ``protocol_handlers`` names the server of each protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import resource
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.accounts.throttle import LoginThrottle, ThrottleSettings
from mailkeep.accounts.verified import VerifiedLogins
from mailkeep.certs.contexts import TLSProfile
from mailkeep.certs.manager import CertificateManager, files_from_config, utc_now
from mailkeep.config.schema import Config
from mailkeep.delivery.authentication import (
    AuthenticationSettings,
    DMARCPolicy,
    InboundAuthenticator,
)
from mailkeep.delivery.inbound import InboundPolicy
from mailkeep.delivery.local_retry import LocalRetry, LocalRetrySettings
from mailkeep.delivery.pipeline import Pipeline
from mailkeep.delivery.ratelimit import RateLimiter
from mailkeep.delivery.routing import Router
from mailkeep.delivery.signing import DKIMSigner
from mailkeep.delivery.submission import SubmissionPolicy
from mailkeep.dns.dnspython import DnspythonResolver
from mailkeep.dns.resolver import CachingResolver, Resolver
from mailkeep.log import setup_logging
from mailkeep.mailauth.keys import KeyStore
from mailkeep.net.connection import Connection, ConnectionHandler, Timeouts
from mailkeep.net.imap.server import IMAPServer
from mailkeep.net.imap.session import IMAPSettings
from mailkeep.net.imap.session import Services as IMAPServices
from mailkeep.net.listeners import Listeners, ListenerSpec
from mailkeep.net.pop3_server import POP3Limits, POP3Server
from mailkeep.net.smtp_client import (
    ClientTimeouts,
    OutboundSettings,
    RelayHost,
    SMTPClientTransport,
    TLSLevel,
)
from mailkeep.net.smtp_server import SMTPServer, SMTPSettings
from mailkeep.privileges import (
    RunAs,
    check_writable,
    drop_privileges,
    give_to,
    prepare_data_dir,
    run_as_user,
)
from mailkeep.protocol.imap.connection import IMAPLimits
from mailkeep.protocol.smtp.settings import ServerLimits
from mailkeep.queue.schedule import RetrySchedule
from mailkeep.queue.spool import Spool
from mailkeep.queue.worker import QueueWorker, WorkerSettings
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import MetadataLimits, StoreLimits
from mailkeep.tlspolicy.mtasts import PolicySource
from mailkeep.tlspolicy.tlsrpt import TLSReportLog

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


def store_root(config: Config) -> Path:
    """Where the mail store keeps every user's mail."""
    return config.data_dir / "mail"


@dataclass(frozen=True, slots=True)
class Services:
    """The state and policies the protocol servers share."""

    directory: Directory
    store: DiskStore
    throttle: LoginThrottle
    spool: Spool
    resolver: Resolver  # one cache for the MX checks and the queue worker

    async def close(self) -> None:
        await self.store.close()
        self.directory.close()


def build_services(config: Config) -> Services:
    """Open the accounts directory and the mail store (after privileges are dropped, so
    every file they create belongs to server.user)."""
    logins = config.logins
    verified = VerifiedLogins(
        ttl=logins.verified_cache_seconds,
        max_entries=logins.verified_cache_entries,
        clock=time.monotonic,
    )
    directory = Directory(
        config.data_dir / DATABASE_NAME,
        subaddress_separator=config.accounts.subaddress_separator,
        max_alias_depth=config.accounts.alias_max_depth,
        verified=verified,
        scram_iterations=config.accounts.scram_iterations,
    )
    throttle_fields = logins.model_dump(
        exclude={"verified_cache_seconds", "verified_cache_entries"}
    )
    throttle = LoginThrottle(ThrottleSettings(**throttle_fields), time.monotonic)
    spool = Spool(spool_root(config))
    spool.sweep()
    store = DiskStore(store_root(config), limits=StoreLimits(**config.store.model_dump()))
    return Services(directory, store, throttle, spool, build_resolver(config))


def build_resolver(config: Config) -> CachingResolver:
    """The one DNS resolver (with its cache) every part of the server asks."""
    dns = config.dns
    return CachingResolver(
        DnspythonResolver(dns.nameservers, timeout=dns.timeout_seconds),
        max_entries=max(dns.cache_size, 1),
        timeout=dns.timeout_seconds,
    )


def protocol_handlers(config: Config, services: Services) -> dict[str, ConnectionHandler]:
    """The protocol server for each protocol. Plug a real one in by replacing its line."""
    pop3 = config.pop3
    return {
        "smtp": smtp_server(config, services, mx=True),
        "submission": smtp_server(config, services, mx=False),
        "imap": imap_server(config, services),
        "pop3": POP3Server(
            hostname=config.hostname,
            directory=services.directory,
            store=services.store,
            throttle=services.throttle,
            limits=POP3Limits(
                idle_timeout=pop3.idle_timeout_seconds,
                max_errors=pop3.max_errors,
                max_line=pop3.max_line_octets,
                max_connections_per_ip=pop3.max_connections_per_ip,
            ),
        ),
    }


def imap_server(config: Config, services: Services) -> IMAPServer:
    """The IMAP/IMAPS server: the core's size limits and the adapter's session limits."""
    imap = config.imap
    limit_names = {f.name for f in dataclasses.fields(IMAPLimits)}
    settings = IMAPSettings(
        autologout=imap.autologout_seconds,
        login_timeout=imap.login_timeout_seconds,
        max_connections_per_ip=imap.max_connections_per_ip,
        max_connections_per_user=imap.max_connections_per_user,
        max_bad_commands=imap.max_bad_commands,
        max_commands_before_login=imap.max_commands_before_login,
        max_append_message=imap.max_message,
        unauthenticate=imap.unauthenticate,
        plaintext_login_networks=tuple(
            ipaddress.ip_network(net, strict=False) for net in imap.plaintext_login_networks
        ),
        metadata=MetadataLimits(
            imap.metadata_max_value, imap.metadata_max_entries, imap.metadata_max_total
        ),
    )
    shared = IMAPServices(
        config.hostname, services.directory, services.store, services.throttle, settings
    )
    return IMAPServer(shared, IMAPLimits(**imap.model_dump(include=limit_names)))


def spool_root(config: Config) -> Path:
    """Where mail waiting for remote delivery is kept (queue.spool)."""
    return config.data_dir / "queue"


def outbound_settings(config: Config) -> OutboundSettings:
    """The SMTP client's settings from [outbound] (the relay password is read here)."""
    out = config.outbound
    relays: dict[str, RelayHost] = {}
    password = None
    if out.relay_password_file is not None:
        password = out.relay_password_file.read_text().splitlines()[0]

    def relay(host_port: str) -> RelayHost:
        host, _, port = host_port.rpartition(":")
        return RelayHost(
            host.strip("[]"), int(port), out.relay_user, password, TLSLevel(out.relay_tls)
        )

    for domain, host_port in out.domain_relays.items():
        relays[domain.lower()] = relay(host_port)
    return OutboundSettings(
        hostname=config.hostname,
        port=out.port,
        timeouts=ClientTimeouts(
            connect=out.connect_timeout_seconds,
            greeting=out.greeting_timeout_seconds,
            command=out.command_timeout_seconds,
            data_init=out.data_init_timeout_seconds,
            data_block=out.data_block_timeout_seconds,
            data_end=out.data_end_timeout_seconds,
        ),
        default_tls=TLSLevel(out.tls),
        domain_tls={d.lower(): TLSLevel(level) for d, level in out.domain_tls.items()},
        relay=relay(out.relay_host) if out.relay_host else None,
        domain_relays=relays,
        ca_file=out.ca_file,
        ipv6=out.ipv6,
        dane=out.dane,
    )


def local_retry(config: Config, services: Services) -> LocalRetry:
    """The task that retries local copies the store refused at the end of DATA."""
    outbound = config.outbound
    return LocalRetry(
        spool=services.spool,
        store=services.store,
        directory=services.directory,
        settings=LocalRetrySettings(
            hostname=config.hostname,
            retry_seconds=outbound.retry_first_seconds,
            max_retry_seconds=outbound.retry_max_seconds,
            give_up_seconds=outbound.give_up_seconds,
            scan_interval_seconds=max(outbound.scan_interval_seconds, 30.0),
        ),
    )


def outbound_worker(config: Config, spool: Spool, resolver: Resolver) -> QueueWorker:
    """The queue worker that delivers the spool to other servers."""
    out = config.outbound
    schedule = RetrySchedule(
        first_retry=out.retry_first_seconds,
        max_interval=out.retry_max_seconds,
        warn_after=out.delay_warning_seconds,
        give_up_after=out.give_up_seconds,
    )
    settings = WorkerSettings(
        hostname=config.hostname,
        schedule=schedule,
        max_connections=out.max_connections,
        max_connections_per_domain=out.max_connections_per_domain,
        max_messages_per_connection=out.max_messages_per_connection,
        scan_interval=out.scan_interval_seconds,
    )
    sts = None
    if out.mta_sts:
        sts = PolicySource(
            resolver,
            ca_file=out.ca_file,
            port=out.mta_sts_port,
            cache_file=config.data_dir / "mta-sts-cache.json",  # RFC 8461 5.1: survives restarts
        )
    transport = SMTPClientTransport(
        outbound_settings(config),
        resolver,
        sts=sts,
        tls_reports=TLSReportLog(config.data_dir / "tlsrpt"),
    )
    return QueueWorker(spool, transport, settings)


def smtp_server(config: Config, services: Services, *, mx: bool) -> SMTPServer:
    """The MX (``mx``) or the submission/submissions server."""
    router = Router(services.directory, services.store)
    pipeline = Pipeline(hostname=config.hostname, store=services.store, spool=services.spool)
    sessions = config.smtp
    limit_names = {f.name for f in dataclasses.fields(ServerLimits)}
    checks = config.mailauth
    authenticator = InboundAuthenticator(
        services.resolver,
        AuthenticationSettings(
            authserv_id=config.hostname,
            verify=checks.verify,
            dmarc_policy=DMARCPolicy(checks.dmarc_policy),
            trusted_sealers=frozenset(checks.trusted_arc_sealers),
            check_timeout=checks.check_timeout_seconds,
            dnsbl_zones=tuple(checks.dnsbl_zones),
            dnsbl_reject=checks.dnsbl_reject,
            dnsbl_timeout=config.dns.timeout_seconds,
        ),
    )
    return SMTPServer(
        hostname=config.hostname,
        mx=mx,
        directory=services.directory,
        throttle=services.throttle,
        inbound=InboundPolicy(router, pipeline, authenticator),
        submission=SubmissionPolicy(
            services.directory, router, pipeline, DKIMSigner(KeyStore(config.data_dir))
        ),
        settings=SMTPSettings(
            greet_pause=sessions.greet_pause_seconds,
            command_timeout=sessions.command_timeout_seconds,
            data_timeout=sessions.data_timeout_seconds,
            max_connections_per_ip=sessions.max_connections_per_ip,
        ),
        limits=ServerLimits(**config.smtp_limits.model_dump(include=limit_names)),
        rates=(
            RateLimiter(sessions.messages_per_minute_per_ip, time.monotonic),
            RateLimiter(sessions.messages_per_minute_per_user, time.monotonic),
        ),
        auth_on_mx=config.smtp_limits.auth_on_mx,
        reject_early_talkers=config.smtp_limits.reject_early_talkers,
    )


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
                    handler=_Dispatch(handlers, kind.protocol),
                )
            )
    return specs


class _Dispatch:
    """The listener's handler: looks the protocol server up per connection, so sockets can
    be bound (as root) before the servers exist (after privileges are dropped)."""

    def __init__(self, handlers: Mapping[str, ConnectionHandler], protocol: str) -> None:
        self._handlers = handlers
        self._protocol = protocol

    async def __call__(self, conn: Connection) -> None:
        await self._handlers[self._protocol](conn)


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
    for path in config.data_dir.glob(DATABASE_NAME + "*"):
        give_to(path, run_as)  # made by the CLI, perhaps as root
    handlers: dict[str, ConnectionHandler] = {}
    server = MailServer(config, certificates, handlers)
    await server.bind()
    try:
        drop_privileges(run_as)
        check_writable(config.data_dir)
        services = build_services(config)
        handlers.update(protocol_handlers(config, services))
        _warn_if_unreadable(certificates)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_stop_signal, server, signum)
        loop.add_signal_handler(signal.SIGHUP, _on_sighup, certificates)
    except BaseException:
        server.listeners.close_sockets()
        raise
    worker = outbound_worker(config, services.spool, services.resolver)
    services.spool.subscribe(worker.wake)  # mail spooled by SMTP goes out at once
    loop = asyncio.get_running_loop()
    queue = loop.create_task(worker.run(), name="outbound queue")
    retries = loop.create_task(local_retry(config, services).run(), name="local retries")
    try:
        await server.serve()
    finally:
        for task in (queue, retries):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await services.close()
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


def _raise_open_file_limit() -> None:
    """Every connection is a file descriptor, and the usual soft limit (1024) is far below
    the hard one: take the hard limit, so a busy server does not fail accept() early."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # e.g. hard is RLIM_INFINITY on some systems
        log.warning("could not raise the open file limit", extra={"soft": soft, "error": str(exc)})
    else:
        log.info("raised the open file limit", extra={"from": soft, "to": hard})


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
    _raise_open_file_limit()
    run_as = run_as_user(config.server.user)
    prepare_data_dir(config.data_dir, run_as)
    if run_as is None:
        check_writable(config.data_dir)
    with _runner() as runner:
        runner.run(_run(config, run_as))
