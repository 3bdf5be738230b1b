"""THE configuration of mailkeep: one typed schema.

Every setting has a type, a default that is the secure choice, and a one-line description
(the ``description`` of its Field) from which docs/config.md is generated. Unknown keys are
errors. Sections are classes; add new settings here, with the reason for a limit's default
in a comment beside it (DESIGN 3.6).

Every relative path in the file (any ``Path`` field, at any depth) is taken from the config
file's directory when the file is loaded (config.load); ``~`` is not expanded. A value type
that needs a name of its own in messages and docs carries a ``ValueKind`` in its
``Annotated`` metadata (see HostPort).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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


@dataclass(frozen=True, slots=True)
class ValueKind:
    """How a value type is named to people, in error messages and in docs/config.md."""

    words: str  # e.g. '"host:port" string'
    example: str  # a TOML value, e.g. '"127.0.0.1:2525"'


def _check_network(value: str) -> str:
    """Accept an address or a network in CIDR notation ("127.0.0.1/32", "::1")."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f'{value!r} is not a network, e.g. "127.0.0.1/32" or "::1"') from None
    return value


HostPort = Annotated[
    str, AfterValidator(_check_host_port), ValueKind('"host:port" string', '"127.0.0.1:2525"')
]
Network = Annotated[
    str, AfterValidator(_check_network), ValueKind("network string", '"127.0.0.1/32"')
]
Hostname = Annotated[
    str, AfterValidator(check_hostname), ValueKind("host name", '"mail.example.org"')
]


