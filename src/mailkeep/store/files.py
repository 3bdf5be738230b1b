"""Message files: immutable, written once, durable before anything refers to them.

Layout under a user's directory: ``msg/<YYYYMMDDHH>/<token>``: one directory per hour of
arrival (UTC) and 32 random hex digits. Messages arriving together share a directory, so
one directory fsync covers a whole group commit; an hour's mail keeps directories bounded.
File names come from tokens and the clock, never from anything a client sends. The name a
database row keeps is the relative "bucket/token".

Writing: create ``<token>`` exclusively in the bucket, write, fsync the file, fsync the
directory, all in the writer's own pool thread (concurrent deliveries fsync in parallel and
the filesystem journal batches them); only then is the database row that publishes the file
committed. There is no temporary name and rename: the row is the publication step, so a
partly written file is never visible anyway, and a rename after the fsync would cost one
more journal commit per message (the directory fsync after the file fsync is nearly free,
the entry being already committed with the inode). A crash leaves at worst an unreferenced
file, invisible to readers and removed by ``verify --repair`` (``.tmp-`` files come only
from copying across filesystems).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from mailkeep.durable import fsync_dir, fsync_file, write_new_file
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


class MessageFiles:
    """The message files of one user, rooted at ``<user dir>/msg``."""

    def __init__(self, user_dir: Path) -> None:
        self.root = user_dir / "msg"
        self._known_bucket = ""  # the last bucket seen to exist: no stat() per delivery

    def path(self, name: str) -> Path:
        """The file of a stored name ("bucket/token")."""
        return self.root / name

    def _bucket(self) -> Path:
        """The current bucket directory, created (durably) if needed."""
        name = time.strftime("%Y%m%d%H", time.gmtime())
        bucket = self.root / name
        if name == self._known_bucket or bucket.is_dir():
            self._known_bucket = name
            return bucket
        if not self.root.is_dir():
            self.root.mkdir(exist_ok=True)
            fsync_dir(self.root.parent)
        bucket.mkdir(exist_ok=True)
        fsync_dir(self.root)
        self._known_bucket = name
        return bucket

    def write(self, raw: bytes, *, sync_dir: bool = True) -> str:
        """Write ``raw`` as a new file, fsynced, and return its stored name. Raises
        StoreTemporaryError, leaving nothing behind.

        With ``sync_dir=False`` the caller makes the new name durable itself, by fsyncing
        ``path(name).parent`` before anything refers to the file (a group commit syncs the
        bucket once for all of its deliveries)."""
        token = secrets.token_hex(16)
        try:
            bucket = self._bucket()
        except OSError as exc:
            raise temporary_error(exc, "creating message directory") from exc
        path = bucket / token
        try:
            write_new_file(path, raw)
            if sync_dir:
                fsync_dir(bucket)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                self._known_bucket = ""  # the bucket went away under us: make it again next time
            path.unlink(missing_ok=True)
            raise temporary_error(exc, "writing message file") from exc
        return f"{bucket.name}/{token}"

    def adopt(self, source: Path, name: str) -> None:
        """Give this user the file ``source`` under ``name``, durably: a hard link when on
        the same filesystem, else a copy."""
        target = self.root / name
        bucket = target.parent
        try:
            if not bucket.is_dir():
                self.root.mkdir(exist_ok=True)
                bucket.mkdir(exist_ok=True)
                fsync_dir(self.root)
        except OSError as exc:
            raise temporary_error(exc, "creating message directory") from exc
        try:
            os.link(source, target)
            fsync_dir(bucket)
            return
        except OSError as exc:
            target.unlink(missing_ok=True)
            if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                raise temporary_error(exc, "linking message file") from exc
        tmp = bucket / (TMP_PREFIX + target.name)
        try:
            shutil.copyfile(source, tmp)
            fsync_file(tmp)
            os.rename(tmp, target)
            fsync_dir(bucket)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            raise temporary_error(exc, "copying message file") from exc

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
        """Every file under msg/ as (stored name "bucket/file", path), temporary ones too."""
        if not self.root.is_dir():
            return
        for bucket in sorted(self.root.iterdir()):
            if bucket.is_dir():
                for entry in sorted(bucket.iterdir()):
                    yield f"{bucket.name}/{entry.name}", entry
