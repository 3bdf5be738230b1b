"""MTA-STS: a domain's published promise that its MX hosts have valid certificates.

RFC 8461 (3.1 the _mta-sts TXT record, 3.2-3.3 the HTTPS-fetched policy, 3.3 no redirects,
4.1 MX host patterns, 5 policy application: ``enforce`` delivers only to matching MX hosts
over verified TLS, ``testing`` only reports, ``none`` is no policy; 5.1 policy refresh and
caching with max_age).

Implementation notes:
- Discovery asks for the TXT record first; the policy is fetched only when its id differs
  from the cached one (or the cached policy expired). A failed fetch keeps using an
  unexpired cached policy (RFC 8461 5.1: attackers must not be able to remove a policy).
- The fetch is HTTPS with a certificate valid for ``mta-sts.<domain>`` (system CAs or the
  configured CA file), no redirects, at most 64 KiB (RFC 8461 3.3), addresses from our own
  resolver, in a worker thread (http.client).
- The cache is kept in memory and, with ``cache_file``, on disk (RFC 8461 5.1: a policy must
  outlive a restart, or the restart opens the downgrade window the policy exists to close).
  The file is JSON, replaced whole (write, fsync, rename, directory fsync) after each change
  and read at start; entries past their expiry (fetch time + max_age) are dropped on load
  and on use. A damaged file is logged and treated as empty (decision 0016).
"""

from __future__ import annotations

import asyncio
import enum
import http.client
import json
import logging
import os
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailkeep.dns.resolver import RecordType, Resolver, Status
from mailkeep.durable import fsync_dir, write_new_file

log = logging.getLogger(__name__)

MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 3.3
MAX_AGE_LIMIT = 31_557_600  # RFC 8461 3.2: max_age at most one year
_TXT = re.compile(r"^v=STSv1;(.*)$")
_ID = re.compile(r"^[A-Za-z0-9]{1,32}\Z")


class Mode(enum.Enum):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Policy:
    mode: Mode
    mx: tuple[str, ...]  # patterns, lower case: "mx.example.org" or "*.example.org"
    max_age: int
    policy_id: str = ""

    def allows(self, host: str) -> bool:
        return any(mx_matches(pattern, host) for pattern in self.mx)


class PolicyError(ValueError):
    """A policy file that is not valid (the text says why)."""


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: exact, or "*." matching exactly one leftmost label."""
    host = host.rstrip(".").lower()
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == pattern[2:]
    return host == pattern


def parse_policy(text: str) -> Policy:
    """RFC 8461 3.2: key: value lines (CRLF or LF); version, mode, mx (repeated), max_age."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise PolicyError(f"not a key: value line: {line[:60]!r}")
        fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise PolicyError("version is not STSv1")
    try:
        mode = Mode(fields.get("mode", [""])[0])
    except ValueError:
        raise PolicyError("mode is not enforce, testing or none") from None
    age = fields.get("max_age", [""])[0]
    if not age.isdigit() or len(age) > 10:
        raise PolicyError("max_age is not a number")
    mx = tuple(p.lower() for p in fields.get("mx", []))
    if mode is not Mode.NONE and not mx:
        raise PolicyError("no mx patterns")
    return Policy(mode, mx, min(int(age), MAX_AGE_LIMIT))


def parse_txt(texts: list[bytes]) -> str | None:
    """The policy id of the one "v=STSv1" record (RFC 8461 3.1), or None."""
    found = [t.decode("ascii", "replace") for t in texts if t.startswith(b"v=STSv1")]
    if len(found) != 1:
        return None
    match = _TXT.match(found[0])
    if match is None:
        return None
    for part in match.group(1).split(";"):
        key, _, value = part.strip().partition("=")
        if key == "id" and _ID.match(value):
            return value
    return None


@dataclass(frozen=True, slots=True)
class Discovery:
    policy: Policy | None
    detail: str  # why there is no policy, or where it came from
    tempfail: bool = False