class Section(BaseModel):
    """A config table: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        frozen=True,
        validate_default=True,  # a bad default fails at once, not in production
        allow_inf_nan=False,  # TOML allows inf and nan; no setting here means them
    )


class Listen(Section):
    """Where each protocol listens, as "host:port". A listener absent here is off."""

    smtp: HostPort | None = Field(
        None,
        examples=["0.0.0.0:25"],
        description="MX: mail from other servers (port 25 in production); STARTTLS offered.",
    )
    submission: HostPort | None = Field(
        None,
        examples=["0.0.0.0:587"],
        description="Mail from your users' clients (port 587): STARTTLS, then AUTH.",
    )
    submissions: HostPort | None = Field(
        None,
        examples=["0.0.0.0:465"],
        description="Mail from your users' clients over implicit TLS (port 465).",
    )
    imap: HostPort | None = Field(
        None, examples=["0.0.0.0:143"], description="IMAP (port 143): login only after STARTTLS."
    )
    imaps: HostPort | None = Field(
        None, examples=["0.0.0.0:993"], description="IMAP over implicit TLS (port 993)."
    )
    pop3: HostPort | None = Field(
        None, examples=["0.0.0.0:110"], description="POP3 (port 110): login only after STLS."
    )
    pop3s: HostPort | None = Field(
        None, examples=["0.0.0.0:995"], description="POP3 over implicit TLS (port 995)."
    )


class TLS(Section):
    """The server certificate. With neither cert nor key, a self-signed one is made."""

    cert: Path | None = Field(
        None,
        description="PEM certificate chain (leaf first). Absent with key: a self-signed "
        "certificate for hostname is made under data_dir (clients will warn).",
        examples=["/etc/mailkeep/tls/fullchain.pem"],
    )
    key: Path | None = Field(
        None, description="PEM private key for cert.", examples=["/etc/mailkeep/tls/privkey.pem"]
    )
    reload_check_seconds: float = Field(
        30.0,
        ge=1,
        description="How often the certificate files are checked for changes (SIGHUP "
        "reloads at once).",
    )
    # RFC 9325 has no number; 30 s lets a slow mobile client finish while a peer that opens
    # connections and stalls cannot hold them for long.
    handshake_timeout_seconds: float = Field(
        30.0,
        ge=1,
        le=300,
        description="How long a client may take to complete a TLS handshake (implicit TLS "
        "or STARTTLS) before the connection is closed.",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Self:
        if (self.cert is None) != (self.key is None):
            have, missing = ("cert", "key") if self.key is None else ("key", "cert")
            raise ValueError(
                f"{have} is set but {missing} is not: set both, or neither for a "
                "self-signed certificate"
            )
        return self


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
    # Deep enough for any real chain of lists; bounds the lookups one recipient can cost.
    alias_max_depth: int = Field(
        10,
        ge=1,
        le=100,
        description="How deeply aliases may point to aliases; deeper is a routing loop.",
    )
    # RFC 7677 4: at least 4096. Each login costs the client this many HMACs, and the stored
    # keys are what an attacker with the database would brute-force, so more than the minimum.
    scram_iterations: int = Field(
        10_000,
        ge=4096,
        le=1_000_000,
        description="PBKDF2 iterations of the stored SCRAM-SHA-256 keys; a change applies "
        "to each user at their next password login.",
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
    # RFC 5321 4.5.3.2 gives clients 2 to 10 minutes per step; a server waiting on a client
    # that does not read its replies gets the same 5 minutes as an idle command wait.
    write_timeout_seconds: float = Field(
        300.0,
        ge=1,
        le=3600,
        description="How long a client may leave our replies unread (a full send buffer) "
        "before the connection is dropped.",
    )


class Logins(Section):
    """Logins on every protocol (SMTP AUTH, IMAP, POP3): failures get growing delays, then a
    temporary lockout, counted per client IP and per user; successes are remembered for a
    while so that a client's next login skips the costly password verification."""

    failure_delay_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Delay before answering a failed login; doubles with each "
        "recent failure (0 turns delays off, for tests).",
    )
    max_failure_delay_seconds: float = Field(
        16.0, ge=0, le=300, description="The longest delay before answering a failed login."
    )
    lockout_after_failures: int = Field(
        10,
        ge=1,
        le=10000,
        description="Failures within failure_window_seconds, per IP or per "
        "user, after which logins are refused for lockout_seconds.",
    )
    failure_window_seconds: float = Field(
        900.0, gt=0, description="How long a failed login counts against an IP and a user."
    )
    lockout_seconds: float = Field(
        900.0, ge=0, description="How long logins are refused after too many failures."
    )
    max_tracked: int = Field(
        100_000,
        ge=100,
        description="Memory bound: at most this many IPs and users are "
        "remembered; the oldest are forgotten first.",
    )
    # Decision 0013: clients log in again and again (a connection per folder, a sync every
    # minute) and argon2id costs ~100 ms of CPU each time. A remembered login is only valid
    # for the same stored hash, so a password change takes effect at once.
    verified_cache_seconds: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="How long a successful password check is remembered (as a keyed hash) "
        "so that the same user and password log in again without a new argon2id "
        "verification; 0 turns the memory off.",
    )
    verified_cache_entries: int = Field(
        10_000,
        ge=0,
        le=10_000_000,
        description="Memory bound of the remembered logins (about 150 bytes each); the "
        "oldest are forgotten first.",
    )


class POP3(Section):
    """The POP3 and POP3S listeners."""

    idle_timeout_seconds: float = Field(
        600.0,
        ge=600,
        description="Close a session idle this long (RFC 1939 3: at least 10 minutes).",
    )
    max_errors: int = Field(
        10, ge=1, le=1000, description="Bad commands before the session is closed."
    )
    # RFC 2449 4 limits commands to 255 octets; RFC 5034 4 lifts that for AUTH responses.
    max_line_octets: int = Field(
        8192, ge=255, le=65536, description="The longest command line accepted."
    )
    max_connections_per_ip: int = Field(
        20, ge=1, description="Simultaneous POP3 connections from one client IP."
    )


