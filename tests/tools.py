"""Helpers for tests. Third-party tools: `require_tool` skips when one is missing, except in
CI (MAILKEEP_REQUIRE_TOOLS=1), where a missing tool is a failure."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_TOOLS = os.environ.get("MAILKEEP_REQUIRE_TOOLS") == "1"


def require_tool(name: str) -> str:
    """Return the path of a third-party program, or skip (fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"third-party tool {name!r} is not installed (see .ci/debian-packages)"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    return path
