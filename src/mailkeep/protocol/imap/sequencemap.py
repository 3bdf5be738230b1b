"""Message sequence numbers of one selected session, and the untagged updates that keep
the client's view in step (RFC 9051 2.3.1.2, 7.3.1 EXISTS, 7.4.1 EXPUNGE, 7.5.2 FETCH;
RFC 7162 3.2.10 VANISHED).

Implementation notes (invariants):

- ``uids`` is what the client has been told: ascending UIDs, position + 1 = sequence
  number. It changes only when ``updates`` reports the change, so numbers in the client's
  commands always mean what the client thinks they mean.
- Messages expunged elsewhere stay in the map (and addressable; the handler finds them gone
  in the store) until an EXPUNGE or VANISHED is sent. RFC 9051 7.4.1: not while no command
  is in progress and not during FETCH, STORE or SEARCH (their UID forms are fine), so the
  caller says whether expunges may be reported now.
- New messages are announced by one EXISTS, after any expunges, and only then addressable.
- Repeated or stale notifications (a session hears its own changes too) are no-ops: adding a
  known UID, expunging an unknown one.
- Memory: UIDs live in an ``array`` (4 octets each), not one Python object per message.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterable, Sequence

from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.responses import Data
from mailkeep.protocol.imap.sequence import SequenceSet
from mailkeep.protocol.imap.values import Atom, Value

# RFC 9051 7.4.1: commands during which EXPUNGE must not be sent (sequence numbers in the
# client's pipeline would shift under it); SORT and THREAD are searches too. MOVE reports
# its own expunges (RFC 6851 3.3), so it is not listed.
NO_EXPUNGE_DURING = frozenset({"FETCH", "STORE", "SEARCH", "SORT", "THREAD"})


def expunge_allowed(command_name: str | None) -> bool:
    """May EXPUNGE be reported while answering ``command_name`` (None: no command)?"""
    return command_name is not None and command_name not in NO_EXPUNGE_DURING


class SequenceMap:
    """Sequence number ↔ UID for one selected mailbox, with pending changes."""

    __slots__ = ("_flag_updates", "_gone", "_gone_modseq", "_new", "uids")

    def __init__(self, uids: Iterable[int]) -> None:
        self.uids = array.array("I", uids)
        self._new: list[int] = []
        self._gone: set[int] = set()
        self._gone_modseq = 0  # the lowest MODSEQ among _gone's expunges (0: unknown)
        self._flag_updates: dict[int, tuple[Value, ...]] = {}

    @property
    def exists(self) -> int:
        """The number of messages the client knows of."""
        return len(self.uids)

    def uid_at(self, number: int) -> int:
        return self.uids[number - 1]

    def number_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    def resolve(
        self, sequence: SequenceSet, uid: bool, saved: Sequence[tuple[int, int]] = ()
    ) -> list[tuple[int, int]]:
        """(sequence number, UID) of every message the set names, ascending. A UID set skips
        UIDs not in the mailbox (RFC 9051 6.4.8); a number set naming a message beyond
        EXISTS is BAD (RFC 9051 7.1)."""
        uids = self.uids
        if not uids:
            if not uid and not sequence.saved and sequence.largest_number() > 0:
                raise CommandSyntaxError("no such message", r.BAD_INVALID_SEQUENCE)
            return []
        out: list[tuple[int, int]] = []
        if uid:
            for lo, hi in sequence.resolve(uids[-1], saved):
                start = bisect.bisect_left(uids, lo)
                stop = bisect.bisect_right(uids, hi)
                out += [(i + 1, uids[i]) for i in range(start, stop)]
            return out
        if sequence.largest_number() > len(uids):
            raise CommandSyntaxError("no such message", r.BAD_INVALID_SEQUENCE)
        for lo, hi in sequence.resolve(len(uids), saved):
            out += [(n, uids[n - 1]) for n in range(lo, min(hi, len(uids)) + 1)]
        return out

    # -- changes heard from the store -------------------------------------------------------

    def add(self, uids: Iterable[int]) -> None:
        """Messages that arrived (any order; known ones are ignored)."""
        last = self._new[-1] if self._new else (self.uids[-1] if self.uids else 0)
        for uid in sorted(uids):
            if uid > last:
                self._new.append(uid)
                last = uid

    def expunge(self, uids: Iterable[int], modseq: int = 0) -> None:
        """Messages removed (unknown ones ignored), recorded at ``modseq`` when known."""
        for uid in uids:
            if self.number_of(uid) is not None:
                self._gone.add(uid)
                self._flag_updates.pop(uid, None)
                if modseq and (not self._gone_modseq or modseq < self._gone_modseq):
                    self._gone_modseq = modseq
            elif uid in self._new:
                self._new.remove(uid)

    @property
    def delayed_expunge_modseq(self) -> int | None:
        """The lowest MODSEQ of the expunges not yet reported (None when there are none or
        their MODSEQ is unknown). While expunges wait (RFC 9051 7.4.1), a QRESYNC client must
        not be told a HIGHESTMODSEQ at or above it (RFC 7162 3.2)."""
        return self._gone_modseq if self._gone and self._gone_modseq else None

    def flags_changed(self, uid: int, items: Sequence[Value]) -> None:
        """A message's flags (and MODSEQ) changed: ``items`` are the FETCH items to report,
        e.g. ``[Atom("FLAGS"), [Atom("\\\\Seen")]]``; the latest report wins."""
        if uid not in self._gone and (self.number_of(uid) is not None or uid in self._new):
            self._flag_updates[uid] = tuple(items)

    @property
    def pending(self) -> bool:
        return bool(self._new or self._gone or self._flag_updates)

    def updates(self, allow_expunge: bool, vanished: bool = False) -> list[Data]:
        """The untagged responses to send now, in order: EXPUNGE (or VANISHED, RFC 7162
        QRESYNC), then EXISTS, then FETCH for flag changes; the map is updated to match."""
        out: list[Data] = []
        if self._gone and allow_expunge:
            gone = sorted(self._gone)
            self._gone.clear()
            self._gone_modseq = 0
            if vanished:
                removed = set(gone)
                self.uids = array.array("I", (u for u in self.uids if u not in removed))
                out.append(untagged.vanished(_ranges(gone)))
            else:
                # Highest first: each number is right when sent and no later one shifts.
                for uid in reversed(gone):
                    number = self.number_of(uid)
                    assert number is not None
                    del self.uids[number - 1]
                    out.append(untagged.expunge(number))
        if self._new:
            self.uids.extend(self._new)
            self._new.clear()
            out.append(untagged.exists(len(self.uids)))
        for uid, items in sorted(self._flag_updates.items()):
            number = self.number_of(uid)
            if number is not None and uid not in self._gone:
                out.append(untagged.fetch(number, [Atom("UID"), uid, *items]))
        self._flag_updates.clear()
        return out


def _ranges(uids: Sequence[int]) -> str:
    """Ascending UIDs as sequence-set text ("1:3,7")."""
    parts: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)
