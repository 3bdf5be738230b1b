"""Find, read and validate the config file (TOML v1.0.0 → schema.Config).

Search order: ``-c/--config FILE``, else ``$MAILKEEP_CONFIG``, else ``./mailkeep.toml``, else
``/etc/mailkeep/mailkeep.toml``. A file named by -c or the variable must exist: there is no
falling back past a name the user gave.

Every problem becomes one ConfigError whose lines each name the source, the dotted key, the
bad value and what was expected, in plain words (pydantic's messages are translated here, by
error type). Relative paths (any ``Path`` field at any depth) are resolved against the config
file's directory once the file is valid.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mailkeep.config import wording
from mailkeep.config.schema import Config
from mailkeep.errors import ConfigError

ENV_VAR = "MAILKEEP_CONFIG"
SEARCH_PATH = (Path("mailkeep.toml"), Path("/etc/mailkeep/mailkeep.toml"))

_TOML_WHERE = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_MAX_LINE_SHOWN = 60  # characters of the offending TOML line quoted back

# pydantic error types that mean "this is not the kind of value expected here"
_TYPE_ERRORS = frozenset(
    {
        "literal_error",
        "enum",
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
        "tuple_type",
        "set_type",
        "frozen_set_type",
        "iterable_type",
        "is_instance_of",
        "union_tag_invalid",
        "union_tag_not_found",
        "int_from_float",
        "none_required",
        "ip_any_address",
        "ip_v4_address",
        "ip_v6_address",
        "ip_v4_network",
        "ip_v6_network",
    }
)
# pydantic error type → (context key, how the limit reads after "expected a number")
_LIMIT_ERRORS = {
    "greater_than_equal": ("ge", "of at least {}"),
    "greater_than": ("gt", "greater than {}"),
    "less_than_equal": ("le", "of at most {}"),
    "less_than": ("lt", "less than {}"),
    "multiple_of": ("multiple_of", "that is a multiple of {}"),
    "string_too_short": ("min_length", "of at least {} character"),
    "string_too_long": ("max_length", "of at most {} character"),
    "too_short": ("min_length", "with at least {} item"),
    "too_long": ("max_length", "with at most {} item"),
    "string_pattern_mismatch": ("pattern", "matching /{}/"),
}

M = TypeVar("M", bound=BaseModel)


def find_config(
    explicit: Path | None,
    environ: Mapping[str, str] = os.environ,
    search_path: Sequence[Path] = SEARCH_PATH,
) -> Path:
    """Return the config file to use, following the documented search order."""
    if explicit is not None:
        return explicit
    from_env = environ.get(ENV_VAR)
    if from_env:
        return Path(from_env)
    for candidate in search_path:
        if candidate.is_file():
            return candidate
    places = " or ".join(shown_path(candidate) for candidate in search_path)
    raise ConfigError(f"no config file: pass -c FILE, set {ENV_VAR}, or create {places}")


def shown_path(path: Path) -> str:
    """A search path entry as a person reads it: ``./mailkeep.toml`` for a relative one."""
    return str(path) if path.is_absolute() else f"./{path}"


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``; relative paths in it become absolute."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read config file: permission denied") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    return parse_config(text, str(path), base_dir=path.absolute().parent)


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate TOML text; raise ConfigError listing every problem.

    With ``base_dir``, relative paths are resolved against it; without, they stay relative.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(str(exc), text, source)) from None
    return validate_data(data, source, base_dir)


def validate_data(
    data: Mapping[str, object], source: str = "<config>", base_dir: Path | None = None
) -> Config:
    """Validate already parsed TOML (a dict of TOML values); raise ConfigError on problems."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None
    return config if base_dir is None else resolve_paths(config, base_dir)


def resolve_paths(model: M, base_dir: Path) -> M:
    """Return ``model`` with every relative ``Path`` in it (at any depth) under ``base_dir``."""
    updates = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        resolved = _resolve(value, base_dir)
        if resolved is not value:
            updates[name] = resolved
    return model.model_copy(update=updates) if updates else model


