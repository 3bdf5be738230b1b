"""The object every command receives: the config, found and loaded on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from mailkeep.config.load import find_config, load_config
from mailkeep.config.schema import Config


@dataclass
class CliContext:
    """What every command gets: where the config is, loaded on first use."""

    config_option: Path | None
    _config: Config | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return find_config(self.config_option)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_cli = click.make_pass_decorator(CliContext)
