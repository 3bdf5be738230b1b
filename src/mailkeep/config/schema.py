"""THE configuration of mailkeep: one typed schema.

Every setting has a type, a default that is the secure choice, and a one-line description
(the ``description`` of its Field) from which docs/config.md is generated. Unknown keys are
errors. Sections are classes; add new settings here, with the reason for a limit's default
in a comment beside it (DESIGN 3.6).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mailkeep.mail.hostname import check_hostname


def _check_host_port(value: str) -> str:
    """Accept "host:port" and "[v6]:port" with a port from 1 to 65535."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError('expected "host:port", e.g. "127.0.0.1:2525" or "[::1]:2525"')
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port {port!r} is not a number from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{host} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError('write an IPv6 address in brackets, e.g. "[::1]:2525"')
    return value


HostPort = Annotated[str, AfterValidator(_check_host_port)]
Hostname = Annotated[str, AfterValidator(check_hostname)]


class Section(BaseModel):
    """A config table: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


class Listen(Section):
    """Where each protocol listens, as "host:port". A listener absent here is off."""

    smtp: HostPort | None = Field(
        None, description="MX: mail from other servers (port 25 in production); STARTTLS offered."
    )
    submission: HostPort | None = Field(
        None, description="Mail from your users' clients (port 587): STARTTLS, then AUTH."
    )
    submissions: HostPort | None = Field(
        None, description="Mail from your users' clients over implicit TLS (port 465)."
    )
    imap: HostPort | None = Field(None, description="IMAP (port 143): login only after STARTTLS.")
    imaps: HostPort | None = Field(None, description="IMAP over implicit TLS (port 993).")
    pop3: HostPort | None = Field(None, description="POP3 (port 110): login only after STLS.")
    pop3s: HostPort | None = Field(None, description="POP3 over implicit TLS (port 995).")


class TLS(Section):
    """The server certificate. With neither cert nor key, a self-signed one is made."""

    cert: Path | None = Field(
        None,
        description="PEM certificate chain (leaf first). Absent with key: a self-signed "
        "certificate for hostname is made under data_dir (clients will warn).",
    )
    key: Path | None = Field(None, description="PEM private key for cert.")
    reload_check_seconds: float = Field(
        30.0,
        ge=1,
        description="How often the certificate files are checked for changes (SIGHUP "
        "reloads at once).",
    )


class Log(Section):
    """What the server writes to stderr."""

    format: Literal["keyvalue", "json"] = Field(
        "keyvalue", description="One line per event: key=value pairs, or one JSON object."
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The least severe level written."
    )


class Accounts(Section):
    """How addresses map to users."""

    subaddress_separator: str = Field(
        "+",
        max_length=1,
        description="user+tag@domain reaches user@domain; empty turns subaddressing off.",
    )


class Server(Section):
    """The process itself."""

    user: str = Field(
        "mailkeep",
        description="Started as root, the server binds its ports and then runs as this "
        "user (ignored when not started as root).",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        le=600,
        description="On SIGTERM, how long transactions in flight may take to finish "
        "before connections are closed.",
    )


class Config(Section):
    """The whole mailkeep.toml."""

    hostname: Hostname = Field(
        description="The server's own name: EHLO, banners, the self-signed certificate. "
        "Must resolve to this machine (its MX target)."
    )
    data_dir: Path = Field(
        Path("/var/lib/mailkeep"),
        description="Everything mailkeep writes lives under here: accounts, mail, queue, keys.",
    )
    listen: Listen = Field(default_factory=Listen, description="Listeners.")
    tls: TLS = Field(default_factory=TLS, description="Certificates.")
    log: Log = Field(default_factory=Log, description="Logging.")
    accounts: Accounts = Field(default_factory=Accounts, description="Addresses.")
    server: Server = Field(default_factory=Server, description="The process.")
