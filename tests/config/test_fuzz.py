"""Hypothesis: whatever TOML holds, loading ends in a Config or a ConfigError, and every error
line names the source and fits on one line."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.config.docgen import tables
from mailkeep.config.load import parse_config, validate_data
from mailkeep.config.schema import Config
from mailkeep.errors import ConfigError

KNOWN_KEYS = sorted(
    {
        field.alias or name
        for table in tables(Config)
        for name, field in table.model.model_fields.items()
    }
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12))

SCALARS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["mail.example.org", "127.0.0.1:25", "[::1]:993", "json", "+", ""]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(datetime.UTC))),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
SECTIONS = [table.header.strip("[]") for table in tables(Config) if table.header]


def assert_loads_or_explains(data: dict[str, object]) -> None:
    try:
        config = validate_data(data, "fuzz.toml")
    except ConfigError as exc:
        lines = str(exc).split("\n")
        assert lines
        for line in lines:
            assert line.startswith("fuzz.toml: ")
            assert len(line) > len("fuzz.toml: ")
            assert "\r" not in line
    else:
        assert isinstance(config, Config)


@settings(deadline=None, max_examples=150)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_random_tables_load_or_raise_config_error(data: dict[str, object]) -> None:
    assert_loads_or_explains(data)


@settings(deadline=None, max_examples=150)
@given(st.sampled_from(SECTIONS), st.dictionaries(KEYS, VALUES, max_size=4))
def test_random_values_in_real_sections(section: str, values: dict[str, object]) -> None:
    data: dict[str, object] = {"hostname": "mail.example.org"}
    inner = data
    for part in section.split("."):
        inner[part] = {}
        inner = inner[part]  # type: ignore[assignment]
    inner.update(values)
    assert_loads_or_explains(data)


@settings(deadline=None, max_examples=150)
@given(st.text(max_size=200))
def test_random_text_loads_or_raises_config_error(text: str) -> None:
    try:
        parse_config(text, "fuzz.toml")
    except ConfigError as exc:
        assert all(line.startswith("fuzz.toml: ") for line in str(exc).split("\n"))
