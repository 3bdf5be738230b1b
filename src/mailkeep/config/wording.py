"""How the schema's keys, value types and values are put into words.

Shared by the loader's error messages (config.load) and the reference (config.docgen), so a
type is named the same way in both: ``"host:port" string``, ``path``, ``one of: keyvalue,
json``. Works on any pydantic model, so sections added to the schema need nothing here; a type
that needs a name of its own carries a ``schema.ValueKind`` in its ``Annotated`` metadata.

Values are shown as TOML v1.0.0 literals: ``"text"``, ``25``, ``true``.
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import json
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mailkeep.config.schema import ValueKind

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+\Z")  # TOML v1.0.0 "Keys": bare keys
_MAX_SHOWN = 60  # characters of a value quoted back in a message

_SCALAR_WORDS: dict[type, str] = {
    str: "string",
    bool: "true or false",
    int: "integer",
    float: "number",
    Path: "path",
    datetime.datetime: "date-time",
    datetime.date: "date",
    datetime.time: "time",
    datetime.timedelta: "duration",
    ipaddress.IPv4Address: "IPv4 address",
    ipaddress.IPv6Address: "IPv6 address",
    ipaddress.IPv4Network: "IPv4 network (CIDR)",
    ipaddress.IPv6Network: "IPv6 network (CIDR)",
}
_SCALAR_EXAMPLES: dict[type, str] = {
    str: '"text"',
    bool: "true",
    int: "10",
    float: "1.5",
    Path: '"/path/to/file"',
}


@dataclass(frozen=True, slots=True)
class KeyAt:
    """What a pydantic error location points at, found by walking the schema.

    ``parts`` is the location without pydantic's own steps (union members, validator
    names); ``field`` is the schema field when the last part names one; ``annotation`` is the
    type expected there (None when unknown); ``table`` is the model holding the last part.
    """

    parts: tuple[str | int, ...]
    field: FieldInfo | None
    annotation: object
    table: type[BaseModel] | None


def dotted(parts: Sequence[str | int]) -> str:
    """``listen.smtp``, ``domains."example.org".dkim``, ``rules[2].action``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if _BARE_KEY.match(part) else json.dumps(part, ensure_ascii=False)
        text += f".{key}" if text else key
    return text or "(top level)"


