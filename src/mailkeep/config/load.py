"""Find, read and validate the config file (TOML → schema.Config).

Search order: ``-c/--config FILE``, else ``$MAILKEEP_CONFIG``, else ``./mailkeep.toml``, else
``/etc/mailkeep/mailkeep.toml``. Every problem becomes a ConfigError whose lines each name a
dotted key, the bad value and what was expected.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from mailkeep.config.schema import Config
from mailkeep.errors import ConfigError

SEARCH_PATH = (Path("mailkeep.toml"), Path("/etc/mailkeep/mailkeep.toml"))


def find_config(explicit: Path | None, environ: Mapping[str, str] = os.environ) -> Path:
    """Return the config file to use, following the documented search order."""
    if explicit is not None:
        return explicit
    from_env = environ.get("MAILKEEP_CONFIG")
    if from_env:
        return Path(from_env)
    for candidate in SEARCH_PATH:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "no config file: pass -c FILE, set MAILKEEP_CONFIG, or create ./mailkeep.toml "
        "or /etc/mailkeep/mailkeep.toml"
    )


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate TOML text; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    return parse_config(text, str(path))


def format_errors(exc: ValidationError, source: str) -> str:
    """One line per error: ``source: key.path: message (got VALUE)``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{source}: {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)