def _resolve(value: object, base_dir: Path) -> object:
    if isinstance(value, Path):
        return value if value.is_absolute() else base_dir / value
    if isinstance(value, BaseModel):
        return resolve_paths(value, base_dir)
    if isinstance(value, (list, tuple)):
        items = [_resolve(item, base_dir) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        entries = {key: _resolve(item, base_dir) for key, item in value.items()}
        if all(entries[key] is item for key, item in value.items()):
            return value
        return entries
    return value


def config_warnings(config: Config) -> list[str]:
    """Things that work but are probably not what is wanted, one line each."""
    warnings = []
    if config.tls.cert is None and config.tls.key is None:
        warnings.append(
            f"tls: neither cert nor key is set: a self-signed certificate for "
            f"{config.hostname} will be made under {config.data_dir} (mail clients will warn)"
        )
    if all(value is None for value in config.listen.model_dump().values()):
        warnings.append("listen: no listener is set: the server will accept no connections")
    if config.tls.key is not None:
        try:
            mode = config.tls.key.stat().st_mode
        except OSError:
            mode = 0
        if stat.S_ISREG(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"tls.key: {config.tls.key} can be read by other users "
                f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
            )
    return warnings


def check_files(config: Config) -> list[str]:
    """Problems with the files the config names (they must exist and be readable)."""
    problems = []
    for key, path in (("tls.cert", config.tls.cert), ("tls.key", config.tls.key)):
        if path is None:
            continue
        if not path.exists():
            problems.append(f"{key}: {path}: file not found")
        elif not path.is_file():
            problems.append(f"{key}: {path}: not a regular file")
        elif not os.access(path, os.R_OK):
            problems.append(f"{key}: {path}: cannot read it: permission denied")
    return problems


def format_errors(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: dotted.key: what is wrong, got VALUE (its type)``."""
    return "\n".join(f"{source}: {line}" for line in describe_errors(exc))


def describe_errors(exc: ValidationError, root: type[BaseModel] = Config) -> list[str]:
    """Each problem in plain words, ``dotted.key: message``, one per key."""
    groups: dict[tuple[str | int, ...], list[tuple[wording.KeyAt, ErrorDetails]]] = {}
    for err in exc.errors(include_url=False):
        at = wording.key_at(root, err["loc"], unknown=err["type"] == "extra_forbidden")
        groups.setdefault(at.parts, []).append((at, err))
    lines = []
    for found in groups.values():
        # Several errors at one key come from the members of a union: the most specific
        # (a value or limit error) speaks for all; else the key's whole type is expected.
        specific = [item for item in found if not _is_type_error(item[1])]
        at, err = specific[0] if specific else found[0]
        message = _describe(at, err, root) if specific or len(found) == 1 else _expected(at, err)
        lines.append(f"{wording.dotted(at.parts)}: {' '.join(message.split())}")
    return lines


def _is_type_error(err: ErrorDetails) -> bool:
    kind = err["type"]
    return kind in _TYPE_ERRORS or kind.endswith(("_type", "_parsing"))


def _describe(at: wording.KeyAt, err: ErrorDetails, root: type[BaseModel]) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "missing":
        return _missing(at)
    if kind == "extra_forbidden":
        return _unknown(at, root)
    if kind in _LIMIT_ERRORS:
        name, limit = _LIMIT_ERRORS[kind]
        bound = ctx.get(name)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "at least 1", not "at least 1.0"
        shown = bound if isinstance(bound, str) and name == "pattern" else wording.toml_value(bound)
        phrase = limit.format(shown) + ("s" if name.endswith("length") and bound != 1 else "")
        words = wording.a_type(at.annotation, at.field)
        return f"expected {words} {phrase}, got {wording.shown(err['input'])}"
    if kind == "finite_number":
        return f"expected a finite number, got {wording.shown(err['input'])}"
    if kind in ("value_error", "assertion_error"):
        return _invalid(at, err)
    if _is_type_error(err):
        return _expected(at, err)
    return f"{err['msg']}, got {wording.shown(err['input'])}"


def _missing(at: wording.KeyAt) -> str:
    sample = wording.example(at.annotation, at.field)
    if sample is None:
        return f"required ({wording.a_type(at.annotation, at.field)})"
    return f"required, e.g. {wording.dotted(at.parts[-1:])} = {sample}"


def _unknown(at: wording.KeyAt, root: type[BaseModel]) -> str:
    key = str(at.parts[-1])
    known = wording.known_keys(at.table) if at.table is not None else []
    close = difflib.get_close_matches(key.lower(), known, n=1)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    elsewhere = wording.sections_with(root, key)
    if elsewhere:
        table = elsewhere[0].rpartition(".")[0]
        return f"unknown key here; did you mean '{elsewhere[0]}'? (it goes in the [{table}] table)"
    if known:
        return f"unknown key; the keys here are: {', '.join(known)}"
    return "unknown key"


def _expected(at: wording.KeyAt, err: ErrorDetails) -> str:
    got = wording.shown(err["input"])
    choices = wording.choices(at.annotation)
    if choices:
        values = [wording.toml_value(choice) for choice in choices]
        either = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
        message = f"expected {either}, got {got}"
        if isinstance(err["input"], str):
            close = difflib.get_close_matches(err["input"].lower(), [str(c) for c in choices], n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        return message
    words = wording.a_type(at.annotation, at.field)
    sample = wording.example(at.annotation, at.field)
    like = f" like {sample}" if sample is not None else ""
    return f"expected {words}{like}, got {got}"


def _invalid(at: wording.KeyAt, err: ErrorDetails) -> str:
    reason = str(err.get("ctx", {}).get("error", err["msg"]))
    value = err["input"]
    if isinstance(value, dict):
        return reason  # a check across a table's keys: the reason names them
    if wording.toml_value(value) in reason or repr(value) in reason:
        return reason
    return f"{reason}; got {wording.shown(value)}"


def _toml_error(message: str, text: str, source: str) -> str:
    """``source: line 3, column 7: not valid TOML: <why> (the line reads: ...)``."""
    match = _TOML_WHERE.match(message)
    if match is None:
        return f"{source}: not valid TOML: {message}"
    number = int(match["line"])
    lines = text.split("\n")  # tomllib counts lines by LF only
    where = f"line {number}, column {match['col']}"
    reads = ""
    if 0 < number <= len(lines) and lines[number - 1].strip():
        shown = lines[number - 1].strip()
        if len(shown) > _MAX_LINE_SHOWN:
            shown = shown[: _MAX_LINE_SHOWN - 1] + "…"
        reads = f" (the line reads: {shown!r})"
    return f"{source}: {where}: not valid TOML: {match['msg']}{reads}"