class PolicySource:
    """Finds and caches domains' policies. ``port`` is for tests (RFC 8461: 443)."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        ca_file: Path | None = None,
        port: int = 443,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.time,
        cache_file: Path | None = None,
    ) -> None:
        self.resolver = resolver
        self.port = port
        self.timeout = timeout
        self.clock = clock
        self.cache_file = cache_file
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._cache: dict[str, tuple[float, Policy]] = {}
        self._saving = asyncio.Lock()
        if cache_file is not None:
            self._cache = load_cache(cache_file, clock())

    async def policy(self, domain: str) -> Discovery:
        domain = domain.lower()
        now = self.clock()
        cached = self._cache.get(domain)
        if cached is not None and cached[0] <= now:
            del self._cache[domain]
            cached = None
            await self._save()
        answer = await self.resolver.lookup(f"_mta-sts.{domain}", RecordType.TXT)
        if answer.status is Status.TEMPFAIL:
            if cached is not None:
                return Discovery(cached[1], "cached (TXT lookup failed)")
            return Discovery(None, f"_mta-sts TXT lookup failed: {answer.reason}", True)
        policy_id = parse_txt(answer.texts()) if answer.status is Status.OK else None
        if policy_id is None:
            # RFC 8461 5.1: no record, but an unexpired cached policy still applies.
            if cached is not None:
                return Discovery(cached[1], "cached")
            return Discovery(None, "no MTA-STS record")
        if cached is not None and cached[1].policy_id == policy_id:
            return Discovery(cached[1], "cached")
        try:
            policy = await self._fetch(domain)
        except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
            if cached is not None:
                return Discovery(cached[1], f"cached (fetch failed: {exc})")
            return Discovery(None, f"policy fetch failed: {exc}", True)
        policy = Policy(policy.mode, policy.mx, policy.max_age, policy_id)
        if policy.mode is Mode.NONE:
            if self._cache.pop(domain, None) is not None:
                await self._save()
            return Discovery(None, "policy mode none")
        self._cache[domain] = (now + policy.max_age, policy)
        await self._save()
        return Discovery(policy, "fetched")

    async def _save(self) -> None:
        """Write the cache file (in order: one write at a time, each of the latest state)."""
        if self.cache_file is None:
            return
        async with self._saving:
            data = dump_cache(self._cache)
            try:
                await asyncio.to_thread(save_cache, self.cache_file, data)
            except OSError as exc:  # the in-memory cache still protects this process
                log.warning("mta-sts cache not saved", extra={"reason": str(exc)})

    async def _fetch(self, domain: str) -> Policy:
        host = f"mta-sts.{domain}"
        addresses: list[str] = []
        for rtype in (RecordType.A, RecordType.AAAA):
            addresses += (await self.resolver.lookup(host, rtype)).addresses()
        if not addresses:
            raise OSError(f"{host} has no address")
        text = await asyncio.to_thread(self._get, host, addresses[0])
        return parse_policy(text)

    def _get(self, host: str, address: str) -> str:
        raw = socket.create_connection((address, self.port), timeout=self.timeout)
        sock = self._context.wrap_socket(raw, server_hostname=host)
        connection = http.client.HTTPSConnection(host, self.port, timeout=self.timeout)
        connection.sock = sock
        try:
            connection.request("GET", "/.well-known/mta-sts.txt", headers={"Host": host})
            response = connection.getresponse()
            if response.status != 200:  # RFC 8461 3.3: redirects are not followed
                raise PolicyError(f"HTTP status {response.status}")
            kind = response.getheader("Content-Type", "").split(";")[0].strip().lower()
            if kind != "text/plain":
                raise PolicyError(f"content type {kind!r} is not text/plain")
            body = response.read(MAX_POLICY_BYTES + 1)
            if len(body) > MAX_POLICY_BYTES:
                raise PolicyError("policy larger than 64 KiB")
            return body.decode("utf-8")
        finally:
            connection.close()


def dump_cache(cache: dict[str, tuple[float, Policy]]) -> bytes:
    entries = {
        domain: {
            "expires": expires,
            "mode": policy.mode.value,
            "mx": list(policy.mx),
            "max_age": policy.max_age,
            "id": policy.policy_id,
        }
        for domain, (expires, policy) in sorted(cache.items())
    }
    return json.dumps({"version": 1, "policies": entries}, indent=1).encode()


def save_cache(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` durably (a reader sees the old or the new file)."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write_new_file(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def load_cache(path: Path, now: float) -> dict[str, tuple[float, Policy]]:
    """The unexpired policies saved in ``path`` (none when it is missing or damaged)."""
    try:
        document = json.loads(path.read_bytes())
        cache = {}
        for domain, entry in document["policies"].items():
            expires = float(entry["expires"])
            if expires <= now:
                continue
            policy = Policy(
                Mode(entry["mode"]),
                tuple(str(p).lower() for p in entry["mx"]),
                int(entry["max_age"]),
                str(entry["id"]),
            )
            cache[str(domain).lower()] = (expires, policy)
        return cache
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("mta-sts cache unreadable, starting empty", extra={"reason": str(exc)})
        return {}
