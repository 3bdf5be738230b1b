"""DKIM signing of submitted mail (RFC 6376 5, RFC 8463): what ``SubmissionPolicy`` adds.

The From domain (RFC 7489 3.1: the domain DMARC aligns with) signs with its active keys
(``mailauth.keys.KeyStore``: Ed25519 and RSA). A domain without keys is sent unsigned and
the log says so. Keys are read from disk once and kept until the domain's ``active`` file
changes (``mailkeep dkim activate`` replaces it), so rotation needs no restart. Signing runs
in a worker thread: dkimpy's canonicalization is pure Python.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from mailkeep.mail.hostname import to_alabel
from mailkeep.mailauth.dkim import SigningKey, sign_message
from mailkeep.mailauth.dmarc import author_domain
from mailkeep.mailauth.keys import KeyStore
from mailkeep.protocol.smtp.replies import Reply

log = logging.getLogger(__name__)

# RFC 5322 3.6: the header section must parse to be signed (RFC 3463 3.7: 5.6.0).
CANNOT_SIGN = Reply(550, "5.6.0", "Message refused: its header section is malformed")

_Stamp = tuple[int, int, int]  # inode, size, mtime_ns of the domain's "active" file


class DKIMSigner:
    """Signs messages for the From domain with that domain's active keys."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._cache: dict[str, tuple[_Stamp | None, list[SigningKey]]] = {}
        self._lock = threading.Lock()

    async def signature_fields(self, message: bytes) -> bytes | Reply:
        """The DKIM-Signature fields for ``message`` (b"" when its domain has no keys),
        or the refusal of a message whose header section cannot be parsed."""
        return await asyncio.to_thread(self._sign, message)

    def _sign(self, message: bytes) -> bytes | Reply:
        domain = author_domain(message)
        if not isinstance(domain, str):  # submission checked From: only odd syntax left
            log.warning("message not signed", extra={"reason": domain.reason})
            return b""
        keys = self.signing_keys(domain)
        if not keys:
            log.warning("message not signed: the domain has no dkim keys", extra={"domain": domain})
            return b""
        try:
            return sign_message(message, keys)
        except Exception as exc:  # ValueError or dkimpy's DKIMException on a bad header
            log.info("message not signable", extra={"domain": domain, "error": str(exc)})
            return CANNOT_SIGN

    def signing_keys(self, domain: str) -> list[SigningKey]:
        """The active keys of ``domain``, read again only when its ``active`` file changed."""
        try:
            name = to_alabel(domain)
        except ValueError:
            return []
        stamp = _stamp(self.keys.root / name / "active")
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and cached[0] == stamp and stamp is not None:
                return cached[1]
        loaded = self.keys.signing_keys(name) if stamp is not None else []
        with self._lock:
            self._cache[name] = (stamp, loaded)
        return loaded


def _stamp(path: os.PathLike[str]) -> _Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
