"""``mailkeep tlsrpt``: counts per policy domain and the failures' details."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner, Result

from mailkeep.cli import tlsrpt_cmd
from mailkeep.cli.context import CliContext
from mailkeep.cli.main import MailkeepGroup
from mailkeep.tlspolicy.tlsrpt import Negotiation, PolicyType, TLSReportLog
from mailkeep.tlspolicy.tlsrpt import Result as TLSResult


def run(config: Path, *args: str) -> Result:
    group = MailkeepGroup("mailkeep")
    for command in tlsrpt_cmd.COMMANDS:
        group.add_command(command)
    assert isinstance(group, click.Group)
    return CliRunner().invoke(group, list(args), obj=CliContext(config))


def test_summary_and_details(tmp_path: Path) -> None:
    config = tmp_path / "mailkeep.toml"
    config.write_text(f'hostname = "mx.a.test"\ndata_dir = "{tmp_path / "data"}"\n')
    assert "no outbound TLS results" in run(config, "tlsrpt").output
    log = TLSReportLog(tmp_path / "data" / "tlsrpt", clock=lambda: 1_700_000_000.0)
    log.record_sync(Negotiation("b.test", PolicyType.STS, "mx.b.test", TLSResult.SUCCESS))
    log.record_sync(Negotiation("b.test", PolicyType.STS, "mx.b.test", TLSResult.SUCCESS))
    log.record_sync(
        Negotiation(
            "b.test", PolicyType.STS, "mx.b.test", TLSResult.CERTIFICATE_NOT_TRUSTED, "bad CA"
        )
    )
    with (log.root / "2023-11-14.jsonl").open("a") as torn:
        torn.write('{"torn')  # a crash in the middle of a line
    result = run(config, "tlsrpt", "--details")
    assert result.exit_code == 0, result.output
    assert "b.test  sts  certificate-not-trusted 1, success 2" in result.output
    assert (
        "2023-11-14 22:13:20  b.test  mx.b.test  certificate-not-trusted  bad CA" in result.output
    )
