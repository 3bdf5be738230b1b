"""Per-session state of one IMAP connection, and the output path handlers write through.

RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1): which one is in force is ``rev2``, set by
``ENABLE IMAP4rev2`` (RFC 9051 6.3.1); \\Recent exists only in IMAP4rev1 sessions.

Implementation notes (invariants):
- ``selected`` is None exactly when the core is not in SELECTED state after a completed
  command; SELECT replaces it, CLOSE/UNSELECT/failed SELECT clear it.
- Message numbers come only from ``selected.seqmap`` (what the client was told);
  changes from the store's feed are applied to it by ``absorb_changes`` and reported by
  ``pending_updates`` at the moments RFC 9051 7.4.1 allows.
- ``own_changes`` holds (uid, modseq) of flag changes this session made and reported
  itself, so the feed's echo of them is not reported twice.
- ``Selected.modseq`` is the highest MODSEQ of the mailbox this session has absorbed: the
  snapshot's HIGHESTMODSEQ at SELECT, then each change heard for the mailbox. The feed
  delivers changes in MODSEQ order, so a flag change at or below it is already known (it
  was committed before the snapshot) and is not reported again; after a feed overflow the
  session asks the store for what changed above it (RFC 7162 CHANGEDSINCE, VANISHED).
- CONDSTORE (RFC 7162 3.1): once ``condstore`` is set, every FETCH response carrying flags
  carries MODSEQ too. QRESYNC (3.2): once ``qresync`` is set, expunges are reported as
  VANISHED, and while some wait (7.4.1) no HIGHESTMODSEQ at or above them is sent.
- Output is buffered in ``_out`` and written when it grows past ``FLUSH_AT`` or when the
  server flushes before reading: many small untagged responses become few writes. With
  COMPRESS active each write is compressed and sync-flushed (net/imap/compress.py).
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.login import ScramLogin
from mailkeep.accounts.models import User
from mailkeep.accounts.throttle import LoginThrottle
from mailkeep.net.connection import Connection
from mailkeep.net.imap.compress import Deflate
from mailkeep.protocol.imap.connection import IMAPServerConnection
from mailkeep.protocol.imap.responses import Code, Data, Response, Status, StatusResponse
from mailkeep.protocol.imap.sequence import SequenceSet
from mailkeep.protocol.imap.sequencemap import SequenceMap
from mailkeep.protocol.imap.values import Atom, Stream, Value
from mailkeep.protocol.sasl import ServerMechanism
from mailkeep.store.changes import (
    Change,
    FlagsChanged,
    MessagesAdded,
    MessagesExpunged,
    Subscription,
)
from mailkeep.store.interface import MailStore
from mailkeep.store.models import Flag, MetadataLimits, Quota, SortRow, UidSet

FLUSH_AT = 64 * 1024  # buffered output octets that trigger a write
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: streams a ``Stream`` value's octets to the connection (the fetch handler supplies it)
StreamWriter = Callable[[Stream], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IMAPSettings:
    """The adapter's limits (the [imap] config section's session fields)."""

    # RFC 9051 5.4: an autologout timer must be at least 30 minutes once logged in
    autologout: float = 1800.0
    login_timeout: float = 60.0  # before login: no legitimate client idles here
    max_connections_per_ip: int = 50
    max_connections_per_user: int = 30
    max_bad_commands: int = 20
    max_commands_before_login: int = 20
    max_append_message: int = 50 * 1024 * 1024  # APPENDLIMIT, from IMAPLimits.max_message
    unauthenticate: bool = True  # RFC 8437 8: a server must be able to switch it off
    #: clients that may log in without TLS (imap.plaintext_login_networks)
    plaintext_login_networks: tuple[IPNetwork, ...] = ()
    metadata: MetadataLimits = field(default_factory=MetadataLimits)  # RFC 5464 limits


@dataclass(frozen=True, slots=True)
class Services:
    """What the command handlers work with, shared by every session."""

    hostname: str
    directory: Directory
    store: MailStore
    throttle: LoginThrottle
    settings: IMAPSettings
    #: logged-in sessions per user id (for max_connections_per_user)
    per_user: collections.Counter[int] = field(default_factory=collections.Counter)


@dataclass(slots=True)
class Selected:
    """The selected mailbox of a session."""

    mailbox_id: int
    name: str
    read_only: bool
    uidvalidity: int
    seqmap: SequenceMap
    #: IMAP4rev1 \\Recent: UIDs this session alone was handed by ``claim_recent``
    recent: set[int] = field(default_factory=set)
    #: SORT/THREAD rows read so far (they never change for a UID; net/imap/sort.py)
    sort_rows: dict[int, SortRow] = field(default_factory=dict)
    #: the highest MODSEQ of this mailbox the session has absorbed (see the notes above)
    modseq: int = 0


@dataclass(slots=True)
class Session:
    """Everything one connection knows between commands."""

    conn: Connection
    core: IMAPServerConnection
    services: Services
    user: User | None = None
    #: the tag of the command being answered (ESEARCH echoes it)
    tag: str | None = None
    selected: Selected | None = None
    rev2: bool = False
    #: ENABLE UTF8=ACCEPT (RFC 6855): UTF-8 names and strings, APPEND UTF8 (...)
    utf8_accept: bool = False
    condstore: bool = False  # RFC 7162 3.1: a CONDSTORE enabling command was seen
    qresync: bool = False  # RFC 7162 3.2.3: ENABLE QRESYNC was answered
    #: SEARCHRES (RFC 5182): the saved result, as UIDs so expunges cannot shift it
    saved_uids: tuple[int, ...] = ()
    subscription: Subscription | None = None
    #: an AUTHENTICATE exchange in progress: (tag, mechanism)
    sasl: tuple[str, ServerMechanism] | None = None
    #: the accounts' side of a SCRAM exchange in progress
    scram: ScramLogin | None = None
    #: SCRAM succeeded and its server-final message went out: the user, once the client
    #: acknowledges it with an empty response
    sasl_verified: User | None = None
    #: the tag of an IDLE in progress
    idle_tag: str | None = None
    #: commands before login (bounded by the config)
    commands_before_login: int = 0
    own_changes: set[tuple[int, int]] = field(default_factory=set)
    new_uids_seen: bool = False  # a MessagesAdded for the selected mailbox arrived
    #: COMPRESS=DEFLATE (RFC 4978) once active: every write goes through it
    deflate: Deflate | None = None
    _out: bytearray = field(default_factory=bytearray)

    #: fields UNAUTHENTICATE keeps: the connection and what is shared, the output buffer
    KEPT_ON_RESET = frozenset({"conn", "core", "services", "_out"})

    # -- identity ------------------------------------------------------------------------

    def reset(self) -> None:
        """UNAUTHENTICATE (RFC 8437 3, 4.1): every field back to its default but the
        connection's, so whatever a later change adds to the session is reset too. Release
        the login's resources (subscription, per-user count) before calling this."""
        for f in dataclasses.fields(self):
            if f.name in self.KEPT_ON_RESET:
                continue
            if f.default is not dataclasses.MISSING:
                setattr(self, f.name, f.default)
            elif f.default_factory is not dataclasses.MISSING:
                setattr(self, f.name, f.default_factory())
        self.core.disable_utf8()

    @property
    def user_id(self) -> int:
        assert self.user is not None, "handler needs an authenticated session"
        return self.user.id

    @property
    def may_send_credentials(self) -> bool:
        """RFC 9051 6.2.3: over TLS, or from a network trusted with plaintext logins."""
        if self.conn.tls is not None:
            return True
        networks = self.services.settings.plaintext_login_networks
        if not networks:
            return False
        ip = self.conn.peer.ip
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack listener shows IPv4 clients as ::ffff:a.b.c.d
        return any(ip in net for net in networks)

    @property
    def quota(self) -> Quota:
        assert self.user is not None
        return Quota(self.user.quota_bytes, self.user.quota_messages)

    def require_selected(self) -> Selected:
        assert self.selected is not None, "the core allows this only in SELECTED state"
        return self.selected

    def resolve(self, sequence: SequenceSet, uid: bool) -> list[tuple[int, int]]:
        """(sequence number, UID) of each message ``sequence`` names, "$" included
        (RFC 5182 2.1); CommandSyntaxError (BAD) for numbers beyond EXISTS."""
        seqmap = self.require_selected().seqmap
        saved: tuple[tuple[int, int], ...] = ()
        if sequence.saved:
            if uid:
                saved = UidSet.of(self.saved_uids).ranges
            else:
                numbers = (seqmap.number_of(u) for u in self.saved_uids)
                saved = UidSet.of(n for n in numbers if n is not None).ranges
        return seqmap.resolve(sequence, uid, saved)

    # -- output ----------------------------------------------------------------------------

    async def send(self, response: Response) -> None:
        """Encode and queue one response (written at once when the buffer is large)."""
        self._out += self.core.send(response)
        if len(self._out) >= FLUSH_AT:
            await self.flush()

    async def send_chunks(self, response: Response, write_stream: StreamWriter) -> None:
        """Send a response holding streamed literals; ``write_stream`` writes each one."""
        for chunk in self.core.send_chunks(response):
            if isinstance(chunk, bytes):
                self._out += chunk
            else:
                await self.flush()
                await write_stream(chunk)
        if len(self._out) >= FLUSH_AT:
            await self.flush()

    async def send_raw(self, data: bytes) -> None:
        """Bytes the core produced itself (a literal's "+" continuation)."""
        self._out += data

    async def write_raw(self, data: bytes) -> None:
        """Octets of a streamed literal, after what is buffered."""
        await self.flush()
        await self.conn.write(data if self.deflate is None else self.deflate.compress(data))

    async def flush(self) -> None:
        if self._out:
            data = bytes(self._out)
            self._out.clear()
            if self.deflate is not None:
                data = self.deflate.compress(data)  # sync-flushed: nothing held back
            await self.conn.write(data)

    # -- flags as the client sees them -----------------------------------------------------

    def flag_names(self, uid: int, flags: Flag, keywords: Iterable[str]) -> list[Value]:
        names: list[Value] = list(_system_flags(flags))
        selected = self.selected
        if not self.rev2 and selected is not None and uid in selected.recent:
            names.append(Atom("\\Recent"))
        names += [Atom(k) for k in sorted(keywords)]
        return names

    # -- changes from other sessions -------------------------------------------------------

    def absorb_changes(self, changes: Sequence[Change]) -> None:
        """Apply the feed's changes for the selected mailbox to the sequence map."""
        selected = self.selected
        if selected is None:
            return
        box = selected.mailbox_id
        for change in changes:
            if change.mailbox_id != box:
                continue
            if isinstance(change, MessagesAdded):
                selected.seqmap.add(change.uids)
                self.new_uids_seen = True
            elif isinstance(change, MessagesExpunged):
                selected.seqmap.expunge(change.uids, change.highestmodseq)
                selected.recent.difference_update(change.uids)
            elif isinstance(change, FlagsChanged):
                for fc in change.changes:
                    if (fc.uid, fc.modseq) in self.own_changes:
                        self.own_changes.discard((fc.uid, fc.modseq))
                    elif fc.modseq > selected.modseq:
                        self.flags_changed(fc.uid, fc.modseq, fc.flags, fc.keywords)
            else:
                continue
            selected.modseq = max(selected.modseq, change.highestmodseq)

    def flags_changed(self, uid: int, modseq: int, flags: Flag, keywords: Iterable[str]) -> None:
        """Queue an untagged FETCH of a message's new flags (and MODSEQ with CONDSTORE)."""
        items: list[Value] = [Atom("FLAGS"), self.flag_names(uid, flags, keywords)]
        if self.condstore:
            items += [Atom("MODSEQ"), [modseq]]
        self.require_selected().seqmap.flags_changed(uid, items)

    def pending_updates(self, allow_expunge: bool) -> list[Data | StatusResponse]:
        """The untagged EXPUNGE (VANISHED with QRESYNC)/EXISTS/FETCH responses to send now
        (and RECENT in rev1)."""
        selected = self.selected
        if selected is None:
            return []
        updates: list[Data | StatusResponse] = []
        updates += selected.seqmap.updates(allow_expunge, vanished=self.qresync)
        if not self.rev2 and any(isinstance(d, Data) and _is_exists(d) for d in updates):
            recent = sum(1 for u in selected.recent if selected.seqmap.number_of(u))
            updates.append(Data((recent, Atom("RECENT"))))
        delayed = selected.seqmap.delayed_expunge_modseq
        if self.qresync and delayed is not None:
            # RFC 7162 3.2: a client that loses the connection now must not skip the
            # expunges still waiting, whatever MODSEQ values it has seen meanwhile.
            code = Code("HIGHESTMODSEQ", (delayed - 1,))
            updates.append(StatusResponse(Status.OK, "expunges pending", code))
        return updates

    def reported_modseq(self) -> int:
        """The HIGHESTMODSEQ this session may tell the client now: everything up to it has
        been reported (or will be, before the tagged response)."""
        selected = self.require_selected()
        delayed = selected.seqmap.delayed_expunge_modseq
        return selected.modseq if delayed is None else min(selected.modseq, delayed - 1)


_FLAG_ATOMS: dict[int, tuple[Atom, ...]] = {}


def _system_flags(flags: Flag) -> tuple[Atom, ...]:
    """The flags as atoms, cached per value (Flag arithmetic is slow in FETCH 1:*)."""
    key = int(flags)
    atoms = _FLAG_ATOMS.get(key)
    if atoms is None:
        atoms = _FLAG_ATOMS[key] = tuple(Atom(n) for n in flags.imap_names)
    return atoms


def _is_exists(data: Data) -> bool:
    return len(data.values) == 2 and data.values[1] == Atom("EXISTS")
