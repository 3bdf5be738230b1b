"""A bounded memory of recent successful password checks, so that a client that logs in
again and again (a phone opening a connection per folder, a sync tool every minute) does not
cost an argon2id verification each time. Decision 0013 weighs the trade-off.

Implementation notes:

- An entry is a keyed hash, HMAC-SHA256 under a secret drawn at random when the process
  starts and never stored, of (user id, the user's stored password hash, the password as
  offered). Neither the password nor anything that can be checked against it without the
  secret is kept.
- The stored hash is part of the key, so a password changed anywhere (``mailkeep user
  passwd`` runs in another process) misses at once: the directory reads the current hash
  on every login and only then asks here. A disabled user is refused by the directory
  before the memory is consulted; ``forget_user`` drops a user's entries as well.
- A wrong password is never remembered, so failed logins always cost a full verification
  and the throttle sees them as before.
- Bounded in size (the oldest entries are forgotten first) and in time (an entry counts
  for ``ttl`` seconds from the successful verification, not from its last use). The clock
  is injected (DESIGN 3.8). Safe to share across threads.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable


class VerifiedLogins:
    """Remembers (user, stored hash, password) triples that verified, for ``ttl`` seconds."""

    def __init__(
        self, *, ttl: float, max_entries: int, clock: Callable[[], float], secret: bytes = b""
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._secret = secret or secrets.token_bytes(32)
        self._lock = threading.Lock()
        # digest -> (user id, expiry); insertion order is verification order
        self._entries: collections.OrderedDict[bytes, tuple[int, float]] = collections.OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._ttl > 0 and self._max > 0

    def _digest(self, user_id: int, stored_hash: str, password: str) -> bytes:
        message = b"\0".join(
            (str(user_id).encode(), stored_hash.encode(), password.encode("utf-8", "surrogatepass"))
        )
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def check(self, user_id: int, stored_hash: str, password: str) -> bool:
        """True when this exact password verified against this exact stored hash recently."""
        if not self.enabled:
            return False
        digest = self._digest(user_id, stored_hash, password)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return False
            if entry[1] <= now:
                del self._entries[digest]
                return False
            return True

    def remember(self, user_id: int, stored_hash: str, password: str) -> None:
        """Record a verification that just succeeded."""
        if not self.enabled:
            return
        digest = self._digest(user_id, stored_hash, password)
        expiry = self._clock() + self._ttl
        with self._lock:
            self._entries[digest] = (user_id, expiry)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        """Drop every entry of one user (their password changed, or they were disabled or
        deleted in this process)."""
        with self._lock:
            stale = [d for d, (uid, _) in self._entries.items() if uid == user_id]
            for digest in stale:
                del self._entries[digest]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
