"""``mailkeep dkim keygen | list | activate`` and ``mailkeep dns DOMAIN``."""

from __future__ import annotations

import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailkeep.cli import dkim_cmd, dns_cmd
from mailkeep.cli.context import CliContext
from mailkeep.cli.main import MailkeepGroup


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mailkeep.toml"
    path.write_text(
        f'hostname = "mx.a.test"\ndata_dir = "{tmp_path / "data"}"\n'
        '[listen]\nsubmissions = "0.0.0.0:465"\nimaps = "0.0.0.0:993"\n'
    )
    return path


def run(config: Path, *args: str) -> Result:
    group = MailkeepGroup("mailkeep")  # main.py registers these commands in the real CLI
    for command in dkim_cmd.COMMANDS + dns_cmd.COMMANDS:
        group.add_command(command)
    assert isinstance(group, click.Group)
    return CliRunner().invoke(group, list(args), obj=CliContext(config))


def test_keygen_creates_two_keys_with_safe_modes_and_is_idempotent(config: Path) -> None:
    first = run(config, "dkim", "keygen", "A.test", "--selector", "k1")
    assert first.exit_code == 0, first.output
    assert "a.test k1-ed25519 ed25519: created" in first.output
    assert "a.test k1-rsa rsa: created" in first.output
    assert 'k1-rsa._domainkey.a.test. IN TXT "v=DKIM1; k=rsa; p=' in first.output
    directory = config.parent / "data" / "dkim" / "a.test"
    for name in ("k1-ed25519", "k1-rsa"):
        assert stat.S_IMODE((directory / f"{name}.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((directory / f"{name}.pub").stat().st_mode) == 0o644
    before = (directory / "k1-rsa.key").read_bytes()
    again = run(config, "dkim", "keygen", "a.test", "--selector", "k1")
    assert again.exit_code == 0
    assert again.output.count("exists, unchanged") == 2
    assert (directory / "k1-rsa.key").read_bytes() == before


def test_rotation_list_and_activate(config: Path) -> None:
    run(config, "dkim", "keygen", "a.test", "-s", "old")
    new = run(config, "dkim", "keygen", "a.test", "-s", "new")
    assert "not active yet" in new.output  # the old keys keep signing until activation
    listing = run(config, "dkim", "list").output.splitlines()
    assert "* a.test old-rsa rsa" in listing and "  a.test new-rsa rsa" in listing
    done = run(config, "dkim", "activate", "a.test", "new-ed25519", "new-rsa")
    assert done.exit_code == 0
    assert "* a.test new-ed25519 ed25519" in run(config, "dkim", "list", "a.test").output
    bad = run(config, "dkim", "activate", "a.test", "missing")
    assert bad.exit_code == 1 and "no key for selector" in bad.output


def test_bad_names_are_user_errors(config: Path) -> None:
    result = run(config, "dkim", "keygen", "a.test", "-s", "../etc")
    assert result.exit_code == 1 and "not a valid selector" in result.output
    assert run(config, "dkim", "keygen", "bad..domain").exit_code == 1
    assert not (config.parent / "etc").exists()


def test_dns_prints_every_record(config: Path) -> None:
    run(config, "dkim", "keygen", "a.test", "-s", "k1")
    result = run(config, "dns", "a.test")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "a.test.\t3600\tIN\tMX\t10 mx.a.test." in out
    assert '"v=spf1 mx -all"' in out
    assert "k1-ed25519._domainkey.a.test.\t3600\tIN\tTXT" in out
    rsa_line = next(line for line in out.splitlines() if line.startswith("k1-rsa._domainkey"))
    strings = rsa_line.split("\t")[-1]
    assert strings.count('" "') >= 1  # a 2048-bit key needs several character-strings
    assert all(len(s) <= 255 for s in strings.strip('"').split('" "'))
    assert '_dmarc.a.test.\t3600\tIN\tTXT\t"v=DMARC1; p=reject' in out
    assert '_mta-sts.a.test.\t3600\tIN\tTXT\t"v=STSv1; id=' in out
    assert "https://mta-sts.a.test/.well-known/mta-sts.txt" in out
    assert '_smtp._tls.a.test.\t3600\tIN\tTXT\t"v=TLSRPTv1; rua=mailto:' in out
    assert "_submissions._tcp.a.test.\t3600\tIN\tSRV\t0 1 465 mx.a.test." in out
    assert "_imaps._tcp.a.test.\t3600\tIN\tSRV\t2 1 993 mx.a.test." in out
    assert "_pop3._tcp.a.test.\t3600\tIN\tSRV\t0 0 0 ." in out  # not offered (RFC 6186)


def test_dns_without_keys_says_how_to_make_them(config: Path) -> None:
    out = run(config, "dns", "b.test").output
    assert "mailkeep dkim keygen b.test" in out
