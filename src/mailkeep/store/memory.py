"""An in-memory MailStore for tests of the layers above (IMAP, POP3, delivery).

Same semantics as the disk store (tests/store/test_contract.py runs one suite over both):
same name rules, UID/MODSEQ/UIDVALIDITY allocation, quota checks, keyword spelling, change
events. Search evaluates every message with query.evaluate: the naive scan the disk
store's index is checked against. Nothing is durable; every operation is atomic because it
checks before it changes anything and never awaits in between.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mailkeep.store import metadata
from mailkeep.store.changes import (
    Change,
    ChangeFeed,
    FlagsChanged,
    MailboxCreated,
    MailboxDeleted,
    MailboxRenamed,
    MessagesAdded,
    MessagesExpunged,
)
from mailkeep.store.errors import (
    MailboxExists,
    MailboxNotAllowed,
    MailboxNotFound,
    MessageNotFound,
    QuotaExceeded,
    StoreError,
)
from mailkeep.store.extract import Extracted, extract, unpack_envelope
from mailkeep.store.messages import check_kept_uids
from mailkeep.store.models import (
    DEFAULT_MAILBOXES,
    INBOX,
    SERVER_METADATA,
    AppendResult,
    CopyResult,
    Flag,
    FlagChange,
    FlagOp,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageMeta,
    MetadataLimits,
    NewMessage,
    Quota,
    QuotaUsage,
    Recipient,
    SortRow,
    SpecialUse,
    StoreFlagsResult,
    StoreLimits,
    UidSet,
    VerifyReport,
    from_epoch,
    to_epoch,
    utc_now,
)
from mailkeep.store.names import check_keyword, is_inside, normalize_mailbox_name, parent_names
from mailkeep.store.query import INDEXED_HEADERS, Candidate, Criterion, evaluate, fold, keyword_key


@dataclass(slots=True)
class _Content:
    raw: bytes
    extracted: Extracted
    header_text: str
    body_text: str
    indexed: dict[str, str]


@dataclass(slots=True)
class _Message:
    uid: int
    modseq: int
    flags: int
    keywords: frozenset[str]
    content: _Content
    internal: tuple[int, int]
    save: int


@dataclass(slots=True)
class _Mailbox:
    id: int
    name: str
    special_use: SpecialUse | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    recent_from: int = 1
    messages: dict[int, _Message] = field(default_factory=dict)
    keywords: dict[str, str] = field(default_factory=dict)
    expunged: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _User:
    mailboxes: dict[str, _Mailbox] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)
    modseq: int = 1
    uidvalidity: int = 0
    next_id: int = 1
    #: annotations per mailbox id (SERVER_METADATA for the server's)
    metadata: dict[int, dict[str, bytes]] = field(default_factory=dict)

    def by_id(self, mailbox_id: int) -> _Mailbox:
        for box in self.mailboxes.values():
            if box.id == mailbox_id:
                return box
        raise MailboxNotFound(f"mailbox {mailbox_id} no longer exists")

    def by_name(self, name: str) -> _Mailbox:
        box = self.mailboxes.get(name)
        if box is None:
            raise MailboxNotFound(f"no mailbox {name!r}")
        return box

    def usage(self) -> tuple[int, int]:
        msgs = [m for b in self.mailboxes.values() for m in b.messages.values()]
        return sum(len(m.content.raw) for m in msgs), len(msgs)


def _counts(flags: int) -> tuple[int, int]:
    return (0 if flags & Flag.SEEN else 1), (1 if flags & Flag.DELETED else 0)


class MemoryStore:
    """A MailStore kept in dicts; see interface.MailStore for the meaning of each method."""

    def __init__(
        self,
        *,
        limits: StoreLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.limits = limits or StoreLimits()
        self._clock = clock
        self._changes = feed or ChangeFeed()
        self._users: dict[int, _User] = {}

    @property
    def changes(self) -> ChangeFeed:
        return self._changes

    # --- helpers --------------------------------------------------------------------------

    def _name(self, name: str) -> str:
        return normalize_mailbox_name(
            name,
            max_bytes=self.limits.max_mailbox_name_bytes,
            max_depth=self.limits.max_mailbox_depth,
        )

    def _user(self, user_id: int) -> _User:
        user = self._users.get(user_id)
        if user is None:
            if user_id < 0:
                raise ValueError("user ids are non-negative integers")
            user = self._users[user_id] = _User()
            self._add_mailbox(user, INBOX, None)
            user.subscriptions.add(INBOX)
            for name, use in DEFAULT_MAILBOXES:
                self._add_mailbox(user, name, use)
                user.subscriptions.add(name)
        return user

    def _add_mailbox(self, user: _User, name: str, use: SpecialUse | None) -> _Mailbox:
        user.uidvalidity = max(user.uidvalidity + 1, int(self._clock().timestamp()) & 0xFFFFFFFF)
        box = _Mailbox(user.next_id, name, use, user.uidvalidity, 1, user.modseq)
        user.next_id += 1
        user.mailboxes[name] = box
        return box

    def _publish(self, user_id: int, events: Sequence[Change]) -> None:
        for event in events:
            self._changes.publish(user_id, event)

    @staticmethod
    def _spell(box: _Mailbox, keywords: frozenset[str], register: bool) -> frozenset[str]:
        for k in keywords:
            check_keyword(k)
        out = set()
        for k in keywords:
            spelled = box.keywords.get(keyword_key(k))
            if spelled is None:
                spelled = k
                if register:
                    box.keywords[keyword_key(k)] = k
            out.add(spelled)
        return frozenset(out)

    @staticmethod
    def _check_quota(user: _User, quota: Quota, count: int, size: int) -> None:
        used_bytes, used_messages = user.usage()
        if quota.max_messages and used_messages + count > quota.max_messages:
            raise QuotaExceeded("messages", quota.max_messages, used_messages)
        if quota.max_bytes and used_bytes + size > quota.max_bytes:
            raise QuotaExceeded("storage", quota.max_bytes, used_bytes)

    @staticmethod
    def _content(raw: bytes) -> _Content:
        ex = extract(raw)
        indexed = {n: fold(ex.indexed.get(n, "")) for n in INDEXED_HEADERS}
        return _Content(raw, ex, fold(ex.header_text), fold(ex.body_text), indexed)

    # --- delivery -------------------------------------------------------------------------

    async def deliver(
        self, recipients: Sequence[Recipient], raw: bytes
    ) -> list[AppendResult | StoreError]:
        content = self._content(raw)
        out: list[AppendResult | StoreError] = []
        for r in recipients:
            try:
                item = NewMessage(raw, r.flags, r.keywords)
                out.append(
                    self._append(r.user_id, self._name(r.mailbox), [(item, content)], r.quota)
                )
            except StoreError as exc:
                out.append(exc)
        return out

    async def append(
        self, user_id: int, mailbox: str, messages: Sequence[NewMessage], quota: Quota
    ) -> AppendResult:
        return await self.import_messages(user_id, mailbox, messages, quota)

    async def import_messages(
        self,
        user_id: int,
        mailbox: str,
        messages: Sequence[NewMessage],
        quota: Quota,
        *,
        uids: Sequence[int] | None = None,
        uidvalidity: int | None = None,
    ) -> AppendResult:
        name = self._name(mailbox)
        items = [(m, self._content(m.raw)) for m in messages]
        return self._append(user_id, name, items, quota, uids, uidvalidity)

    def _append(
        self,
        user_id: int,
        name: str,
        items: list[tuple[NewMessage, _Content]],
        quota: Quota,
        uids: Sequence[int] | None = None,
        uidvalidity: int | None = None,
    ) -> AppendResult:
        user = self._user(user_id)
        box = user.by_name(name)
        if uidvalidity is not None:
            if not 0 < uidvalidity < 2**32:
                raise MailboxNotAllowed(f"UIDVALIDITY {uidvalidity} is out of range")
            if box.uidnext != 1 or box.expunged:
                raise MailboxNotAllowed(f"mailbox {name!r} already holds or held messages")
        if uids is not None:
            check_kept_uids(uids, len(items), box.uidnext)
        self._check_quota(user, quota, len(items), sum(len(m.raw) for m, _ in items))
        for m, _ in items:
            for k in m.keywords:
                check_keyword(k)
        if uidvalidity is not None:
            box.uidvalidity = uidvalidity
            user.uidvalidity = max(user.uidvalidity, uidvalidity)
        user.modseq += 1
        now = self._clock()
        assigned = list(uids) if uids is not None else []
        for i, (m, content) in enumerate(items):
            if uids is None:
                assigned.append(box.uidnext)
            uid = assigned[i]
            keywords = self._spell(box, m.keywords, True)
            internal = to_epoch(m.internal_date or now)
            box.messages[uid] = _Message(
                uid, user.modseq, int(m.flags), keywords, content, internal, int(now.timestamp())
            )
            box.uidnext = uid + 1
        box.highestmodseq = user.modseq
        added = UidSet.of(assigned)
        self._publish(user_id, [MessagesAdded(box.id, added, box.uidnext, user.modseq)])
        return AppendResult(box.id, box.uidvalidity, added)

    # --- mailboxes ------------------------------------------------------------------------

    async def list_mailboxes(self, user_id: int) -> list[MailboxInfo]:
        user = self._user(user_id)
        names = sorted(user.mailboxes)
        return [
            MailboxInfo(
                id=user.mailboxes[n].id,
                name=n,
                special_use=user.mailboxes[n].special_use,
                subscribed=n in user.subscriptions,
                has_children=any(is_inside(o, n) for o in names),
            )
            for n in names
        ]

    async def subscriptions(self, user_id: int) -> list[str]:
        return sorted(self._user(user_id).subscriptions)

    async def create_mailbox(
        self, user_id: int, name: str, special_use: SpecialUse | None = None
    ) -> MailboxInfo:
        name = self._name(name)
        user = self._user(user_id)
        if name in user.mailboxes:
            raise MailboxExists(f"mailbox {name!r} already exists")
        missing = [p for p in parent_names(name) if p not in user.mailboxes]
        limit = self.limits.max_mailboxes
        if limit and len(user.mailboxes) + len(missing) + 1 > limit:
            raise MailboxNotAllowed(f"too many mailboxes (limit {limit})")
        events: list[Change] = []
        for parent in missing:
            events.append(MailboxCreated(self._add_mailbox(user, parent, None).id, parent))
        box = self._add_mailbox(user, name, special_use)
        events.append(MailboxCreated(box.id, name))
        self._publish(user_id, events)
        return MailboxInfo(box.id, name, special_use, name in user.subscriptions, False)

    async def delete_mailbox(self, user_id: int, name: str) -> None:
        name = self._name(name)
        user = self._user(user_id)
        if name == INBOX:
            raise MailboxNotAllowed("INBOX cannot be deleted")
        box = user.by_name(name)
        if any(is_inside(n, name) for n in user.mailboxes):
            raise MailboxNotAllowed(f"mailbox {name!r} has children: delete them first")
        del user.mailboxes[name]
        user.metadata.pop(box.id, None)
        self._publish(user_id, [MailboxDeleted(box.id, name)])

    async def rename_mailbox(self, user_id: int, old: str, new: str) -> None:
        old, new = self._name(old), self._name(new)
        user = self._user(user_id)
        box = user.by_name(old)
        if old == new or new in user.mailboxes:
            raise MailboxExists(f"mailbox {new!r} already exists")
        if is_inside(new, old):
            raise MailboxNotAllowed("a mailbox cannot be renamed into itself")
        if old == INBOX:
            await self.create_mailbox(user_id, new)
            await self.move(user_id, box.id, UidSet.span(1, 2**32), new, Quota())
            return
        events: list[Change] = []
        for parent in parent_names(new):
            if parent not in user.mailboxes:
                events.append(MailboxCreated(self._add_mailbox(user, parent, None).id, parent))
        moves = [(old, new)] + [
            (n, new + n[len(old) :]) for n in user.mailboxes if is_inside(n, old)
        ]
        boxes = [(user.mailboxes.pop(src), src, dst) for src, dst in moves]
        for b, src, dst in boxes:
            b.name = dst
            user.mailboxes[dst] = b
            events.append(MailboxRenamed(b.id, src, dst))
        self._publish(user_id, events)

    async def set_subscribed(self, user_id: int, name: str, subscribed: bool) -> None:
        name = self._name(name)
        subs = self._user(user_id).subscriptions
        if subscribed:
            subs.add(name)
        else:
            subs.discard(name)

    def _status(self, box: _Mailbox) -> MailboxStatus:
        msgs = box.messages.values()
        unseen = [m.uid for m in msgs if not m.flags & Flag.SEEN]
        return MailboxStatus(
            id=box.id,
            name=box.name,
            uidvalidity=box.uidvalidity,
            uidnext=box.uidnext,
            highestmodseq=box.highestmodseq,
            messages=len(box.messages),
            unseen=len(unseen),
            deleted=sum(1 for m in msgs if m.flags & Flag.DELETED),
            recent=sum(1 for uid in box.messages if uid >= box.recent_from),
            size=sum(len(m.content.raw) for m in msgs),
            first_unseen_uid=min(unseen) if unseen else None,
            keywords=tuple(sorted(box.keywords.values())),
        )

    async def status(self, user_id: int, mailbox: str) -> MailboxStatus:
        return self._status(self._user(user_id).by_name(self._name(mailbox)))

    async def select(self, user_id: int, mailbox: str) -> MailboxSnapshot:
        box = self._user(user_id).by_name(self._name(mailbox))
        return MailboxSnapshot(self._status(box), array.array("I", sorted(box.messages)))

    async def claim_recent(self, user_id: int, mailbox_id: int) -> UidSet:
        box = self._user(user_id).by_id(mailbox_id)
        claimed = UidSet.of(u for u in box.messages if u >= box.recent_from)
        box.recent_from = box.uidnext
        return claimed

    # --- messages -------------------------------------------------------------------------

    def _selected(self, box: _Mailbox, uids: UidSet) -> list[_Message]:
        return [box.messages[u] for u in sorted(box.messages) if u in uids]

    async def fetch(
        self,
        user_id: int,
        mailbox_id: int,
        uids: UidSet,
        *,
        changed_since: int | None = None,
        with_info: bool = False,
        with_fields: bool = False,
        with_envelope: bool = False,
    ) -> list[MessageMeta]:
        box = self._user(user_id).by_id(mailbox_id)
        out = []
        for m in self._selected(box, uids):
            if changed_since is not None and m.modseq <= changed_since:
                continue
            ex = m.content.extracted
            fields = None
            if with_fields:
                f = ex.fields
                sent = from_epoch(*to_epoch(f.sent_date)) if f.sent_date else None
                fields = type(f)(**{**{s: getattr(f, s) for s in f.__slots__}, "sent_date": sent})
            out.append(
                MessageMeta(
                    uid=m.uid,
                    modseq=m.modseq,
                    flags=Flag(m.flags),
                    keywords=m.keywords,
                    size=len(m.content.raw),
                    internal_ts=m.internal[0],
                    internal_tz=m.internal[1],
                    save_ts=m.save,
                    preview=ex.preview if (with_info or with_fields) else "",
                    info=ex.info if with_info else None,
                    fields=fields,
                    envelope=unpack_envelope(ex.envelope) if with_envelope else None,
                )
            )
        return out

    async def sort_fields(self, user_id: int, mailbox_id: int, uids: UidSet) -> list[SortRow]:
        box = self._user(user_id).by_id(mailbox_id)
        out = []
        for m in self._selected(box, uids):
            f = m.content.extracted.fields
            sent = to_epoch(f.sent_date)[0] if f.sent_date else m.internal[0]
            out.append(
                SortRow(
                    m.uid,
                    len(m.content.raw),
                    m.internal[0],
                    sent,
                    f.subject,
                    f.base_subject,
                    f.sort_from,
                    f.sort_to,
                    f.sort_cc,
                    f.display_from,
                    f.display_to,
                    f.message_id,
                    f.in_reply_to,
                    f.references,
                )
            )
        return out

    async def read_message(
        self, user_id: int, mailbox_id: int, uid: int, start: int = 0, length: int | None = None
    ) -> bytes:
        box = self._user(user_id).by_id(mailbox_id)
        m = box.messages.get(uid)
        if m is None:
            raise MessageNotFound(f"no message with UID {uid}")
        end = None if length is None else start + length
        return m.content.raw[start:end]

    async def read_messages(
        self, user_id: int, mailbox_id: int, uids: Sequence[int]
    ) -> dict[int, bytes]:
        box = self._user(user_id).by_id(mailbox_id)
        return {uid: box.messages[uid].content.raw for uid in uids if uid in box.messages}

    async def store_flags(
        self,
        user_id: int,
        mailbox_id: int,
        uids: UidSet,
        op: FlagOp,
        flags: Flag,
        keywords: frozenset[str] = frozenset(),
        *,
        unchanged_since: int | None = None,
    ) -> StoreFlagsResult:
        user = self._user(user_id)
        box = user.by_id(mailbox_id)
        wanted = self._spell(box, keywords, op is not FlagOp.REMOVE)
        changed: list[FlagChange] = []
        modified: list[int] = []
        modseq: int | None = None
        for m in self._selected(box, uids):
            if unchanged_since is not None and m.modseq > unchanged_since:
                modified.append(m.uid)
                continue
            by_key = {keyword_key(k): k for k in m.keywords}
            if op is FlagOp.REPLACE:
                new_flags, new_kw = int(flags), wanted
            elif op is FlagOp.ADD:
                for k in wanted:
                    by_key.setdefault(keyword_key(k), k)
                new_flags, new_kw = m.flags | int(flags), frozenset(by_key.values())
            else:
                gone = {keyword_key(k) for k in wanted}
                kept = frozenset(v for k, v in by_key.items() if k not in gone)
                new_flags, new_kw = m.flags & ~int(flags), kept
            if new_flags == m.flags and new_kw == m.keywords:
                continue
            if modseq is None:
                user.modseq += 1
                modseq = user.modseq
            m.flags, m.keywords, m.modseq = new_flags, new_kw, modseq
            changed.append(FlagChange(m.uid, modseq, Flag(new_flags), new_kw))
        if modseq is not None:
            box.highestmodseq = modseq
            self._publish(user_id, [FlagsChanged(box.id, tuple(changed), modseq)])
        return StoreFlagsResult(tuple(changed), UidSet.of(modified))

    async def copy(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota
    ) -> CopyResult:
        return self._copy(user_id, source_id, uids, self._name(dest), quota, False)

    async def move(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota
    ) -> CopyResult:
        return self._copy(user_id, source_id, uids, self._name(dest), quota, True)

    def _copy(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota, move: bool
    ) -> CopyResult:
        user = self._user(user_id)
        src = user.by_id(source_id)
        dst = user.by_name(dest)
        chosen = self._selected(src, uids)
        if not chosen:
            return CopyResult(dst.uidvalidity, (), ())
        if not move:
            self._check_quota(user, quota, len(chosen), sum(len(m.content.raw) for m in chosen))
        user.modseq += 1
        save = int(self._clock().timestamp())
        first = dst.uidnext
        for m in chosen:
            keywords = self._spell(dst, m.keywords, True)
            dst.messages[dst.uidnext] = _Message(
                dst.uidnext, user.modseq, m.flags, keywords, m.content, m.internal, save
            )
            dst.uidnext += 1
        dst.highestmodseq = user.modseq
        new = UidSet.span(first, dst.uidnext - 1)
        events: list[Change] = [MessagesAdded(dst.id, new, dst.uidnext, user.modseq)]
        source_uids = tuple(m.uid for m in chosen)
        if move:
            self._remove(src, source_uids, user.modseq)
            events.append(MessagesExpunged(src.id, UidSet.of(source_uids), user.modseq))
        self._publish(user_id, events)
        return CopyResult(dst.uidvalidity, source_uids, tuple(range(first, dst.uidnext)))

    @staticmethod
    def _remove(box: _Mailbox, uids: Sequence[int], modseq: int) -> None:
        for uid in uids:
            del box.messages[uid]
            box.expunged[uid] = modseq
        box.highestmodseq = modseq

    async def expunge(self, user_id: int, mailbox_id: int, uids: UidSet | None = None) -> UidSet:
        user = self._user(user_id)
        box = user.by_id(mailbox_id)
        doomed = [
            u
            for u in sorted(box.messages)
            if box.messages[u].flags & Flag.DELETED and (uids is None or u in uids)
        ]
        if not doomed:
            return UidSet()
        user.modseq += 1
        self._remove(box, doomed, user.modseq)
        gone = UidSet.of(doomed)
        self._publish(user_id, [MessagesExpunged(box.id, gone, user.modseq)])
        return gone

    async def vanished(self, user_id: int, mailbox_id: int, since_modseq: int) -> UidSet:
        box = self._user(user_id).by_id(mailbox_id)
        return UidSet.of(u for u, s in box.expunged.items() if s > since_modseq)

    async def search(self, user_id: int, mailbox_id: int, criterion: Criterion) -> list[int]:
        box = self._user(user_id).by_id(mailbox_id)
        now = self._clock()
        out = []
        for uid in sorted(box.messages):
            m = box.messages[uid]
            c = m.content
            sent = c.extracted.fields.sent_date
            candidate = Candidate(
                uid=uid,
                modseq=m.modseq,
                flags=Flag(m.flags),
                keywords=m.keywords,
                size=len(c.raw),
                internal_date=from_epoch(*m.internal),
                save_date=from_epoch(m.save),
                sent_date=from_epoch(*to_epoch(sent)) if sent else None,
                headers=c.indexed.__getitem__,
                header_text=lambda c=c: c.header_text,  # type: ignore[misc]
                body_text=lambda c=c: c.body_text,  # type: ignore[misc]
            )
            if evaluate(criterion, candidate, now):
                out.append(uid)
        return out

    async def get_metadata(self, user_id: int, mailbox: str | None) -> dict[str, bytes]:
        user = self._user(user_id)
        box = SERVER_METADATA if mailbox is None else user.by_name(self._name(mailbox)).id
        return dict(sorted(user.metadata.get(box, {}).items()))

    async def set_metadata(
        self,
        user_id: int,
        mailbox: str | None,
        changes: Sequence[tuple[str, bytes | None]],
        limits: MetadataLimits,
    ) -> None:
        user = self._user(user_id)
        box = SERVER_METADATA if mailbox is None else user.by_name(self._name(mailbox)).id
        others = sum(len(v) for b, d in user.metadata.items() if b != box for v in d.values())
        user.metadata[box] = metadata.apply(user.metadata.get(box, {}), others, changes, limits)

    async def quota_usage(self, user_id: int) -> QuotaUsage:
        used_bytes, used_messages = self._user(user_id).usage()
        return QuotaUsage(used_bytes, used_messages)

    async def verify(self, user_id: int, repair: bool = False) -> VerifyReport:
        user = self._user(user_id)
        count = sum(len(b.messages) for b in user.mailboxes.values())
        return VerifyReport(user_id, count, (), False)

    async def delete_user(self, user_id: int) -> None:
        self._users.pop(user_id, None)

    async def close(self) -> None:
        return None
