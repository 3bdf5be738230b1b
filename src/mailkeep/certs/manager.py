"""The certificate manager: the current TLS contexts, reloaded when the files change.

Implementation notes:

- Protocol servers never keep a context: they ask ``context(profile)`` at each handshake
  (implicit TLS at accept, STARTTLS when the command comes), so a reload reaches every new
  handshake and leaves connections already encrypted untouched (their SSL objects hold the
  old certificate).
- A reload builds brand-new contexts from the files and swaps them in only when every one
  loaded; a broken, half-written or mismatched file is logged and the old certificate stays.
- Changes are noticed on SIGHUP (``reload``) and by polling the files' (inode, size, mtime)
  every ``tls.reload_check_seconds`` (``watch``). The signature is taken before the files are
  read, so a write that lands during a reload is seen by the next poll.
- Every context built carries an SNI callback that moves the handshake onto the current
  context of its profile. Implicit-TLS sockets are created with the context current at
  start-up; the callback (called by OpenSSL for every ClientHello, with or without SNI) is
  what makes them serve a reloaded certificate. It is also where one certificate per
  hostname will plug in (``server_name`` is passed but not used yet).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailkeep.certs.contexts import TLSProfile, build_context
from mailkeep.certs.pair import CertificateInfo, check_pair
from mailkeep.certs.selfsigned import ensure_self_signed
from mailkeep.config.schema import Config
from mailkeep.errors import UserError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime.datetime]
FileSignature = tuple[tuple[int, int, int, int] | None, ...]


def utc_now() -> datetime.datetime:
    """The wall clock, in UTC (the default clock)."""
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """The PEM files a manager serves, and whether they are the generated self-signed pair."""

    cert: Path
    key: Path
    self_signed: bool = False


def files_from_config(config: Config, now: datetime.datetime) -> CertificateFiles:
    """The configured pair, or the self-signed one under data_dir/tls (made if needed)."""
    cert, key = config.tls.cert, config.tls.key
    if cert is not None and key is not None:  # the schema allows both or neither
        return CertificateFiles(cert, key)
    made = ensure_self_signed(config.data_dir / "tls", config.hostname, now)
    log.warning(
        "no certificate configured, serving a self-signed one: clients will warn; set "
        "tls.cert and tls.key",
        extra={"cert": str(made.cert), "new": made.created},
    )
    return CertificateFiles(made.cert, made.key, self_signed=True)


def _signature(files: CertificateFiles) -> FileSignature:
    result: list[tuple[int, int, int, int] | None] = []
    for path in (files.cert, files.key):
        try:
            st = os.stat(path)
        except OSError:
            result.append(None)
        else:
            result.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(result)


class CertificateManager:
    """Holds one context per TLSProfile for the configured certificate; reloads on demand."""

    def __init__(self, files: CertificateFiles, clock: Clock = utc_now) -> None:
        self.files = files
        self._clock = clock
        self._contexts: dict[TLSProfile, ssl.SSLContext] = {}
        self._signature: FileSignature = ()
        self.info: CertificateInfo | None = None

    def load(self) -> CertificateInfo:
        """First load at start-up: every problem is a one-line UserError."""
        signature = _signature(self.files)
        info, contexts = self._build()
        self._install(signature, info, contexts)
        return info

    def context(self, profile: TLSProfile, server_name: str | None = None) -> ssl.SSLContext:
        """The context for a handshake starting now (``server_name``: for SNI, later)."""
        try:
            return self._contexts[profile]
        except KeyError:
            raise RuntimeError("CertificateManager.load() was not called") from None

    def changed(self) -> bool:
        """Whether the files differ (inode, size or mtime) from those last loaded."""
        return _signature(self.files) != self._signature

    def reload(self, reason: str) -> bool:
        """Load the files again; on any problem log it and keep the current certificate."""
        signature = _signature(self.files)
        try:
            info, contexts = self._build()
        except UserError as exc:
            # Remember the broken files' signature so polling does not repeat this every tick.
            self._signature = signature
            log.error(
                "certificate reload failed, keeping the old one",
                extra={"reason": reason, "error": str(exc)},
            )
            return False
        self._install(signature, info, contexts)
        log.info(
            "certificate reloaded",
            extra={"reason": reason, "serial": f"{info.serial:x}", "subject": info.subject},
        )
        return True

    async def watch(self, interval: float) -> None:
        """Poll the files every ``interval`` seconds and reload when they change. Runs until
        cancelled."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                self.reload("files changed")

    def _build(self) -> tuple[CertificateInfo, dict[TLSProfile, ssl.SSLContext]]:
        info = check_pair(self.files.cert, self.files.key, self._clock())
        contexts = {}
        for profile in TLSProfile:
            try:
                context = build_context(profile, self.files.cert, self.files.key)
            except (ssl.SSLError, OSError) as exc:
                raise UserError(
                    f"cert {self.files.cert} and key {self.files.key} do not load: {exc}"
                ) from None
            context.sni_callback = self._sni_callback(profile)
            contexts[profile] = context
        return info, contexts

    def _sni_callback(
        self, profile: TLSProfile
    ) -> Callable[[ssl.SSLObject, str | None, ssl.SSLContext], None]:
        def switch(conn: ssl.SSLObject, server_name: str | None, front: ssl.SSLContext) -> None:
            current = self.context(profile, server_name)
            if current is not front:
                conn.context = current

        return switch

    def _install(
        self,
        signature: FileSignature,
        info: CertificateInfo,
        contexts: dict[TLSProfile, ssl.SSLContext],
    ) -> None:
        self._contexts = contexts
        self._signature = signature
        self.info = info
        for warning in info.warnings:
            log.warning("%s: renew it", warning)
