"""docs/config.md and the example config, generated from the schema.

The reference walks the models from ``schema.Config``: the top-level keys first, then each
table (a field whose type is a model) as a heading with the model's docstring and a table of
key | type | default | description. Tables of tables (``dict[str, Model]``) and arrays of
tables (``list[Model]``) get a heading of their own (``[name.<name>]``, ``[[name]]``).
Types and values are worded by config.wording, the same words the error messages use.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mailkeep.config import wording
from mailkeep.config.load import ENV_VAR, SEARCH_PATH, shown_path
from mailkeep.config.schema import Config

_COMMENT_WIDTH = 99  # the project's line length, less one

_INTRO = """\
# Configuration reference

<!-- Generated from src/mailkeep/config/schema.py by `mailkeep config reference`.
     Do not edit by hand: run `make docs`. -->

mailkeep reads one [TOML](https://toml.io/en/v1.0.0) file. It uses the first of:

{search}

A file named with `-c` or `${env}` must exist: mailkeep does not look further.

- `mailkeep config check` validates the file and prints one line per problem, naming the key,
  the bad value and what was expected. `mailkeep config example` prints a minimal file to
  start from.
- Unknown keys are errors, so a misspelt key is reported, never silently ignored.
- A key left out takes its default. TOML has no null: to leave an optional setting unset,
  leave its key out.
- Relative paths (every setting of type `path`) are taken from the directory the config file
  is in, not from the current directory. `~` is not expanded.
- Numbers cannot be `inf` or `nan`.
"""


@dataclass(frozen=True, slots=True)
class Table:
    """One heading of the reference: a model and where it sits in the file."""

    header: str  # "" for the top level, "[listen]", "[[rules]]", "[domains.<name>]"
    model: type[BaseModel]


def render_reference(root: type[BaseModel] = Config) -> str:
    """The Markdown reference of every key under ``root``."""
    places = ["-c FILE` or `--config FILE", f"${ENV_VAR}", *map(shown_path, SEARCH_PATH)]
    search = "\n".join(f"{n}. `{place}`" for n, place in enumerate(places, start=1))
    parts = [_INTRO.format(search=search, env=ENV_VAR)]
    for table in tables(root):
        parts.append(_render_table(table))
    return "\n".join(parts)


def tables(
    root: type[BaseModel], prefix: Sequence[str] = (), array: bool = False
) -> Iterator[Table]:
    """Every table under ``root``, parents before children, in field order."""
    names = [part if part == "<name>" else wording.dotted([part]) for part in prefix]
    header = ".".join(names)
    yield Table(f"[[{header}]]" if array else f"[{header}]" if header else "", root)
    for name, field in root.model_fields.items():
        nested = wording.nested_model(field.annotation)
        if nested is None:
            continue
        model, shape = nested
        key = field.alias or name
        if shape == "tables":
            yield from tables(model, [*prefix, key, "<name>"])
        else:
            yield from tables(model, [*prefix, key], array=shape == "array")


def _is_section(field: FieldInfo) -> bool:
    nested = wording.nested_model(field.annotation)
    return nested is not None and nested[1] == "table"


def _render_table(table: Table) -> str:
    title = f"## `{table.header}`" if table.header else "## Top level"
    doc = inspect.cleandoc(table.model.__doc__ or "")
    lines = [title, ""]
    if doc:
        lines += [doc, ""]
    rows = [
        (name, field) for name, field in table.model.model_fields.items() if not _is_section(field)
    ]
    if rows:
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in rows:
            lines.append(_row(field.alias or name, field))
        lines.append("")
    return "\n".join(lines)


def _row(key: str, field: FieldInfo) -> str:
    kind = wording.type_words(field.annotation, field)
    limits = wording.constraints(field, field.annotation)
    type_cell = f"{kind}, " + ", ".join(limits) if limits else kind
    description = field.description or ""
    if field.examples:
        description += f" Example: `{wording.toml_value(field.examples[0])}`."
    cells = [f"`{key}`", type_cell, _default(field), description.strip()]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return "unset"
    return f"`{wording.toml_value(value)}`"


# The example: the contract keys, each with its description as a comment. Keys listed under
# `commented` are shown but left out (a `#` before them), so the example needs no files.
_EXAMPLE_HEADER = """\
# mailkeep.toml: a minimal configuration. Check it with `mailkeep config check`; every
# setting is listed by `mailkeep config reference`. Relative paths are taken from this
# file's directory.
"""
_EXAMPLE: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("", ("hostname", "data_dir"), ()),
    ("listen", ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"), ()),
    ("tls", (), ("cert", "key")),
)


def render_example(root: type[BaseModel] = Config) -> str:
    """A minimal commented config that passes ``mailkeep config check``."""
    out = [_EXAMPLE_HEADER]
    for section, keys, commented in _EXAMPLE:
        model = root
        if section:
            inner = wording.model_in(root.model_fields[section].annotation)
            assert inner is not None, section
            model = inner
            out.append(_comment(inspect.cleandoc(model.__doc__ or "")))
            out.append(f"[{section}]")
        for key in (*keys, *commented):
            field = model.model_fields[key]
            sample = wording.example(field.annotation, field)
            out.append(_comment(field.description or ""))
            hash_ = "# " if key in commented else ""
            out.append(f"{hash_}{key} = {sample}")
        out.append("")
    return "\n".join(out)


def _comment(text: str) -> str:
    return textwrap.fill(
        " ".join(text.split()),
        width=_COMMENT_WIDTH,
        initial_indent="# ",
        subsequent_indent="# ",
    )
