"""Finding and reading the config file; relative paths; warnings and file checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailkeep.config.load import (
    check_files,
    config_warnings,
    find_config,
    load_config,
    parse_config,
)
from mailkeep.errors import ConfigError

MINIMAL = 'hostname = "mail.example.org"\n'


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A working directory and a stand-in for /etc/mailkeep/mailkeep.toml, both empty."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work, tmp_path / "etc" / "mailkeep.toml"


def search(etc: Path) -> tuple[Path, Path]:
    return (Path("mailkeep.toml"), etc)


def test_explicit_file_comes_first(places: tuple[Path, Path], tmp_path: Path) -> None:
    work, etc = places
    (work / "mailkeep.toml").write_text(MINIMAL)
    chosen = tmp_path / "chosen.toml"
    env = {"MAILKEEP_CONFIG": str(tmp_path / "env.toml")}
    assert find_config(chosen, env, search(etc)) == chosen


def test_environment_comes_before_the_search_path(places: tuple[Path, Path]) -> None:
    work, etc = places
    (work / "mailkeep.toml").write_text(MINIMAL)
    assert find_config(None, {"MAILKEEP_CONFIG": "/x/env.toml"}, search(etc)) == Path("/x/env.toml")


def test_empty_environment_variable_is_ignored(places: tuple[Path, Path]) -> None:
    work, etc = places
    (work / "mailkeep.toml").write_text(MINIMAL)
    assert find_config(None, {"MAILKEEP_CONFIG": ""}, search(etc)) == Path("mailkeep.toml")


def test_current_directory_comes_before_etc(places: tuple[Path, Path]) -> None:
    work, etc = places
    etc.parent.mkdir()
    etc.write_text(MINIMAL)
    assert find_config(None, {}, search(etc)) == etc
    (work / "mailkeep.toml").write_text(MINIMAL)
    assert find_config(None, {}, search(etc)) == Path("mailkeep.toml")


def test_a_directory_named_mailkeep_toml_is_skipped(places: tuple[Path, Path]) -> None:
    work, etc = places
    (work / "mailkeep.toml").mkdir()
    etc.parent.mkdir()
    etc.write_text(MINIMAL)
    assert find_config(None, {}, search(etc)) == etc


def test_nothing_found_says_where_it_looked(places: tuple[Path, Path]) -> None:
    _, etc = places
    with pytest.raises(ConfigError) as caught:
        find_config(None, {}, search(etc))
    assert str(caught.value) == (
        f"no config file: pass -c FILE, set MAILKEEP_CONFIG, or create ./mailkeep.toml or {etc}"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found$"):
        load_config(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": is a directory, not a config file$"):
        load_config(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text(MINIMAL)
    path.chmod(0)
    with pytest.raises(ConfigError, match=r"secret\.toml: cannot read config file: permission"):
        load_config(path)


def test_file_that_cannot_be_opened(tmp_path: Path) -> None:
    # A symlink loop fails to open whoever runs the test (root included).
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError) as caught:
        load_config(loop)
    assert (
        str(caught.value) == f"{loop}: cannot read config file: Too many levels of symbolic links"
    )


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'hostname = "mail.example.org"\n# caf\xe9\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: line 2: not UTF-8 text \(byte 0xe9\)$"):
        load_config(path)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[log]\nlevel = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [line.split(": ")[:2] for line in str(caught.value).splitlines()] == [
        [str(path), "hostname"],
        [str(path), "log.level"],
    ]


def test_relative_paths_are_taken_from_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    path = conf_dir / "mailkeep.toml"
    path.write_text(MINIMAL + 'data_dir = "data"\n[tls]\ncert = "tls/c.pem"\nkey = "/abs/k.pem"\n')
    monkeypatch.chdir(tmp_path)  # somewhere else: the result must not depend on it
    config = load_config(Path("conf/mailkeep.toml"))
    assert config.data_dir == conf_dir / "data"
    assert config.tls.cert == conf_dir / "tls" / "c.pem"
    assert config.tls.key == Path("/abs/k.pem")


def test_parse_without_base_dir_leaves_paths_as_written() -> None:
    config = parse_config(MINIMAL + 'data_dir = "data"\n')
    assert config.data_dir == Path("data")


def test_parse_with_base_dir_resolves() -> None:
    config = parse_config(MINIMAL + 'data_dir = "data"\n', base_dir=Path("/srv/mk"))
    assert config.data_dir == Path("/srv/mk/data")


def test_no_certificate_is_a_warning_not_an_error() -> None:
    config = parse_config(MINIMAL + '[listen]\nimaps = "127.0.0.1:993"\n')
    assert config_warnings(config) == [
        "tls: neither cert nor key is set: a self-signed certificate for mail.example.org "
        "will be made under /var/lib/mailkeep (mail clients will warn)"
    ]


def test_no_listener_is_a_warning() -> None:
    config = parse_config(MINIMAL)
    assert "listen: no listener is set: the server will accept no connections" in (
        config_warnings(config)
    )


def test_key_readable_by_others_is_a_warning(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("cert")
    key.write_text("key")
    key.chmod(0o640)
    text = MINIMAL + '[listen]\nimaps = "127.0.0.1:993"\n[tls]\ncert = "c.pem"\nkey = "k.pem"\n'
    config = parse_config(text, base_dir=tmp_path)
    assert config_warnings(config) == [
        f"tls.key: {key} can be read by other users (mode 0640); chmod 600 it"
    ]
    key.chmod(0o600)
    assert config_warnings(config) == []
    assert check_files(config) == []


def test_missing_certificate_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "k.pem").mkdir()
    text = MINIMAL + '[tls]\ncert = "c.pem"\nkey = "k.pem"\n'
    config = parse_config(text, base_dir=tmp_path)
    assert check_files(config) == [
        f"tls.cert: {tmp_path / 'c.pem'}: file not found",
        f"tls.key: {tmp_path / 'k.pem'}: not a regular file",
    ]