class SMTP(Section):
    """The SMTP listeners (MX, submission, submissions): per-connection protocol limits.
    The names match protocol.smtp.server.ServerLimits."""

    # RFC 5321 4.5.3.1.4: 512 octets, raised by parameters (RFC 3461 4, RFC 4954 5).
    max_command_line: int = Field(
        2048, ge=512, le=65536, description="The longest command line accepted (with CRLF)."
    )
    # RFC 4954 4: AUTH exchange lines may be up to 12288 octets.
    max_auth_line: int = Field(
        12288, ge=12288, le=65536, description="The longest AUTH command or response line."
    )
    # RFC 5322 2.1.1 says 998, but real mail breaks it; longer lines are noted, not refused.
    max_data_line: int = Field(
        1_000_000,
        ge=1000,
        description="The longest message line accepted; a longer one refuses the message.",
    )
    max_message_size: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        description="The largest message accepted, in octets (advertised as SIZE, RFC 1870).",
    )
    # RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients.
    max_recipients: int = Field(
        100, ge=100, description="Accepted recipients per message; more get 452 4.5.3."
    )
    max_errors: int = Field(
        20, ge=1, le=1000, description="Error replies before the session is closed with 421."
    )
    max_commands: int = Field(
        10_000, ge=100, description="Commands per connection before it is closed with 421."
    )
    reject_early_talkers: bool = Field(
        True,
        description="On the MX, a client that sends before the greeting gets 554 and is "
        "disconnected (RFC 5321 4.3.1: clients wait for the greeting).",
    )
    auth_on_mx: bool = Field(
        False, description="Offer AUTH (after STARTTLS) on the MX listener too."
    )


class SMTPSessions(Section):
    """The SMTP listeners' sessions: timeouts, greeting pause and rates (the adapter's
    limits; the protocol limits are in [smtp_limits])."""

    # Postscreen-style pause: real MTAs wait for the banner, spam bots often do not.
    greet_pause_seconds: float = Field(
        1.0,
        ge=0,
        le=30,
        description="On the MX, wait this long before the greeting; a client that talks "
        "meanwhile is an early talker (0 turns the pause off).",
    )
    # RFC 5321 4.5.3.2.7: a server waits at least 5 minutes for the next command.
    command_timeout_seconds: float = Field(
        300.0, ge=10, le=3600, description="How long to wait for the next command."
    )
    # RFC 5321 4.5.3.2.5-6: clients get 3 minutes per data block; we allow 5 like commands.
    data_timeout_seconds: float = Field(
        300.0, ge=10, le=3600, description="How long to wait for the next bytes of a message."
    )
    max_connections_per_ip: int = Field(
        20, ge=1, description="Simultaneous SMTP connections from one client IP."
    )
    # Bounds what one sender can push per minute before a 451 asks it to slow down.
    messages_per_minute_per_ip: int = Field(
        120, ge=1, description="Messages (MAIL commands) one client IP may start per minute."
    )
    messages_per_minute_per_user: int = Field(
        60, ge=1, description="Messages an authenticated user may start per minute."
    )


