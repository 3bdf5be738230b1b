"""DESIGN.md section 1: dependencies point down only, and the pure layers stay pure.

protocol/ and mail/ are sans-IO: no asyncio, sockets, ssl, sqlite, subprocesses or threads,
and they import nothing from the layers above them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mailkeep"

IO_MODULES = {"asyncio", "socket", "ssl", "sqlite3", "selectors", "subprocess", "threading"}

# package → mailkeep packages it must not import (everything above it in the picture)
UPPER = {"cli", "web", "app", "net", "delivery", "admin"}
STATEFUL = {"store", "queue", "accounts", "mailauth", "tlspolicy"}
FORBIDDEN = {
    "protocol": UPPER | STATEFUL | {"certs", "dns"},
    "mail": UPPER | STATEFUL | {"certs", "dns", "protocol"},
    "config": UPPER | STATEFUL | {"certs", "dns", "protocol"},
    "store": UPPER | {"queue", "mailauth", "tlspolicy"},
    "accounts": UPPER | {"queue", "mailauth", "tlspolicy", "store"},
    "queue": UPPER,
    "mailauth": UPPER,
    "tlspolicy": UPPER,
    "dns": UPPER | STATEFUL,
}
PURE = {"protocol", "mail"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_down(package: str) -> None:
    bad = []
    for path in _modules(package):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "mailkeep" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(PURE))
def test_pure_layers_do_no_io(package: str) -> None:
    bad = []
    for path in _modules(package):
        for name in _imports(path):
            if name.split(".")[0] in IO_MODULES:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, "\n".join(bad)
