"""Every form of config error message: one line per problem, naming key, value, expectation."""

from __future__ import annotations

import pytest

from mailkeep.config.load import parse_config
from mailkeep.errors import ConfigError

BASE = 'hostname = "mail.example.org"\n'


def problems(text: str) -> list[str]:
    """The error lines for ``text``, without the ``<source>: `` prefix."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "f.toml")
    lines = str(caught.value).splitlines()
    assert all(line.startswith("f.toml: ") for line in lines), lines
    return [line.removeprefix("f.toml: ") for line in lines]


def test_missing_required_key_gives_an_example() -> None:
    assert problems("") == ['hostname: required, e.g. hostname = "mail.example.org"']


def test_wrong_type_names_expected_type_example_and_what_was_given() -> None:
    assert problems(BASE + "[listen]\nsmtp = 25\n") == [
        'listen.smtp: expected a "host:port" string like "0.0.0.0:25", got 25 (an integer)'
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"nohost"', 'expected "host:port", e.g. "127.0.0.1:2525" or "[::1]:2525"'),
        ('":25"', 'expected "host:port"'),
        ('"127.0.0.1:99999"', "port '99999' is not a number from 1 to 65535"),
        ('"127.0.0.1:0"', "port '0' is not a number from 1 to 65535"),
        ('"127.0.0.1:http"', "port 'http' is not a number from 1 to 65535"),
        ('"[::g]:25"', "[::g] is not an IPv6 address"),
        ('"::1:25"', 'write an IPv6 address in brackets, e.g. "[::1]:2525"'),
    ],
)
def test_bad_host_port(value: str, message: str) -> None:
    (line,) = problems(BASE + f"[listen]\nimap = {value}\n")
    assert line.startswith(f"listen.imap: {message}")
    assert line.endswith(f"got {value} (a string)")


def test_good_host_ports_pass() -> None:
    config = parse_config(BASE + '[listen]\nimap = "[::1]:143"\nsmtp = "localhost:25"\n')
    assert config.listen.imap == "[::1]:143"
    assert config.listen.smtp == "localhost:25"


def test_unknown_key_suggests_the_closest_known_key() -> None:
    assert problems(BASE + '[listen]\nimapss = "127.0.0.1:993"\n') == [
        "listen.imapss: unknown key; did you mean 'imaps'?"
    ]


def test_unknown_section_suggests_the_closest_section() -> None:
    assert problems(BASE + '[listn]\nsmtp = "127.0.0.1:25"\n') == [
        "listn: unknown key; did you mean 'listen'?"
    ]


def test_key_in_the_wrong_table_points_to_its_table() -> None:
    assert problems(BASE + 'submissions = "127.0.0.1:465"\n') == [
        "submissions: unknown key here; did you mean 'listen.submissions'? "
        "(it goes in the [listen] table)"
    ]


def test_unknown_key_with_nothing_close_lists_the_known_keys() -> None:
    (line,) = problems(BASE + "[log]\nzzz = 1\n")
    assert line == "log.zzz: unknown key; the keys here are: format, level"


def test_odd_key_names_are_quoted_and_stay_on_one_line() -> None:
    (line,) = problems(BASE + '[log]\n"a\\nb c" = 1\n')
    assert line.startswith('log."a\\nb c": unknown key')


def test_bad_choice_lists_choices_and_suggests() -> None:
    assert problems(BASE + '[log]\nformat = "jsn"\n') == [
        'log.format: expected "keyvalue" or "json", got "jsn" (a string); did you mean \'json\'?'
    ]


def test_limits_are_stated_in_words() -> None:
    text = BASE + "[tls]\nreload_check_seconds = 0\n[accounts]\nsubaddress_separator = '++'\n"
    assert problems(text) == [
        "tls.reload_check_seconds: expected a number of at least 1, got 0 (an integer)",
        'accounts.subaddress_separator: expected a string of at most 1 character, got "++" '
        "(a string)",
    ]


def test_inf_and_nan_are_refused() -> None:
    text = BASE + "[server]\nshutdown_grace_seconds = nan\n[tls]\nreload_check_seconds = inf\n"
    assert sorted(problems(text)) == [
        "server.shutdown_grace_seconds: expected a finite number, got nan (a number)",
        "tls.reload_check_seconds: expected a finite number, got inf (a number)",
    ]


def test_a_table_where_a_value_belongs_and_the_reverse() -> None:
    assert problems(BASE + "listen = 5\n[tls]\ncert = { a = 1 }\n") == [
        "listen: expected a table, got 5 (an integer)",
        'tls.cert: expected a path like "/etc/mailkeep/tls/fullchain.pem", got a table',
    ]


def test_bad_hostname_is_explained() -> None:
    assert problems('hostname = "localhost"\n') == [
        "hostname: 'localhost' is not fully qualified (expected e.g. mail.example.org)"
    ]
    (line,) = problems('hostname = "-bad-.example.org"\n')
    assert line.startswith("hostname: ")
    assert "-bad-" in line


def test_cert_without_key_is_an_error() -> None:
    assert problems(BASE + '[tls]\ncert = "c.pem"\n') == [
        "tls: cert is set but key is not: set both, or neither for a self-signed certificate"
    ]
    assert problems(BASE + '[tls]\nkey = "k.pem"\n') == [
        "tls: key is set but cert is not: set both, or neither for a self-signed certificate"
    ]


def test_every_error_is_reported_at_once() -> None:
    text = 'hostname = "x"\ndata_dir = 3\n[listen]\nsmtp = 1\npop = 2\n[log]\nlevel = "loud"\n'
    lines = problems(text)
    assert [line.split(":", 1)[0] for line in lines] == [
        "hostname",
        "data_dir",
        "listen.smtp",
        "listen.pop",
        "log.level",
    ]


@pytest.mark.parametrize(
    ("text", "where", "reads"),
    [
        (BASE + "[listen\n", "line 2, column 8", "'[listen'"),
        ("hostname = \n", "line 1, column 12", "'hostname ='"),
        (BASE + 'hostname = "a.example"\n', "line 2, column 23", "'hostname = \"a.example\"'"),
    ],
)
def test_toml_syntax_errors_name_the_line(text: str, where: str, reads: str) -> None:
    (line,) = problems(text)
    assert line.startswith(f"{where}: not valid TOML: ")
    assert line.endswith(f"(the line reads: {reads})")
