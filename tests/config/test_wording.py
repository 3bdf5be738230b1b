"""Messages and reference for shapes the schema will grow into: unions, lists, tables of
tables, arrays of tables, enums, aliases. A stand-in schema, built like the real one."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, ValidationError

from mailkeep.config import wording
from mailkeep.config.docgen import render_reference, tables
from mailkeep.config.load import describe_errors, resolve_paths
from mailkeep.config.schema import HostPort, Section


class Policy(enum.Enum):
    REJECT = "reject"
    QUARANTINE = "quarantine"


class Dkim(Section):
    """Signing keys for one domain."""

    selector: str = Field(description="The DNS selector.", min_length=1, max_length=63)
    key_file: Path = Field(Path("dkim.pem"), description="The private key.")


class Domain(Section):
    """One hosted domain."""

    policy: Policy = Field(Policy.REJECT, description="What to do.")
    dkim: Dkim | None = Field(None, description="Signing.")


class Rule(Section):
    """One routing rule."""

    match: str = Field(description="Address pattern.", pattern=r"^[^@]*@[^@]+$")
    relay: HostPort | int = Field(25, description="Where to, or a port.")


class Root(Section):
    """A stand-in root table."""

    name: str = Field("x", alias="display-name", description="An aliased key.")
    ports: list[int] = Field(default_factory=list, max_length=3, description="A list.")
    mode: Literal["a", "b"] | None = Field(None, description="A choice.")
    domains: dict[str, Domain] = Field(default_factory=dict, description="Tables by name.")
    rules: list[Rule] = Field(default_factory=list, description="An array of tables.")


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Root.model_validate(data)
    return describe_errors(caught.value, Root)


def test_error_inside_a_table_of_tables_names_the_table() -> None:
    data = {"domains": {"example.org": {"dkim": {"selector": ""}}, "b": {"policy": "rejct"}}}
    assert problems(data) == [
        'domains."example.org".dkim.selector: expected a string of at least 1 character, '
        'got "" (a string)',
        'domains.b.policy: expected "reject" or "quarantine", got "rejct" (a string); '
        "did you mean 'reject'?",
    ]


def test_error_inside_an_array_of_tables_names_the_index() -> None:
    data = {"rules": [{"match": "a@b"}, {"match": "nope", "relay": "x"}, {"mach": "a@b"}]}
    assert problems(data) == [
        'rules[1].match: expected a string matching /^[^@]*@[^@]+$/, got "nope" (a string)',
        'rules[1].relay: expected "host:port", e.g. "127.0.0.1:2525" or "[::1]:2525"; '
        'got "x" (a string)',
        'rules[2].match: required, e.g. match = "text"',
        "rules[2].mach: unknown key; did you mean 'match'?",
    ]


def test_a_union_of_types_is_one_line_naming_every_member() -> None:
    assert problems({"rules": [{"match": "a@b", "relay": 2.5}]}) == [
        'rules[0].relay: expected a "host:port" string or an integer like "127.0.0.1:2525", '
        "got 2.5 (a number)"
    ]


def test_list_items_and_list_length() -> None:
    assert problems({"ports": [1, "two"]}) == [
        'ports[1]: expected an integer like 10, got "two" (a string)'
    ]
    assert problems({"ports": [1, 2, 3, 4]}) == [
        "ports: expected a list of integers with at most 3 items, got [1, 2, 3, 4] (a list)"
    ]


def test_aliases_are_the_keys_users_write() -> None:
    assert problems({"display_nam": 1}) == [
        "display_nam: unknown key; did you mean 'display-name'?"
    ]
    assert problems({"display-name": 1}) == [
        'display-name: expected a string like "x", got 1 (an integer)'
    ]


def test_type_words() -> None:
    fields = Root.model_fields
    assert wording.type_words(fields["ports"].annotation) == "list of integers"
    assert wording.type_words(fields["mode"].annotation) == "one of: a, b"
    assert wording.type_words(fields["domains"].annotation) == "table of tables"
    assert wording.type_words(Domain.model_fields["policy"].annotation) == (
        "one of: reject, quarantine"
    )
    assert wording.with_article("integer") == "an integer"
    assert wording.with_article("one of: a, b") == "one of: a, b"


def test_reference_headings_for_nested_shapes() -> None:
    headers = [table.header for table in tables(Root)]
    assert headers == ["", "[domains.<name>]", "[domains.<name>.dkim]", "[[rules]]"]
    text = render_reference(Root)
    assert "## `[[rules]]`" in text
    assert '| `display-name` | string | `"x"` | An aliased key. |' in text
    assert "| `ports` | list of integers, at most 3 items | `[]` | A list. |" in text
    assert "| `selector` | string, at least 1 character, at most 63 characters |" in text
    assert '| `policy` | one of: reject, quarantine | `"reject"` |' in text


def test_relative_paths_are_resolved_at_any_depth() -> None:
    root = Root.model_validate(
        {"domains": {"a": {"dkim": {"selector": "s"}}, "b": {}}, "rules": [{"match": "a@b"}]}
    )
    resolved = resolve_paths(root, Path("/conf"))
    dkim = resolved.domains["a"].dkim
    assert dkim is not None
    assert dkim.key_file == Path("/conf/dkim.pem")
    assert resolved.domains["b"] is root.domains["b"]  # nothing to change: the same object
    assert resolved.rules is root.rules


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (3, "3"),
        (2.5, "2.5"),
        (float("-inf"), "-inf"),
        ("a\nb", '"a\\nb"'),
        (Path("/x"), '"/x"'),
        ([1, "a"], '[1, "a"]'),
        ({"k": 1, "a b": 2}, '{ k = 1, "a b" = 2 }'),
        (Policy.REJECT, '"reject"'),
        ("x" * 100, '"' + "x" * 58 + "…"),
    ],
)
def test_toml_value(value: object, text: str) -> None:
    assert wording.toml_value(value) == text