class IMAP(Section):
    """The IMAP and IMAPS listeners: size limits of the command reader. The names match
    protocol.imap.connection.IMAPLimits."""

    # RFC 2683 3.2.1.5: accept command lines of at least 8000 octets; sync clients send
    # long UID sets, so more.
    max_line: int = Field(
        65536, ge=8192, le=1024 * 1024, description="The longest command line (with CRLF)."
    )
    # Mailbox names, search strings and passwords are short; only messages are large.
    max_literal: int = Field(
        65536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="The largest literal other than an APPEND message.",
    )
    # RFC 7889: advertised as APPENDLIMIT; larger messages get NO [TOOBIG] before upload.
    max_message: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        description="The largest message APPEND accepts, in octets (APPENDLIMIT).",
    )
    # Memory bound per connection: a command is held whole until it is parsed.
    max_command: int = Field(
        64 * 1024 * 1024,
        ge=65536,
        description="All lines and literals of one command (bounds MULTIAPPEND).",
    )
    # Before login only LOGIN and ID take literals; anything larger is an attack.
    max_literal_before_login: int = Field(
        8192, ge=1024, le=65536, description="The largest literal accepted before login."
    )
    # RFC 9051 5.4: an autologout timer must be at least 30 minutes once logged in.
    autologout_seconds: float = Field(
        1800.0, ge=1800, description="Log out a logged-in session idle this long."
    )
    # Before login a client only greets and logs in; a silent one holds a slot for nothing.
    login_timeout_seconds: float = Field(
        60.0, ge=1, le=1800, description="Close a session idle this long before login."
    )
    # Clients open a few connections each (IDLE per folder); a NAT can hide several.
    max_connections_per_ip: int = Field(
        50, ge=1, description="Simultaneous IMAP connections from one client IP."
    )
    # Dovecot's mail_max_userip_connections is 10 per user and IP; allow several devices.
    max_connections_per_user: int = Field(
        30, ge=1, description="Simultaneous logged-in IMAP sessions of one user."
    )
    max_bad_commands: int = Field(
        20, ge=1, le=1000, description="Bad commands before the session is closed."
    )
    # RFC 8437 8: UNAUTHENTICATE lets one connection log in as several users in turn
    # (useful to admin tools); a proxy that checks only the first login must switch it off.
    unauthenticate: bool = Field(
        True, description="Offer UNAUTHENTICATE (RFC 8437): log out without disconnecting."
    )
    # RFC 9051 6.2.3 / 11.1: credentials go over TLS. A webmail or a benchmark on the same
    # host talks to the plaintext port over loopback, where nothing can be overheard.
    plaintext_login_networks: list[Network] = Field(
        [],
        description="Client networks that may log in on the plaintext port without "
        'STARTTLS (e.g. ["127.0.0.1/32", "::1"] for a webmail on this host); empty: '
        "everyone must use TLS.",
    )
    # RFC 5464 4.1: at least 1024 octets per value and 10 entries must fit; annotations are
    # notes and client settings, not files.
    metadata_max_value: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="The largest annotation value (IMAP METADATA), in octets.",
    )
    metadata_max_entries: int = Field(
        100, ge=10, le=100000, description="Annotations per mailbox, and for the server."
    )
    metadata_max_total: int = Field(
        1024 * 1024,
        ge=10 * 1024,
        description="All of a user's annotation values together, in octets.",
    )
    # CAPABILITY, STARTTLS, ID and the login itself need a handful.
    max_commands_before_login: int = Field(
        20, ge=5, le=1000, description="Commands allowed before login succeeds."
    )

    @model_validator(mode="after")
    def _command_holds_a_message(self) -> Self:
        if self.max_command < self.max_message:
            raise ValueError("max_command must be at least max_message")
        return self


class DNS(Section):
    """How mailkeep resolves names (SPF, DKIM, DMARC, MX, MTA-STS, DANE)."""

    nameservers: list[HostPort] | None = Field(
        None,
        examples=[["127.0.0.1:5353"]],
        description='Resolvers to ask, as "host:port"; absent: the system resolver '
        "(resolv.conf). DANE needs a DNSSEC-validating one on a trusted path.",
    )
    # RFC 7208 4.6.4 gives a whole SPF check 20 s; one query gets a share of it.
    timeout_seconds: float = Field(
        5.0, gt=0, le=30, description="How long one lookup may take before it is a temperror."
    )
    # Memory bound; answers are kept at most for their TTL.
    cache_size: int = Field(
        10_000, ge=0, le=10_000_000, description="Answers kept in memory (0: no cache)."
    )


class Store(Section):
    """The mail store under data_dir/mail. The names match store.models.StoreLimits."""

    # Dovecot's default; long enough for deep folder trees, bounded for LIST and logs.
    max_mailbox_name_bytes: int = Field(
        512, ge=64, le=4096, description="The longest mailbox name, in UTF-8 octets."
    )
    # No client nests deeper; bounds LIST work and how far a RENAME fans out.
    max_mailbox_depth: int = Field(
        32, ge=2, le=256, description="The most levels a mailbox name may have."
    )
    # Per user; bounds LIST output and the work of one RENAME (0: unlimited).
    max_mailboxes: int = Field(
        1000, ge=0, description="The most mailboxes one user may have (0: unlimited)."
    )
    # fsync is I/O-bound: concurrent deliveries fsync their files in parallel.
    io_threads: int = Field(
        16, ge=2, le=256, description="Threads for the store's writes (files, fsync, database)."
    )
    # Reads are mostly Python under the GIL: 2 threads read faster than 16 (docs/benchmarks.md).
    read_threads: int = Field(
        2, ge=1, le=64, description="Threads for the store's reads (FETCH, RETR, SEARCH)."
    )
    # The writer indexes this many texts per step when idle (about 1 ms each).
    index_batch: int = Field(
        25, ge=1, le=10_000, description="Messages added to the search index per idle step."
    )
    # Bounds file descriptors: each open user holds up to 3 SQLite connections (3 fds each).
    max_open_users: int = Field(
        1000,
        ge=0,
        description="Users' databases kept open, least recently used closed first (0: no limit).",
    )
    # Bounds the memory a stuck IMAP session can hold; beyond it the session re-reads the
    # mailbox (arrivals, expunges, and flags changed since its last MODSEQ) instead.
    change_feed_max_pending: int = Field(
        10_000,
        ge=1,
        description="Changes an IMAP session may fall behind before it resynchronises instead.",
    )


