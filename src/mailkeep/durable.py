"""Durable file writes: what "nothing is acknowledged before it is fsynced" takes on POSIX.

A new file is durable once its bytes are fsynced AND its directory entry is: the first is
``write_new_file``, the second ``fsync_dir`` (left to the caller, so that several new names
in one directory share one directory fsync).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_new_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` (it must not exist) with ``mode`` from the start, write all of
    ``data`` and fsync it. On error the partial file may remain: the caller removes it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush an existing file's bytes to disk (after a copy made by someone else)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (new names, renames, removals) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
