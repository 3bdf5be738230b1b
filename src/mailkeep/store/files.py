"""Message files: immutable, written once, durable before anything refers to them.

Layout under a user's directory: ``msg/<xx>/<token>`` where ``token`` is 32 random hex
digits and ``xx`` its first two (256 buckets keep directories small). File names come from
tokens, never from mailbox names or anything a client sends.

Writing (RFC-less, POSIX): create ``msg/<xx>/.tmp-<token>`` exclusively, write, fsync the
file, rename to ``msg/<xx>/<token>``; the directory is fsynced by the group commit before the
database row that refers to the file is committed. A crash leaves at worst a ``.tmp-`` file
or an unreferenced file, both invisible to readers and removed by ``verify --repair``.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from mailkeep.store.errors import MessageNotFound, StoreTemporaryError

TMP_PREFIX = ".tmp-"
_TEMPORARY_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EIO,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOMEM,
}


def temporary_error(exc: OSError, what: str) -> StoreTemporaryError:
    """The StoreTemporaryError for an OSError during ``what`` (keeps errno in the text)."""
    name = errno.errorcode.get(exc.errno or 0, "EUNKNOWN")
    return StoreTemporaryError(f"{what} failed: {name} {exc.strerror or ''}".strip())


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (new names, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MessageFiles:
    """The message files of one user, rooted at ``<user dir>/msg``."""

    def __init__(self, user_dir: Path) -> None:
        self.root = user_dir / "msg"

    def path(self, token: str) -> Path:
        return self.root / token[:2] / token

    def _bucket(self, token: str) -> tuple[Path, list[Path]]:
        """The bucket directory of ``token``, created if needed; dirs that need an fsync."""
        bucket = self.root / token[:2]
        if bucket.is_dir():
            return bucket, [bucket]
        self.root.mkdir(exist_ok=True)
        bucket.mkdir(exist_ok=True)
        return bucket, [bucket, self.root]

    def write(self, raw: bytes) -> tuple[str, list[Path]]:
        """Write ``raw`` as a new durable file; return its token and the directories to fsync
        before committing a reference to it. Raises StoreTemporaryError (nothing left)."""
        token = secrets.token_hex(16)
        try:
            bucket, dirs = self._bucket(token)
        except OSError as exc:
            raise temporary_error(exc, "creating message directory") from exc
        tmp = bucket / (TMP_PREFIX + token)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, bucket / token)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise temporary_error(exc, "writing message file") from exc
        return token, dirs

    def adopt(self, source: Path, token: str) -> list[Path]:
        """Give this user the file ``source`` under ``token``: a hard link when on the same
        filesystem, else a durable copy. Returns the directories to fsync."""
        try:
            bucket, dirs = self._bucket(token)
        except OSError as exc:
            raise temporary_error(exc, "creating message directory") from exc
        target = bucket / token
        try:
            os.link(source, target)
            return dirs
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                raise temporary_error(exc, "linking message file") from exc
        tmp = bucket / (TMP_PREFIX + token)
        try:
            shutil.copyfile(source, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise temporary_error(exc, "copying message file") from exc
        return dirs

    def read(self, token: str, start: int = 0, length: int | None = None) -> bytes:
        """Bytes of a message file from ``start`` (to the end when ``length`` is None)."""
        try:
            fd = os.open(self.path(token), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MessageNotFound(f"message file {token} is missing") from None
        except OSError as exc:
            raise temporary_error(exc, "opening message file") from exc
        try:
            if length is None:
                length = max(0, os.fstat(fd).st_size - start)
            chunks: list[bytes] = []
            while length > 0:
                chunk = os.pread(fd, min(length, 1 << 20), start)
                if not chunk:
                    break
                chunks.append(chunk)
                start += len(chunk)
                length -= len(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise temporary_error(exc, "reading message file") from exc
        finally:
            os.close(fd)

    def remove(self, token: str) -> None:
        """Delete a file nothing refers to any more (missing is fine)."""
        try:
            self.path(token).unlink(missing_ok=True)
        except OSError:
            pass  # a stray file is harmless; verify --repair removes it

    def walk(self) -> Iterator[tuple[str, Path]]:
        """Every file under msg/ as (name, path), temporary ones included."""
        if not self.root.is_dir():
            return
        for bucket in sorted(self.root.iterdir()):
            if bucket.is_dir():
                for entry in sorted(bucket.iterdir()):
                    yield entry.name, entry
