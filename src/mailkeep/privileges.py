"""Running as an unprivileged user after binding ports, and a data_dir that user owns.

Started as root, mailkeep binds its sockets, then becomes ``server.user``: its groups
(initgroups, so e.g. a group allowed to read the key works), then its group, then the user,
in that order, or the later calls would lack the privilege. Started as anyone else, it stays
who it is.
"""

from __future__ import annotations

import logging
import os
import pwd
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mailkeep.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunAs:
    """The user the server becomes after binding."""

    name: str
    uid: int
    gid: int


def run_as_user(name: str) -> RunAs | None:
    """The user to become (``server.user``) when running as root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UserError(
            f"server.user {name!r} does not exist: create it (e.g. useradd --system "
            f"--home-dir /var/lib/mailkeep {name}) or set server.user to an existing user"
        ) from None
    if entry.pw_uid == 0:
        log.warning("server.user is root: the server keeps full privileges", extra={"user": name})
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def give_to(path: Path, run_as: RunAs | None) -> None:
    """Make ``run_as`` own ``path`` (a file or directory mailkeep created as root)."""
    if run_as is None:
        return
    st = path.lstat()
    if (st.st_uid, st.st_gid) != (run_as.uid, run_as.gid):
        os.chown(path, run_as.uid, run_as.gid, follow_symlinks=False)
        log.info("changed owner", extra={"path": str(path), "user": run_as.name})


def prepare_data_dir(data_dir: Path, run_as: RunAs | None) -> None:
    """Create data_dir (mode 0700) if needed; as root, make ``run_as`` own it and what the
    CLI (run as root) left in it.

    A data_dir not owned by ``run_as`` is handed over only when it is empty or private
    (no group or other permissions, as mailkeep makes it): pointing data_dir at a shared
    directory such as /var/lib must not give it away. Inside, every entry not owned by
    ``run_as`` is handed over, descending only into directories that were not (so a mail
    store already owned by ``run_as`` is not walked on every start). Symbolic links are
    changed themselves, never followed.
    """
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if run_as is None:
            return
        st = data_dir.stat()
        if st.st_uid != run_as.uid:
            if st.st_mode & 0o077 and any(data_dir.iterdir()):
                raise UserError(
                    f"data_dir {data_dir} is not empty, not private and not owned by "
                    f"server.user {run_as.name!r}: chown -R {run_as.name}: {data_dir}, or "
                    "choose another data_dir"
                )
            give_to(data_dir, run_as)
        _hand_over_contents(data_dir, run_as)
    except OSError as exc:
        raise UserError(
            f"data_dir {data_dir} cannot be created or owned: {exc.strerror or exc}; "
            "create it or point data_dir elsewhere"
        ) from None


def _hand_over_contents(directory: Path, run_as: RunAs) -> None:
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.stat(follow_symlinks=False).st_uid == run_as.uid:
                continue
            os.chown(entry.path, run_as.uid, run_as.gid, follow_symlinks=False)
            if entry.is_dir(follow_symlinks=False):
                _hand_over_contents(Path(entry.path), run_as)


def check_writable(data_dir: Path) -> None:
    """Raise a one-line UserError unless the current user can create files in data_dir."""
    try:
        with tempfile.TemporaryFile(dir=data_dir, prefix=".mailkeep-write-check"):
            pass
    except OSError as exc:
        raise UserError(
            f"data_dir {data_dir} is not writable by user {_whoami()}: "
            f"{exc.strerror or exc}; fix its owner or mode"
        ) from None


def drop_privileges(run_as: RunAs | None) -> None:
    """Become ``run_as`` for good (no way back to root)."""
    if run_as is None or run_as.uid == 0:
        return
    try:
        os.initgroups(run_as.name, run_as.gid)  # its groups, e.g. one that may read the key
        os.setgid(run_as.gid)
        os.setuid(run_as.uid)
    except OSError as exc:
        raise UserError(
            f"cannot become server.user {run_as.name!r}: {exc.strerror or exc}"
        ) from None
    if os.getuid() == 0 or os.geteuid() == 0:  # pragma: no cover - the kernel said yes
        raise RuntimeError("privileges were not dropped")
    log.info("dropped privileges", extra={"user": run_as.name, "uid": run_as.uid})


def _whoami() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
