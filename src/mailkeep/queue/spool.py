"""The durable outbound spool: messages accepted for remote recipients, until delivered.

Layout under the spool root (``data_dir/queue``), one message = two files with one id:

    messages/<id>.eml     the message bytes exactly as they will be sent (our Received on top)
    envelopes/<id>.json   the envelope and per-recipient state (queue.models.QueuedMessage)
    tmp/                  files being written; anything here after a crash is garbage

Implementation notes (invariants):

- ``put`` writes the message file, fsyncs it, renames it into messages/, then writes the
  envelope the same way, and fsyncs both directories before it returns. The envelope's
  rename is the commit point: a message with an envelope is complete and durable; a
  message file without an envelope is an interrupted ``put`` or a delivered message whose
  file was not collected yet (``sweep`` removes it).
- Envelopes change only by whole-file replacement (write tmp, fsync, rename, fsync dir), so
  a reader sees the old or the new state, never a mixture. ``remove`` deletes the envelope
  first, then the message.
- Ids are time-ordered (milliseconds since the epoch, hex) plus 48 random bits, so
  ``list_ids`` is the arrival order and ids never repeat.
- Every method that touches the disk has an async form running in a worker thread; the
  synchronous ones are for the CLI and the tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from mailkeep.durable import fsync_dir, write_new_file
from mailkeep.queue.models import QueuedMessage

log = logging.getLogger(__name__)

MESSAGES = "messages"
ENVELOPES = "envelopes"
TMP = "tmp"


def new_id(now: float) -> str:
    """A time-ordered, unique spool id: 12 hex digits of milliseconds, 12 random."""
    return f"{int(now * 1000):012x}{secrets.token_hex(6)}"


def _write_durably(tmp: Path, final: Path, data: bytes) -> None:
    """Write ``data`` to ``tmp``, fsync it and rename it to ``final`` (fsync of the
    directory is the caller's, so several renames share one)."""
    write_new_file(tmp, data)
    os.replace(tmp, final)


class Spool:
    """The spool directory. Safe to use from several threads (files are per message)."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock
        self._on_put: list[Callable[[], None]] = []
        self._messages = root / MESSAGES
        self._envelopes = root / ENVELOPES
        self._tmp = root / TMP
        for path in (root, self._messages, self._envelopes, self._tmp):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------

    def message_path(self, spool_id: str) -> Path:
        """The message file (open it for reading; never write it)."""
        return self._messages / f"{_checked(spool_id)}.eml"

    def envelope_path(self, spool_id: str) -> Path:
        return self._envelopes / f"{_checked(spool_id)}.json"

    # -- synchronous -----------------------------------------------------------------------

    def put_sync(self, envelope: QueuedMessage, raw: bytes) -> None:
        """Store a new message durably (see the module notes); the id is the envelope's."""
        spool_id = _checked(envelope.id)
        _write_durably(self._tmp / f"{spool_id}.eml", self.message_path(spool_id), raw)
        fsync_dir(self._messages)
        _write_durably(
            self._tmp / f"{spool_id}.json", self.envelope_path(spool_id), envelope.encode()
        )
        fsync_dir(self._envelopes)

    def update_sync(self, envelope: QueuedMessage) -> None:
        """Replace a message's envelope atomically (the worker records attempts)."""
        spool_id = _checked(envelope.id)
        tmp = self._tmp / f"{spool_id}.{secrets.token_hex(4)}.json"
        _write_durably(tmp, self.envelope_path(spool_id), envelope.encode())
        fsync_dir(self._envelopes)

    def load_sync(self, spool_id: str) -> QueuedMessage:
        """The envelope (FileNotFoundError when gone; SpoolFormatError when damaged)."""
        return QueuedMessage.decode(self.envelope_path(spool_id).read_bytes())

    def read_message_sync(self, spool_id: str) -> bytes:
        return self.message_path(spool_id).read_bytes()

    def list_ids(self) -> list[str]:
        """Ids of every committed message, oldest first."""
        return sorted(p.stem for p in self._envelopes.glob("*.json"))

    def remove_sync(self, spool_id: str, *, sync: bool = True) -> None:
        """Forget a message (every recipient done): envelope first, then the bytes.
        ``sync=False`` skips the directory fsync: a kill -9 cannot undo the unlink, only a
        power loss can, and then the message is sent again (at least once, never lost)."""
        self.envelope_path(spool_id).unlink(missing_ok=True)
        if sync:
            fsync_dir(self._envelopes)
        self.message_path(spool_id).unlink(missing_ok=True)

    def forget_sync(self, spool_id: str) -> None:
        """Commit "every recipient done" by removing the envelope only (no directory fsync,
        as ``remove_sync(sync=False)``). The message file is then garbage: pass the id to
        ``collect_sync`` later; after a crash ``sweep`` finds it (a message file without an
        envelope). This keeps one unlink off the path between two deliveries."""
        self.envelope_path(spool_id).unlink(missing_ok=True)

    def collect_sync(self, spool_ids: list[str]) -> None:
        """Remove the message files of ``forget_sync``'s ids."""
        for spool_id in spool_ids:
            self.message_path(spool_id).unlink(missing_ok=True)

    def sweep(self) -> list[str]:
        """Remove what interrupted writes left (tmp files, messages without an envelope);
        call at start-up, before anything else uses the spool. Returns the removed names."""
        removed = []
        for path in self._tmp.iterdir():
            path.unlink(missing_ok=True)
            removed.append(f"{TMP}/{path.name}")
        committed = set(self.list_ids())
        for path in self._messages.glob("*.eml"):
            if path.stem not in committed:
                path.unlink(missing_ok=True)
                removed.append(f"{MESSAGES}/{path.name}")
        if removed:
            log.warning("spool: removed unfinished files", extra={"count": len(removed)})
        return removed

    # -- asynchronous ----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) after each ``put``: the queue worker's
        ``wake``, so new mail goes out without waiting for the next scan."""
        self._on_put.append(callback)

    async def put(self, envelope: QueuedMessage, raw: bytes) -> None:
        """``put_sync`` in a worker thread: returns once the message is durable."""
        await asyncio.to_thread(self.put_sync, envelope, raw)
        for callback in self._on_put:
            callback()

    async def update(self, envelope: QueuedMessage) -> None:
        await asyncio.to_thread(self.update_sync, envelope)

    async def load(self, spool_id: str) -> QueuedMessage:
        return await asyncio.to_thread(self.load_sync, spool_id)

    async def remove(self, spool_id: str, *, sync: bool = True) -> None:
        await asyncio.to_thread(self.remove_sync, spool_id, sync=sync)


def _checked(spool_id: str) -> str:
    """Refuse ids that could name a path outside the spool."""
    if not spool_id or not all(c in "0123456789abcdef" for c in spool_id):
        raise ValueError(f"not a spool id: {spool_id!r}")
    return spool_id
