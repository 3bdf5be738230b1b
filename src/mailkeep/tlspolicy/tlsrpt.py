"""TLS reporting: every outbound TLS negotiation's result, per policy domain.

RFC 8460 (4.3 result types, 4.4 policy types). Results are appended as JSON lines to
``data_dir/tlsrpt/<YYYY-MM-DD>.jsonl`` (one file per UTC day, the reporting period of
RFC 8460 4.1) so ``mailkeep tlsrpt`` can summarise them and daily aggregate reports can be
built from them. Writes are small appends from a worker thread (no fsync: a lost line
after a crash only lowers a counter).
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


class PolicyType(enum.Enum):
    """RFC 8460 4.4."""

    STS = "sts"
    TLSA = "tlsa"
    NONE = "no-policy-found"


class Result(enum.Enum):
    """RFC 8460 4.3 result types, plus success."""

    SUCCESS = "success"
    STARTTLS_NOT_SUPPORTED = "starttls-not-supported"
    CERTIFICATE_HOST_MISMATCH = "certificate-host-mismatch"
    CERTIFICATE_NOT_TRUSTED = "certificate-not-trusted"
    VALIDATION_FAILURE = "validation-failure"
    TLSA_INVALID = "tlsa-invalid"
    DNSSEC_INVALID = "dnssec-invalid"
    STS_POLICY_FETCH_ERROR = "sts-policy-fetch-error"
    STS_POLICY_INVALID = "sts-policy-invalid"
    STS_WEBPKI_INVALID = "sts-webpki-invalid"


@dataclass(frozen=True, slots=True)
class Negotiation:
    policy_domain: str
    policy_type: PolicyType
    mx_host: str
    result: Result
    detail: str = ""


class TLSReportLog:
    """Appends negotiations to daily files under ``root``; reads them back."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock

    def _path(self, when: float) -> Path:
        day = datetime.datetime.fromtimestamp(when, datetime.UTC).date().isoformat()
        return self.root / f"{day}.jsonl"

    def record_sync(self, item: Negotiation) -> None:
        now = self.clock()
        line = {
            "time": now,
            "policy_domain": item.policy_domain,
            "policy_type": item.policy_type.value,
            "mx_host": item.mx_host,
            "result": item.result.value,
            "detail": item.detail[:300],
        }
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._path(now).open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")

    async def record(self, item: Negotiation) -> None:
        await asyncio.to_thread(self.record_sync, item)

    def entries(self) -> Iterator[dict[str, object]]:
        if not self.root.exists():
            return
        for path in sorted(self.root.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                if isinstance(entry, dict):
                    yield entry

    def summary(self) -> dict[tuple[str, str], Counter[str]]:
        """(policy domain, policy type) -> counts of each result."""
        counts: dict[tuple[str, str], Counter[str]] = {}
        for entry in self.entries():
            key = (str(entry.get("policy_domain")), str(entry.get("policy_type")))
            counts.setdefault(key, Counter())[str(entry.get("result"))] += 1
        return counts
