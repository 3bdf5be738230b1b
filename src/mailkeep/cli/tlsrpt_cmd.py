"""``mailkeep tlsrpt [--details]``: the outbound TLS results recorded per policy domain.

Reads what the queue's SMTP client wrote under data_dir/tlsrpt (tlspolicy.tlsrpt): one line
per (policy domain, policy type) with the count of each RFC 8460 result type.
"""

from __future__ import annotations

import datetime

import click

from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.tlspolicy.tlsrpt import TLSReportLog


@click.command("tlsrpt")
@click.option("--details", is_flag=True, help="Every failure with its time, MX and reason.")
@pass_cli
def tlsrpt_command(obj: CliContext, details: bool) -> None:
    """TLS negotiation results of outbound mail, per destination policy domain."""
    reports = TLSReportLog(obj.config().data_dir / "tlsrpt")
    summary = reports.summary()
    if not summary:
        click.echo("no outbound TLS results recorded yet")
        return
    for (domain, policy_type), counts in sorted(summary.items()):
        results = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        click.echo(f"{domain}  {policy_type}  {results}")
    if details:
        for entry in reports.entries():
            if entry.get("result") == "success":
                continue
            stamp = entry.get("time")
            when = (
                datetime.datetime.fromtimestamp(stamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
                if isinstance(stamp, int | float)
                else "?"
            )
            click.echo(
                f"{when}  {entry.get('policy_domain')}  {entry.get('mx_host')}  "
                f"{entry.get('result')}  {entry.get('detail')}"
            )


COMMANDS: list[click.Command] = [tlsrpt_command]
