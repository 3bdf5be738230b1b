"""The mail store interface: everything SMTP delivery, IMAP and POP3 may do with mail.

Every method is ``async`` and never blocks the event loop: the disk backend runs SQLite and
fsync in worker threads and awaits them. Users are keyed by the stable integer id the
accounts directory gives them; a user's store (INBOX and the special-use mailboxes of
models.DEFAULT_MAILBOXES) is created on first use. Quotas are decided by the caller (the
accounts layer) and passed in; the store only enforces them.

Mailbox-level calls take a name (UTF-8, "/" separator, see names.py); message-level calls
take the mailbox id from ``select``/``status`` so a session survives a RENAME and gets
MailboxNotFound after a DELETE. Message sequence numbers and \\Recent flags are the IMAP
session's business, helped by ``claim_recent``. Large UID ranges should be fetched in chunks
(a few thousand UIDs per ``fetch``) so no call builds objects for a whole mailbox.

Durability: a method that changes state returns only once the change is durable (file and
directory fsynced, SQLite committed with a synced WAL); concurrent writes to one user share
one commit (group commit). Errors: see store/errors.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mailkeep.store.changes import ChangeFeed
from mailkeep.store.errors import StoreError
from mailkeep.store.models import (
    AppendResult,
    CopyResult,
    Flag,
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
    UidSet,
    VerifyReport,
)
from mailkeep.store.query import Criterion


class MailStore(Protocol):
    """The store. Implementations: store.disk.DiskStore, store.memory.MemoryStore (tests)."""

    @property
    def changes(self) -> ChangeFeed:
        """The per-user change feed (IMAP IDLE and untagged updates subscribe here)."""
        ...

    # --- delivery -------------------------------------------------------------------------

    async def deliver(
        self, recipients: Sequence[Recipient], raw: bytes
    ) -> list[AppendResult | StoreError]:
        """SMTP/LMTP delivery of one message to several users: parsed once, written once and
        linked (or copied) per user. Returns, per recipient in order, where it went or the
        error for that recipient alone (QuotaExceeded → 552, StoreTemporaryError → 451,
        MailboxNotFound → fall back to INBOX, the caller decides). A recipient's result is
        returned only once that copy is durable."""
        ...

    async def append(
        self, user_id: int, mailbox: str, messages: Sequence[NewMessage], quota: Quota
    ) -> AppendResult:
        """IMAP APPEND / MULTIAPPEND (RFC 3502: all or nothing) and imports: store the
        messages with their flags, keywords and internal dates, UIDs in order."""
        ...

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
        """``mailkeep import``: like append, keeping the source's UIDs (ascending, from
        UIDNEXT on) and, for a mailbox that never held a message, its UIDVALIDITY, so
        synchronised clients need not download everything again. MailboxNotAllowed when
        they cannot be kept."""
        ...

    # --- mailboxes ------------------------------------------------------------------------

    async def list_mailboxes(self, user_id: int) -> list[MailboxInfo]:
        """Every mailbox of the user, sorted by name (LIST, LSUB with subscriptions)."""
        ...

    async def subscriptions(self, user_id: int) -> list[str]:
        """Subscribed names, including names of mailboxes that no longer exist (LSUB,
        LIST (SUBSCRIBED) with \\NonExistent, RFC 5258 3.1)."""
        ...

    async def create_mailbox(
        self, user_id: int, name: str, special_use: SpecialUse | None = None
    ) -> MailboxInfo:
        """CREATE (RFC 9051 6.3.4; missing superiors are created too) and CREATE-SPECIAL-USE
        (RFC 6154 3). Raises MailboxExists, InvalidMailboxName, MailboxNotAllowed."""
        ...

    async def delete_mailbox(self, user_id: int, name: str) -> None:
        """DELETE (RFC 9051 6.3.5): the mailbox and its messages. INBOX and mailboxes with
        children are refused (MailboxNotAllowed)."""
        ...

    async def rename_mailbox(self, user_id: int, old: str, new: str) -> None:
        """RENAME (RFC 9051 6.3.6) with its children; renaming INBOX moves its messages to
        the new mailbox and leaves INBOX empty. Ids and UIDVALIDITY are kept."""
        ...

    async def set_subscribed(self, user_id: int, name: str, subscribed: bool) -> None:
        """SUBSCRIBE / UNSUBSCRIBE (the name need not exist)."""
        ...

    async def status(self, user_id: int, mailbox: str) -> MailboxStatus:
        """STATUS (RFC 9051 6.3.11) and the counts for LIST-STATUS, without the UID list."""
        ...

    async def select(self, user_id: int, mailbox: str) -> MailboxSnapshot:
        """SELECT/EXAMINE: the status and every UID (the session's sequence map)."""
        ...

    async def claim_recent(self, user_id: int, mailbox_id: int) -> UidSet:
        """\\Recent for IMAP4rev1 (RFC 3501 2.3.2): atomically hand the UIDs no session has
        seen yet to the caller, which alone shows them \\Recent. A SELECT (not EXAMINE) calls
        it, and again whenever it learns of new messages."""
        ...

    # --- messages -------------------------------------------------------------------------

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
        """Metadata of the messages in ``uids`` that exist, ascending (FETCH FLAGS, UID,
        INTERNALDATE, RFC822.SIZE, MODSEQ, SAVEDATE; ``with_envelope`` adds the decoded
        ENVELOPE (cheap: cached on its own), ``with_info`` the serialised MessageInfo (body
        structure with offsets), ``with_fields`` the SORT/THREAD fields; either of the last
        two also fills PREVIEW). With
        ``changed_since``, only messages whose MODSEQ is greater (RFC 7162 3.1.4.1)."""
        ...

    async def sort_fields(self, user_id: int, mailbox_id: int, uids: UidSet) -> list[SortRow]:
        """SORT/THREAD fields (RFC 5256) of the messages in ``uids`` that exist, ascending,
        from what was cached at delivery: one light row per message, nothing parsed."""
        ...

    async def read_message(
        self, user_id: int, mailbox_id: int, uid: int, start: int = 0, length: int | None = None
    ) -> bytes:
        """Bytes of the message exactly as stored, from ``start`` (``length`` bytes or to the
        end): BODY[], RFC822, POP3 RETR/TOP, and BODY[section] via the offsets in the cached
        body structure. Read large messages in chunks. Raises MessageNotFound."""
        ...

    async def read_messages(
        self, user_id: int, mailbox_id: int, uids: Sequence[int]
    ) -> dict[int, bytes]:
        """Several whole messages in one read (a FETCH of many small bodies), by UID; a UID
        the mailbox no longer has is left out. Callers keep the total small and read large
        messages with ``read_message`` in chunks. Raises MailboxNotFound."""
        ...

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
        """STORE (RFC 9051 6.4.6), each change with a new MODSEQ; messages whose MODSEQ is
        above ``unchanged_since`` are left alone and listed as ``modified`` (RFC 7162 3.1.3).
        Messages whose flags do not change get no new MODSEQ and are not in ``changed``."""
        ...

    async def copy(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota
    ) -> CopyResult:
        """COPY (RFC 9051 6.4.7): flags and keywords kept, internal date kept, new save date;
        quota checked; all or nothing."""
        ...

    async def move(
        self, user_id: int, source_id: int, uids: UidSet, dest: str, quota: Quota
    ) -> CopyResult:
        """MOVE (RFC 6851): copy then expunge the sources, in one transaction."""
        ...

    async def expunge(self, user_id: int, mailbox_id: int, uids: UidSet | None = None) -> UidSet:
        """EXPUNGE / CLOSE / UID EXPUNGE (RFC 4315 2.1: only within ``uids``) / POP3 QUIT:
        remove the messages flagged \\Deleted and return their UIDs."""
        ...

    async def vanished(self, user_id: int, mailbox_id: int, since_modseq: int) -> UidSet:
        """UIDs expunged after ``since_modseq`` (QRESYNC VANISHED (EARLIER), RFC 7162 3.2.5),
        answered from the expunge record, not by scanning the mailbox."""
        ...

    async def search(self, user_id: int, mailbox_id: int, criterion: Criterion) -> list[int]:
        """UIDs matching ``criterion``, ascending (SEARCH, UID SEARCH, and the selection step
        of SORT/THREAD). Full-text keys use the index, then confirm on the candidates."""
        ...

    async def quota_usage(self, user_id: int) -> QuotaUsage:
        """Bytes and messages over all the user's mailboxes (GETQUOTA, RFC 9208)."""
        ...

    # --- annotations (RFC 5464 METADATA) ---------------------------------------------------

    async def get_metadata(self, user_id: int, mailbox: str | None) -> dict[str, bytes]:
        """Every annotation of ``mailbox`` (None: the server's, as this user has them),
        entry name to value. Raises MailboxNotFound."""
        ...

    async def set_metadata(
        self,
        user_id: int,
        mailbox: str | None,
        changes: Sequence[tuple[str, bytes | None]],
        limits: MetadataLimits,
    ) -> None:
        """Set each entry (None removes it), all or nothing: MetadataTooLarge,
        MetadataTooMany or MetadataLimitReached leave every entry as it was. Annotations
        follow a RENAME and go with a DELETE."""
        ...

    # --- administration -------------------------------------------------------------------

    async def verify(self, user_id: int, repair: bool = False) -> VerifyReport:
        """Check the user's store (database integrity, every message file present with its
        recorded size, counters consistent, no stray files) and with ``repair`` fix what can
        be fixed (drop rows whose file is gone, remove stray files, recount)."""
        ...

    async def delete_user(self, user_id: int) -> None:
        """Remove all of a user's mail (account deletion)."""
        ...

    async def close(self) -> None:
        """Finish pending writes and release files and threads."""
        ...
