"""Reading Maildir and mbox for ``mailkeep import``, writing Maildir for ``mailkeep export``.

Maildir (https://cr.yp.to/proto/maildir.html) with Dovecot's Maildir++ folders: INBOX is the
root's cur/ and new/, a folder is a ".Name.Sub" directory (names in IMAP modified UTF-7,
RFC 3501 5.1.3, "." as separator). Flags are the letters after ":2,": D Draft, F Flagged,
P Passed ($Forwarded), R Replied (\\Answered), S Seen, T Trashed (\\Deleted); lowercase
letters are keywords numbered in ``dovecot-keywords``. ``dovecot-uidlist`` gives the UIDs
and UIDVALIDITY, which an import keeps. The internal date is the file's mtime (Dovecot's
received date for Maildir).

mbox (RFC 4155): messages start at a "From " line; ">From " quoting is undone (mboxrd);
flags come from the Status and X-Status headers (RO: Seen, A: Answered, F: Flagged, D:
Deleted, T: Draft); the internal date from the "From " line.

Imported messages get CRLF line endings (a bare LF becomes CRLF): Dovecot and mbox keep LF
on disk and convert when serving; this store serves the bytes it keeps.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailkeep.protocol.imap import mutf7
from mailkeep.store.errors import MailboxNotFound
from mailkeep.store.interface import MailStore
from mailkeep.store.models import (
    HIERARCHY_SEPARATOR,
    INBOX,
    Flag,
    MailboxStatus,
    NewMessage,
    Quota,
    UidSet,
)

_MAILDIR_FLAGS = {"D": Flag.DRAFT, "F": Flag.FLAGGED, "R": Flag.ANSWERED, "S": Flag.SEEN}
_MAILDIR_FLAGS["T"] = Flag.DELETED
PASSED_KEYWORD = "$Forwarded"  # RFC 5788: what Maildir's P (passed) means in IMAP
_BARE_LF = re.compile(rb"(?<!\r)\n")


def to_crlf(raw: bytes) -> bytes:
    """Every bare LF as CRLF."""
    return _BARE_LF.sub(b"\r\n", raw)


@dataclass(frozen=True, slots=True)
class MaildirMessage:
    path: Path
    flags: Flag
    keywords: frozenset[str]
    internal_date: datetime
    uid: int | None


@dataclass(frozen=True, slots=True)
class MaildirFolder:
    """One folder: its store name, messages (UID order where known), kept UIDVALIDITY."""

    name: str
    path: Path
    uidvalidity: int | None
    messages: tuple[MaildirMessage, ...]


def _uidlist(folder: Path) -> tuple[int | None, dict[str, int]]:
    """(UIDVALIDITY, base file name → UID) from dovecot-uidlist (versions 1 and 3)."""
    path = folder / "dovecot-uidlist"
    if not path.is_file():
        return None, {}
    lines = path.read_text("utf-8", errors="replace").splitlines()
    if not lines:
        return None, {}
    header = lines[0].split()
    uidvalidity: int | None = None
    if header[:1] == ["3"]:
        for field in header[1:]:
            if field.startswith("V") and field[1:].isdigit():
                uidvalidity = int(field[1:])
    elif header[:1] == ["1"] and len(header) >= 2 and header[1].isdigit():
        uidvalidity = int(header[1])
    uids: dict[str, int] = {}
    for line in lines[1:]:
        head, _, name = line.partition(":") if header[:1] == ["3"] else line.partition(" ")
        uid_text = head.split()[0] if head.split() else ""
        if uid_text.isdigit() and name:
            uids[name.strip().split(":", 1)[0]] = int(uid_text)
    return uidvalidity, uids


def _keyword_names(root: Path) -> dict[str, str]:
    path = root / "dovecot-keywords"
    names: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text("utf-8", errors="replace").splitlines():
            number, _, name = line.partition(" ")
            if number.isdigit() and int(number) < 26 and name:
                names[chr(ord("a") + int(number))] = name
    return names


def _flags(info: str, keyword_names: dict[str, str]) -> tuple[Flag, frozenset[str]]:
    flags = Flag.NONE
    keywords: set[str] = set()
    for letter in info:
        if letter in _MAILDIR_FLAGS:
            flags |= _MAILDIR_FLAGS[letter]
        elif letter == "P":
            keywords.add(PASSED_KEYWORD)
        elif letter in keyword_names:
            keywords.add(keyword_names[letter])
    return flags, frozenset(keywords)


def _folder_name(directory: str) -> str:
    """ ".Work.Projects" → "Work/Projects" (levels decoded from modified UTF-7)."""
    levels = directory[1:].split(".")
    return HIERARCHY_SEPARATOR.join(mutf7.decode(level.encode("ascii")) for level in levels)


def _read_folder(name: str, folder: Path, keyword_names: dict[str, str]) -> MaildirFolder:
    uidvalidity, uids = _uidlist(folder)
    found: list[MaildirMessage] = []
    for sub in ("cur", "new"):
        directory = folder / sub
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            base, _, info = entry.name.partition(":2,")
            flags, keywords = (
                _flags(info, keyword_names) if sub == "cur" else (Flag.NONE, frozenset())
            )
            mtime = datetime.fromtimestamp(entry.stat().st_mtime, UTC).replace(microsecond=0)
            found.append(MaildirMessage(entry, flags, keywords, mtime, uids.get(base)))
    known = sorted((m for m in found if m.uid is not None), key=lambda m: m.uid or 0)
    rest = [m for m in found if m.uid is None]
    return MaildirFolder(name, folder, uidvalidity, tuple(known + rest))


def read_maildir(root: Path) -> list[MaildirFolder]:
    """Every folder of a Maildir++ tree, INBOX first. Raises FileNotFoundError when ``root``
    has no cur/ or new/."""
    if not ((root / "cur").is_dir() or (root / "new").is_dir()):
        raise FileNotFoundError(f"{root} is not a Maildir (no cur/ or new/)")
    keyword_names = _keyword_names(root)
    folders = [_read_folder(INBOX, root, keyword_names)]
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") and entry.name not in (".", "..") and entry.is_dir():
            if (entry / "cur").is_dir() or (entry / "new").is_dir():
                names = _keyword_names(entry) or keyword_names
                folders.append(_read_folder(_folder_name(entry.name), entry, names))
    return folders


# --- mbox ---------------------------------------------------------------------------------

_FROM_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
_STATUS = re.compile(rb"^(X-)?Status:[ \t]*([A-Za-z]*)", re.MULTILINE | re.IGNORECASE)


def _mbox_flags(header: bytes) -> Flag:
    flags = Flag.NONE
    for match in _STATUS.finditer(header):
        letters = match.group(2).decode("ascii", "replace").upper()
        if match.group(1):  # X-Status
            flags |= Flag.ANSWERED if "A" in letters else Flag.NONE
            flags |= Flag.FLAGGED if "F" in letters else Flag.NONE
            flags |= Flag.DELETED if "D" in letters else Flag.NONE
            flags |= Flag.DRAFT if "T" in letters else Flag.NONE
        elif "R" in letters:
            flags |= Flag.SEEN
    return flags


def _from_line_date(line: bytes) -> datetime | None:
    # "From sender@example.org Tue Jan  2 10:00:00 2024" (asctime, RFC 4155 2)
    words = line.decode("latin-1").split()
    if len(words) < 7:
        return None
    try:
        parsed = time.strptime(" ".join(words[-5:]), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return datetime(*parsed[:6], tzinfo=UTC)


def read_mbox(path: Path) -> Iterator[tuple[bytes, Flag, datetime | None]]:
    """Each message of an mbox file as (CRLF bytes, flags, internal date), in order."""
    with path.open("rb") as handle:
        current: list[bytes] = []
        from_line: bytes | None = None
        previous_blank = True
        for line in handle:
            if line.startswith(b"From ") and previous_blank:
                if from_line is not None:
                    yield _mbox_message(from_line, current)
                from_line, current = line, []
            elif from_line is not None:
                current.append(line)
            previous_blank = line in (b"\n", b"\r\n")
        if from_line is not None:
            yield _mbox_message(from_line, current)


def _mbox_message(from_line: bytes, lines: list[bytes]) -> tuple[bytes, Flag, datetime | None]:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line that separates messages
    raw = _FROM_QUOTED.sub(rb"\1", b"".join(lines))
    header_end = raw.find(b"\n\n")
    header = raw if header_end < 0 else raw[:header_end]
    return to_crlf(raw), _mbox_flags(header), _from_line_date(from_line)


# --- export -------------------------------------------------------------------------------


def maildir_folder_dir(root: Path, name: str) -> Path:
    """Where a store mailbox goes in a Maildir++ tree (a "." inside a level becomes "_")."""
    if name == INBOX:
        return root
    levels = [mutf7.encode(level).decode("ascii").replace(".", "_") for level in name.split("/")]
    return root / ("." + ".".join(levels))


def maildir_file_name(
    uid: int, internal: datetime, flags: Flag, keywords: frozenset[str], letters: dict[str, str]
) -> str:
    """A Maildir file name carrying ``flags`` and ``keywords`` (``letters`` maps keyword →
    its dovecot-keywords letter; $Forwarded is P)."""
    info = [letter for letter, flag in _MAILDIR_FLAGS.items() if flags & flag]
    if PASSED_KEYWORD in keywords:
        info.append("P")
    info += [letters[k] for k in keywords if k in letters]
    return f"{int(internal.timestamp())}.M{uid}.mailkeep:2,{''.join(sorted(info))}"


# --- the operations (the CLI runs these) --------------------------------------------------

IMPORT_BATCH = 200  # messages per store call: bounded memory, few commits


@dataclass(frozen=True, slots=True)
class TransferReport:
    """What an import or export did, per mailbox: (name, messages, UIDs kept)."""

    mailboxes: tuple[tuple[str, int, bool], ...]

    @property
    def messages(self) -> int:
        return sum(count for _, count, _ in self.mailboxes)


async def _ensure_mailbox(store: MailStore, user_id: int, name: str) -> MailboxStatus:
    try:
        return await store.status(user_id, name)
    except MailboxNotFound:
        await store.create_mailbox(user_id, name)
        return await store.status(user_id, name)


def _load(batch: Sequence[MaildirMessage]) -> list[NewMessage]:
    return [
        NewMessage(to_crlf(m.path.read_bytes()), m.flags, m.keywords, m.internal_date)
        for m in batch
    ]


async def import_maildir(
    store: MailStore, user_id: int, root: Path, quota: Quota
) -> TransferReport:
    """Import every folder of a Maildir++ tree; UIDs and UIDVALIDITY are kept for a folder
    whose target mailbox never held a message and whose UIDs are all known."""
    folders = await asyncio.to_thread(read_maildir, root)
    done: list[tuple[str, int, bool]] = []
    for folder in folders:
        status = await _ensure_mailbox(store, user_id, folder.name)
        known = [m.uid for m in folder.messages]
        keep = (
            folder.uidvalidity is not None
            and status.uidnext == 1
            and status.messages == 0
            and all(uid is not None for uid in known)
        )
        for start in range(0, len(folder.messages), IMPORT_BATCH):
            batch = folder.messages[start : start + IMPORT_BATCH]
            items = await asyncio.to_thread(_load, batch)
            if keep:
                uids = [m.uid or 0 for m in batch]
                validity = folder.uidvalidity if start == 0 else None
                await store.import_messages(
                    user_id, folder.name, items, quota, uids=uids, uidvalidity=validity
                )
            else:
                await store.append(user_id, folder.name, items, quota)
        if keep and not folder.messages and folder.uidvalidity is not None:
            await store.import_messages(
                user_id, folder.name, [], quota, uidvalidity=folder.uidvalidity
            )
        done.append((folder.name, len(folder.messages), keep))
    return TransferReport(tuple(done))


async def import_mbox(
    store: MailStore, user_id: int, path: Path, mailbox: str, quota: Quota
) -> TransferReport:
    """Append every message of an mbox file to ``mailbox`` (created if missing)."""
    await _ensure_mailbox(store, user_id, mailbox)
    messages = read_mbox(path)
    count = 0
    while True:
        batch = await asyncio.to_thread(lambda: list(itertools.islice(messages, IMPORT_BATCH)))
        if not batch:
            break
        items = [NewMessage(raw, flags, frozenset(), when) for raw, flags, when in batch]
        await store.append(user_id, mailbox, items, quota)
        count += len(items)
    return TransferReport(((mailbox, count, False),))


def _write_file(path: Path, data: bytes, mtime: float) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


async def export_maildir(store: MailStore, user_id: int, root: Path) -> TransferReport:
    """Write every mailbox as a Maildir++ folder with flags, keywords, dovecot-uidlist (UIDs
    and UIDVALIDITY) and dovecot-keywords, so Dovecot (or an import) keeps them."""
    done: list[tuple[str, int, bool]] = []
    for box in await store.list_mailboxes(user_id):
        snap = await store.select(user_id, box.name)
        folder = maildir_folder_dir(root, box.name)
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        if folder != root:
            (folder / "maildirfolder").touch()
        keywords = [k for k in snap.status.keywords if k != PASSED_KEYWORD][:26]
        letters = {k: chr(ord("a") + i) for i, k in enumerate(keywords)}
        lines = [f"3 V{snap.status.uidvalidity} N{snap.status.uidnext}"]
        uids = list(snap.uids)
        for start in range(0, len(uids), IMPORT_BATCH):
            span = UidSet.span(uids[start], uids[min(len(uids), start + IMPORT_BATCH) - 1])
            for meta in await store.fetch(user_id, snap.status.id, span):
                data = await store.read_message(user_id, snap.status.id, meta.uid)
                name = maildir_file_name(
                    meta.uid, meta.internal_date, meta.flags, meta.keywords, letters
                )
                mtime = meta.internal_date.timestamp()
                await asyncio.to_thread(_write_file, folder / "cur" / name, data, mtime)
                lines.append(f"{meta.uid} :{name.split(':2,')[0]}")
        text = "".join(f"{i} {k}\n" for i, k in enumerate(keywords))
        await asyncio.to_thread((folder / "dovecot-keywords").write_text, text)
        await asyncio.to_thread((folder / "dovecot-uidlist").write_text, "\n".join(lines) + "\n")
        done.append((box.name, len(uids), True))
    return TransferReport(tuple(done))
