"""Use cases shared by the CLI and (later) the web UI.

The directory's own methods are the use cases for single changes (each validated, in one
transaction, mistakes raised as UserError); this module adds what spans more than the
directory: opening it from the config, the steps that make a new domain ready for mail, and
the human forms of sizes.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.accounts.models import Domain
from mailkeep.config.schema import Config
from mailkeep.errors import UserError
from mailkeep.mailauth.keys import KeyStore

# A step of `domain add` beyond the directory entry. It may raise UserError; the domain is
# then removed again, so a failed `domain add` leaves nothing behind.
DomainSetupStep = Callable[[Domain], None]


def domain_setup_steps(config: Config) -> list[DomainSetupStep]:
    """What `domain add` does after adding the directory entry, in order: make the domain's
    DKIM signing keys (Ed25519 and RSA-2048) under data_dir, so outgoing mail is signed as
    soon as the records that `mailkeep dns DOMAIN` prints are published."""

    def make_dkim_keys(domain: Domain) -> None:
        try:
            KeyStore(config.data_dir).generate(domain.name)
        except OSError as exc:
            raise UserError(
                f"cannot create DKIM keys for {domain.display} under {config.data_dir}: "
                f"{_strerror(exc)}"
            ) from None

    return [make_dkim_keys]


def ensure_data_dir(path: Path) -> None:
    """Create data_dir (mode 0700) if missing; one clear UserError if it cannot be used."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"data_dir {path} exists and is not a directory") from None
    except OSError as exc:
        raise UserError(f"cannot create data_dir {path}: {_strerror(exc)}") from None
    if not path.is_dir():
        raise UserError(f"data_dir {path} exists and is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"data_dir {path} is not writable by this user (uid {os.getuid()})")


def open_directory(config: Config) -> Directory:
    """The account directory under config.data_dir, created on first use."""
    ensure_data_dir(config.data_dir)
    return Directory(
        config.data_dir / DATABASE_NAME,
        subaddress_separator=config.accounts.subaddress_separator,
        max_alias_depth=config.accounts.alias_max_depth,
        scram_iterations=config.accounts.scram_iterations,
    )


def add_domain(directory: Directory, name: str, steps: Sequence[DomainSetupStep] = ()) -> Domain:
    """Add a local domain and run its setup steps; if a step fails, the domain goes again."""
    domain = directory.add_domain(name)
    try:
        for step in steps:
            step(domain)
    except BaseException:
        directory.delete_domain(domain.name)
        raise
    return domain


_SIZE = re.compile(r"(\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from ``"500M"``, ``"2GiB"``, ``"1024"`` (K/M/G/T are powers of 1024) or
    ``"unlimited"`` (0). Raises UserError."""
    value = text.strip()
    if value.lower() == "unlimited":
        return 0
    match = _SIZE.fullmatch(value)
    if match is None:
        raise UserError(f"invalid size {text!r}: expected e.g. 500M, 2G, 1024 or unlimited")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def format_size(size: int) -> str:
    """The largest exact binary unit: ``1 GiB``, ``1536 KiB``, ``12 B``; 0 is unlimited."""
    if size == 0:
        return "unlimited"
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _strerror(exc: OSError) -> str:
    if exc.errno is not None and exc.errno in errno.errorcode:
        return os.strerror(exc.errno).lower()
    return str(exc)
