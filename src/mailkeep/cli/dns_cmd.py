"""``mailkeep dns DOMAIN``: every DNS record a domain needs, in zone-file form.

MX (RFC 5321 5.1), SPF (RFC 7208), DKIM (RFC 6376 3.6.2), DMARC (RFC 7489 6.1),
MTA-STS (RFC 8461 3.1 and 3.2), TLS-RPT (RFC 8460 3), SRV for mail clients (RFC 6186,
RFC 8314 5.1: "." as target means the service is not offered).
"""

from __future__ import annotations

import hashlib

import click

from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.config.schema import Config
from mailkeep.errors import UserError
from mailkeep.mail.hostname import to_alabel
from mailkeep.mailauth.keys import KeyStore

MTA_STS_MAX_AGE = 604_800  # RFC 8461 3.2: a week; receivers cache the policy this long
TXT_CHUNK = 255  # RFC 1035 3.3: one character-string


def quoted_txt(text: str) -> str:
    """A TXT value as zone-file character-strings of at most 255 octets."""
    chunks = [text[i : i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)] or [""]
    return " ".join(f'"{c}"' for c in chunks)


def mta_sts_policy(config: Config) -> str:
    return f"version: STSv1\nmode: enforce\nmx: {config.hostname}\nmax_age: {MTA_STS_MAX_AGE}\n"


def _port(listen: str | None) -> int | None:
    return int(listen.rpartition(":")[2]) if listen else None


def records(config: Config, domain: str, store: KeyStore) -> list[str]:
    """The zone-file lines for ``domain``."""
    host = config.hostname
    policy = mta_sts_policy(config)
    policy_id = hashlib.sha256(policy.encode()).hexdigest()[:16]
    lines = [
        f"; DNS records for {domain} served by {host}",
        f"{domain}.\t3600\tIN\tMX\t10 {host}.",
        f'{domain}.\t3600\tIN\tTXT\t"v=spf1 mx -all"',
    ]
    for key in store.keys(domain):
        lines.append(f"{key.record_name}.\t3600\tIN\tTXT\t{quoted_txt(key.txt_record())}")
    if not store.keys(domain):
        lines.append(f"; no DKIM keys yet: run mailkeep dkim keygen {domain}")
    lines += [
        f'_dmarc.{domain}.\t3600\tIN\tTXT\t"v=DMARC1; p=reject; rua=mailto:postmaster@{domain}"',
        f'_mta-sts.{domain}.\t3600\tIN\tTXT\t"v=STSv1; id={policy_id}"',
        f"mta-sts.{domain}.\t3600\tIN\tCNAME\t{host}.",
        f"; policy served at https://mta-sts.{domain}/.well-known/mta-sts.txt :",
        *(f";   {line}" for line in policy.splitlines()),
        f'_smtp._tls.{domain}.\t3600\tIN\tTXT\t"v=TLSRPTv1; rua=mailto:postmaster@{domain}"',
    ]
    listen = config.listen
    services = [
        ("_submissions._tcp", _port(listen.submissions)),
        ("_submission._tcp", _port(listen.submission)),
        ("_imaps._tcp", _port(listen.imaps)),
        ("_imap._tcp", _port(listen.imap)),
        ("_pop3s._tcp", _port(listen.pop3s)),
        ("_pop3._tcp", _port(listen.pop3)),
    ]
    for priority, (service, port) in enumerate(services):
        if port is None:
            lines.append(f"{service}.{domain}.\t3600\tIN\tSRV\t0 0 0 .")
        else:
            lines.append(f"{service}.{domain}.\t3600\tIN\tSRV\t{priority} 1 {port} {host}.")
    return lines


@click.command("dns")
@click.argument("domain")
@pass_cli
def dns_command(obj: CliContext, domain: str) -> None:
    """Print every DNS record DOMAIN needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV)."""
    config = obj.config()
    try:
        name = to_alabel(domain)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for line in records(config, name, KeyStore(config.data_dir)):
        click.echo(line)


COMMANDS: list[click.Command] = [dns_command]