class MailAuth(Section):
    """Checks of mail arriving at the MX (SPF, DKIM, ARC, DMARC, DNS blocklists)."""

    verify: bool = Field(
        True,
        description="Check SPF, DKIM, ARC and DMARC of mail arriving at the MX. Turn off "
        "only behind a gateway that has checked it: no results are added and DMARC is not "
        "enforced (forged results in our name are still removed).",
    )
    dmarc_policy: Literal["enforce", "junk", "record"] = Field(
        "enforce",
        description="What a DMARC failure does: enforce (p=reject refused with 550 5.7.1, "
        "p=quarantine to Junk), junk (both to Junk, never refused), record (header only).",
    )
    trusted_arc_sealers: list[Hostname] = Field(
        [],
        examples=[["lists.example.org"]],
        description="ARC sealer domains (forwarders, lists) trusted to report what passed "
        "before them: a DMARC failure is delivered as if it passed when the chain passes, "
        "its newest sealer is listed, and that set's ARC-Authentication-Results show "
        "dmarc=pass, or a DKIM or SPF pass aligned with the From domain; empty: ARC is "
        "recorded, never trusted.",
    )
    # RFC 5321 4.5.3.2.6: the client waits 10 minutes for the reply to the end of DATA;
    # RFC 7208 4.6.4 gives SPF 20 s; DKIM, ARC and DMARC run beside it or after it.
    check_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=300,
        description="Longest time for all checks of one message; past it the message is "
        "deferred (451) under enforce, else delivered with temperror results.",
    )
    dnsbl_zones: list[Hostname] = Field(
        [],
        examples=[["zen.spamhaus.org"]],
        description="DNS blocklists (RFC 5782) asked about each MX client's IP; results go "
        "to the log and a header.",
    )
    dnsbl_reject: bool = Field(
        False,
        description="Refuse a client listed in a zone at connect (554 5.7.1 instead of the "
        "greeting).",
    )


TLSLevelName = Literal["none", "may", "encrypt", "verify"]


