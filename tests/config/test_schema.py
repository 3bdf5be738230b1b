"""The schema's defaults are valid and secure; hostname normalisation; docs match the schema."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from mailkeep.config import wording
from mailkeep.config.docgen import render_example, render_reference, tables
from mailkeep.config.load import parse_config
from mailkeep.config.schema import Config
from mailkeep.errors import ConfigError

SECTIONS = [table.model for table in tables(Config) if table.model is not Config]
# Every key with a default value of its own (not unset, not a whole section).
FIELDS = [
    pytest.param(model, name, id=f"{model.__name__}.{name}")
    for model in [Config, *SECTIONS]
    for name, field in model.model_fields.items()
    if not field.is_required()
    and not isinstance(field.get_default(call_default_factory=True), (BaseModel, type(None)))
]
REQUIRED = {"hostname": "mail.example.org"}


def test_hostname_alone_is_a_valid_config() -> None:
    config = Config.model_validate({"hostname": "mail.example.org"})
    assert config.hostname == "mail.example.org"
    assert config.data_dir == Path("/var/lib/mailkeep")


@pytest.mark.parametrize("model", SECTIONS, ids=lambda model: model.__name__)
def test_each_section_is_valid_with_its_defaults(model: type[BaseModel]) -> None:
    defaults = model()
    assert model.model_validate(defaults.model_dump()) == defaults


@pytest.mark.parametrize(("model", "name"), FIELDS)
def test_each_default_written_as_toml_validates(model: type[BaseModel], name: str) -> None:
    value = model.model_fields[name].get_default(call_default_factory=True)
    written = tomllib.loads(f"x = {wording.toml_value(value)}")["x"]
    required = REQUIRED if model is Config else {}
    assert getattr(model.model_validate({**required, name: written}), name) == value


@pytest.mark.parametrize("model", [Config, *SECTIONS], ids=lambda model: model.__name__)
def test_every_key_has_a_description(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"
    assert model.__doc__, f"{model.__name__} has no docstring"


def test_defaults_are_the_secure_choice() -> None:
    config = Config.model_validate({"hostname": "mail.example.org"})
    listeners = config.listen.model_dump()
    assert set(listeners) == {"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"}
    assert all(value is None for value in listeners.values()), "listeners are off unless set"
    assert config.log.level == "info"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("mail.bücher.example", "mail.xn--bcher-kva.example"),
        ("MAIL.Example.ORG.", "mail.example.org"),
        ("mail.xn--bcher-kva.example", "mail.xn--bcher-kva.example"),
    ],
)
def test_hostname_is_stored_as_a_labels(written: str, stored: str) -> None:
    assert parse_config(f'hostname = "{written}"\n').hostname == stored


def test_models_are_frozen() -> None:
    config = Config.model_validate({"hostname": "mail.example.org"})
    with pytest.raises(ValueError, match="frozen"):
        config.hostname = "other.example.org"  # type: ignore[misc]


def test_example_config_passes_the_check() -> None:
    config = parse_config(render_example(), "example")
    assert config.hostname == "mail.example.org"
    assert config.listen.smtp == "0.0.0.0:25"
    assert config.tls.cert is None


def test_example_mentions_every_contract_key() -> None:
    example = render_example()
    for key in ["hostname", "data_dir", "[listen]", "[tls]", "# cert", "# key"]:
        assert key in example
    for key in Config.model_fields["listen"].annotation.model_fields:  # type: ignore[union-attr]
        assert f"\n{key} = " in example


def test_docs_config_md_is_up_to_date() -> None:
    committed = Path(__file__).parents[2] / "docs" / "config.md"
    assert committed.read_text(encoding="utf-8") == render_reference(), (
        "docs/config.md differs from the schema: run make docs"
    )


def test_reference_has_a_heading_and_a_row_per_key() -> None:
    text = render_reference()
    for table in tables(Config):
        heading = f"## `{table.header}`" if table.header else "## Top level"
        assert heading in text
        for name, field in table.model.model_fields.items():
            if wording.model_in(field.annotation) is None:
                assert f"| `{field.alias or name}` |" in text


def test_reference_row_for_a_limit_shows_type_limit_and_default() -> None:
    text = render_reference()
    assert "| `reload_check_seconds` | number, at least 1 | `30.0` |" in text
    assert '| `format` | one of: keyvalue, json | `"keyvalue"` |' in text
    assert '| `smtp` | "host:port" string | unset |' in text
    assert "| `hostname` | host name | **required** |" in text
    assert '| `data_dir` | path | `"/var/lib/mailkeep"` |' in text


def test_config_error_is_a_user_error() -> None:
    with pytest.raises(ConfigError):
        parse_config("hostname = 1\n")