def toml_value(value: object) -> str:
    """``value`` as a TOML literal, shortened to one line."""
    text = _toml(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, enum.Enum):
        return _toml(value.value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{dotted([str(k)])} = {_toml(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, BaseModel):
        return _toml(value.model_dump())
    # str, Path, IP addresses and anything else are written as a TOML basic string.
    return json.dumps(str(value), ensure_ascii=False)


def value_kind(value: object) -> str:
    """What TOML type a value is, with its article: "an integer", "a table"."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, datetime.time):
        return "a time"
    return "a " + type(value).__name__


def shown(value: object) -> str:
    """A value quoted back to the user with its type: ``25 (an integer)``, ``a table``."""
    if isinstance(value, dict):
        return "a table"
    return f"{toml_value(value)} ({value_kind(value)})"


def with_article(words: str) -> str:
    """ "a path", "an integer", "one of: a, b" (no article before a choice)."""
    if words.startswith(("one of", "true or false")):
        return words
    return ("an " if words[:1].lower() in "aeio" else "a ") + words


def strip_annotated(annotation: object) -> tuple[object, list[object]]:
    """Remove ``Annotated`` layers, collecting their metadata."""
    metadata: list[object] = []
    while typing.get_origin(annotation) is typing.Annotated:
        metadata.extend(annotation.__metadata__)  # type: ignore[attr-defined]
        annotation = typing.get_args(annotation)[0]
    return annotation, metadata


def members(annotation: object) -> list[object]:
    """The non-None members of a union (TOML has no null: an absent key is None)."""
    bare, _ = strip_annotated(annotation)
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(bare) if arg is not type(None)]
    return [annotation]


def _field_marker(field: FieldInfo | None) -> ValueKind | None:
    if field is None:
        return None
    return next((item for item in field.metadata if isinstance(item, ValueKind)), None)


def _kind_marker(annotation: object) -> ValueKind | None:
    _, metadata = strip_annotated(annotation)
    for item in metadata:
        if isinstance(item, ValueKind):
            return item
    return None


def _is_model(annotation: object) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def type_words(annotation: object, field: FieldInfo | None = None) -> str:
    """A type in plain words, without article: ``list of "host:port" strings``.

    Give the ``field`` when there is one: pydantic moves a field's top-level ``Annotated``
    metadata (and so its ValueKind) from the annotation to the field.
    """
    marker = _field_marker(field)
    if marker is not None:
        return marker.words
    options = members(annotation)
    if len(options) > 1:
        return " or ".join(type_words(member) for member in options)
    marker = _kind_marker(options[0])
    if marker is not None:
        return marker.words
    bare, _ = strip_annotated(options[0])
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(arg) for arg in args)
    if isinstance(bare, type) and issubclass(bare, enum.Enum):
        return "one of: " + ", ".join(str(item.value) for item in bare)
    if _is_model(bare):
        return "table"
    if origin in (list, tuple, set, frozenset, Sequence):
        item = type_words(args[0]) if args else "value"
        return f"list of {_plural(item)}"
    if origin is dict:
        item = type_words(args[1]) if len(args) == 2 else "value"
        return f"table of {_plural(item)}"
    if isinstance(bare, type):
        for scalar, words in _SCALAR_WORDS.items():
            if issubclass(bare, scalar):
                return words
        return bare.__name__
    return str(bare)


def a_type(annotation: object, field: FieldInfo | None = None) -> str:
    """``type_words`` with articles: "a path", "a "host:port" string or an integer"."""
    options = members(annotation)
    if _field_marker(field) is None and len(options) > 1:
        return " or ".join(with_article(type_words(option)) for option in options)
    return with_article(type_words(annotation, field))


def choices(annotation: object) -> list[object]:
    """The allowed values when the type is a Literal or an Enum (else empty)."""
    options = members(annotation)
    if len(options) != 1:
        return []
    bare, _ = strip_annotated(options[0])
    if typing.get_origin(bare) is typing.Literal:
        return list(typing.get_args(bare))
    if isinstance(bare, type) and issubclass(bare, enum.Enum):
        return [item.value for item in bare]
    return []


def _plural(words: str) -> str:
    if words.startswith(("one of", "true or false")) or " or " in words:
        return f"values ({words})"
    return words + "s"


def example(annotation: object, field: FieldInfo | None = None) -> str | None:
    """A TOML value that fits: the field's ``examples``, its type's, or a default."""
    if field is not None and field.examples:
        return toml_value(field.examples[0])
    options = members(annotation)
    marker = _field_marker(field) or _kind_marker(options[0])
    if marker is not None:
        return marker.example
    bare, _ = strip_annotated(options[0])
    if typing.get_origin(bare) is typing.Literal:
        return toml_value(typing.get_args(bare)[0])
    if isinstance(bare, type) and issubclass(bare, enum.Enum):
        return toml_value(next(iter(bare)).value)
    if field is not None and not field.is_required() and field.default is not None:
        if field.default_factory is None:
            return toml_value(field.default)
    if isinstance(bare, type):
        for scalar, text in _SCALAR_EXAMPLES.items():
            if issubclass(bare, scalar):
                return text
    return None


def constraints(field: FieldInfo | None, annotation: object = None) -> list[str]:
    """The field's limits in words: ``at least 1``, ``at most 1 character``."""
    metadata: list[object] = list(field.metadata) if field is not None else []
    for member in members(annotation):
        metadata.extend(strip_annotated(member)[1])
    bare, _ = strip_annotated(members(annotation)[0])
    unit = "character" if bare is str else "item"
    words: list[str] = []
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            words.append(f"at least {toml_value(item.ge)}")
        elif isinstance(item, annotated_types.Gt):
            words.append(f"greater than {toml_value(item.gt)}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"at most {toml_value(item.le)}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"less than {toml_value(item.lt)}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            words.append(f"at least {_count(item.min_length, unit)}")
        elif isinstance(item, annotated_types.MaxLen):
            words.append(f"at most {_count(item.max_length, unit)}")
        elif isinstance(item, annotated_types.MultipleOf):
            words.append(f"a multiple of {toml_value(item.multiple_of)}")
        else:
            pattern = getattr(item, "pattern", None)
            if isinstance(pattern, str):
                words.append(f"matching /{pattern}/")
    return words


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def known_keys(table: type[BaseModel]) -> list[str]:
    """The keys a table accepts, as written in the file (aliases win)."""
    return [field.alias or name for name, field in table.model_fields.items()]


def _field_named(table: type[BaseModel], key: str) -> FieldInfo | None:
    for name, field in table.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _step(annotation: object, part: str | int) -> tuple[object, FieldInfo | None] | None:
    """Where ``part`` leads from a value of type ``annotation``, or None if it does not fit."""
    for member in members(annotation):
        bare, _ = strip_annotated(member)
        origin, args = typing.get_origin(bare), typing.get_args(bare)
        if _is_model(bare) and isinstance(part, str):
            field = _field_named(bare, part)
            if field is not None:
                return field.annotation, field
        elif origin is dict and isinstance(part, str):
            return (args[1] if len(args) == 2 else object), None
        elif origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
            return (args[0] if args else object), None
    return None


def model_in(annotation: object) -> type[BaseModel] | None:
    """The model a value of this type is (or may be, in a union), else None."""
    nested = nested_model(annotation)
    return nested[0] if nested is not None and nested[1] == "table" else None


def nested_model(annotation: object) -> tuple[type[BaseModel], str] | None:
    """The model a field holds, and how: one "table", "tables" by name, or an "array"."""
    for member in members(annotation):
        bare, _ = strip_annotated(member)
        if _is_model(bare):
            return bare, "table"
        origin, args = typing.get_origin(bare), typing.get_args(bare)
        if origin is dict and len(args) == 2:
            item, _ = strip_annotated(args[1])
            if _is_model(item):
                return item, "tables"
        if origin in (list, tuple, Sequence) and args:
            item, _ = strip_annotated(args[0])
            if _is_model(item):
                return item, "array"
    return None


def key_at(root: type[BaseModel], loc: Sequence[str | int], *, unknown: bool = False) -> KeyAt:
    """Walk ``loc`` (a pydantic error location) through the schema from ``root``.

    Parts that are pydantic's own steps (union members such as ``str`` or
    ``function-after[...]``) are dropped. With ``unknown``, the last part is a key the schema
    does not have (an ``extra_forbidden`` error) and is kept as written.
    """
    annotation: object = root
    field: FieldInfo | None = None
    table: type[BaseModel] | None = None
    parts: list[str | int] = []
    last = len(loc) - 1
    for index, part in enumerate(loc):
        if unknown and index == last:
            table = model_in(annotation)
            parts.append(part)
            return KeyAt(tuple(parts), None, None, table)
        found = _step(annotation, part)
        if found is None:
            continue  # a union member or validator step, not a key
        table = model_in(annotation)
        annotation, field = found
        parts.append(part)
    return KeyAt(tuple(parts), field, annotation, table)


def sections_with(root: type[BaseModel], key: str) -> list[str]:
    """Dotted names of the tables under ``root`` (at any depth) that have ``key``."""
    found: list[str] = []

    def walk(table: type[BaseModel], prefix: list[str]) -> None:
        for name, field in table.model_fields.items():
            written = field.alias or name
            if written == key and prefix:
                found.append(dotted([*prefix, written]))
            inner = model_in(field.annotation)
            if inner is not None:
                walk(inner, [*prefix, written])

    walk(root, [])
    return found