class Outbound(Section):
    """Delivery to other servers: the queue's retries and the SMTP client."""

    port: int = Field(
        25, ge=1, le=65535, description="TCP port used to reach MX hosts (tests change it)."
    )
    # RFC 5321 4.5.4.1: retry with back-off; 5 min doubling to 4 h is common practice.
    retry_first_seconds: float = Field(
        300.0, ge=1, description="Wait before the first retry of a deferred recipient; doubles."
    )
    retry_max_seconds: float = Field(
        14400.0, ge=1, description="The longest wait between two retries."
    )
    # RFC 3464 delay notification; 4 h as Postfix's delay_warning_time suggests.
    delay_warning_seconds: float = Field(
        14400.0, ge=0, description="Tell the sender after this long undelivered (0: never)."
    )
    # RFC 5321 4.5.4.1: give up after at least 4-5 days.
    give_up_seconds: float = Field(
        432000.0, ge=60, description="Bounce a message still undelivered after this long."
    )
    # Bounds sockets and memory: each connection holds one batch.
    max_connections: int = Field(
        100, ge=1, le=10_000, description="Outgoing SMTP connections open at once, in all."
    )
    # Receivers throttle senders that open many connections; Postfix uses 20.
    max_connections_per_domain: int = Field(
        10, ge=1, le=1000, description="Outgoing connections open at once to one domain."
    )
    max_messages_per_connection: int = Field(
        100, ge=1, le=10_000, description="Messages sent over one connection before it closes."
    )
    scan_interval_seconds: float = Field(
        5.0, gt=0, le=3600, description="How often the queue looks for due messages."
    )
    connect_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="How long to wait for a TCP connection to an MX."
    )
    # RFC 5321 4.5.3.2.1-6: the client's minimum timeouts.
    greeting_timeout_seconds: float = Field(
        300.0, gt=0, description="Wait for the 220 greeting (RFC 5321: 5 minutes)."
    )
    command_timeout_seconds: float = Field(
        300.0, gt=0, description="Wait for a reply to EHLO, MAIL, RCPT (RFC 5321: 5 minutes)."
    )
    data_init_timeout_seconds: float = Field(
        120.0, gt=0, description="Wait for the 354 to DATA (RFC 5321: 2 minutes)."
    )
    data_block_timeout_seconds: float = Field(
        180.0, gt=0, description="Wait for the peer to take each block of the message (3 min)."
    )
    data_end_timeout_seconds: float = Field(
        600.0, gt=0, description="Wait for the reply to the message's end (RFC 5321: 10 min)."
    )
    tls: TLSLevelName = Field(
        "may",
        description="TLS to MX hosts: none, may (STARTTLS when offered), encrypt (required), "
        "verify (required, certificate checked). MTA-STS and DANE raise it per domain.",
    )
    domain_tls: dict[str, TLSLevelName] = Field(
        default_factory=dict,
        examples=[{"example.org": "verify"}],
        description="Per-domain TLS level, overriding tls (and MTA-STS) for that domain.",
    )
    ca_file: Path | None = Field(
        None, description="CA certificates to verify peers with; absent: the system's."
    )
    ipv6: bool = Field(True, description="Try MX hosts' IPv6 addresses (before IPv4).")
    relay_host: HostPort | None = Field(
        None,
        examples=["smtp.provider.example:587"],
        description="Send all remote mail through this smart host instead of MX lookups.",
    )
    domain_relays: dict[str, HostPort] = Field(
        default_factory=dict,
        examples=[{"example.org": "relay.example.org:587"}],
        description="Smart hosts for single domains (same credentials as relay_host).",
    )
    relay_user: str | None = Field(None, description="AUTH PLAIN user name at the smart host.")
    relay_password_file: Path | None = Field(
        None, description="File holding the smart host password (first line)."
    )
    relay_tls: Literal["encrypt", "verify"] = Field(
        "verify", description="TLS to the smart host: always required; verify checks its name."
    )
    dane: bool = Field(
        True,
        description="Check MX certificates against DNSSEC-validated TLSA records (RFC 7672); "
        "needs a validating resolver in [dns].",
    )
    mta_sts: bool = Field(
        True, description="Honour domains' MTA-STS policies (RFC 8461) when sending to them."
    )
    mta_sts_port: int = Field(
        443, ge=1, le=65535, description="HTTPS port MTA-STS policies are fetched from (tests)."
    )

    @model_validator(mode="after")
    def _retry_bounds(self) -> Self:
        if self.retry_max_seconds < self.retry_first_seconds:
            raise ValueError("retry_max_seconds must be at least retry_first_seconds")
        if bool(self.relay_user) != bool(self.relay_password_file):
            raise ValueError("relay_user and relay_password_file go together")
        return self


class Config(Section):
    """The whole mailkeep.toml."""

    hostname: Hostname = Field(
        examples=["mail.example.org"],
        description="The server's own name: EHLO, banners, the self-signed certificate. "
        "Must resolve to this machine (its MX target).",
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
    logins: Logins = Field(
        default_factory=Logins, description="Login limits and the memory of recent logins."
    )
    pop3: POP3 = Field(default_factory=POP3, description="POP3.")
    dns: DNS = Field(default_factory=DNS, description="DNS resolution.")
    smtp_limits: SMTP = Field(default_factory=SMTP, description="SMTP server limits.")
    smtp: SMTPSessions = Field(
        default_factory=SMTPSessions, description="SMTP sessions: timeouts and rates."
    )
    imap: IMAP = Field(default_factory=IMAP, description="IMAP server limits.")
    store: Store = Field(default_factory=Store, description="The mail store.")
    outbound: Outbound = Field(
        default_factory=Outbound, description="Delivery to other servers (the queue)."
    )
    mailauth: MailAuth = Field(
        default_factory=MailAuth, description="Checks of arriving mail (SPF, DKIM, DMARC)."
    )
