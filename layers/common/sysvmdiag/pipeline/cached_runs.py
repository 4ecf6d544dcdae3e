"""Cached runs: a synchronous request that asks for it (``cache: true``) answered with the stored result of
an identical request of the same account, finished less than RESULT_CACHE_SECONDS ago, instead of
running the test again.

Only after admission, so the policy and the minute's count apply to a cached answer as to any other; and
only for what runs synchronously: a job is never answered from the cache nor stored in it. The key is
what the policy decided, not the request's text (the account, the VM's uuid, the egress interface and the
exact command line: normalised options, canonical destination, pinned interface), so two spellings of
one request share an entry and two accounts never do. A hit takes no slot and runs nothing, and is
audited as answered from the cache. The cache failing is a miss: it never fails a request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from sysvmdiag.audit_record import AuditDecision, AuditRecord, AuditStatus
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.observability import count_by, logger
from sysvmdiag.pipeline.audit_trail import AuditTrail
from sysvmdiag.pipeline.ports import Clock, ResultCache
from sysvmdiag.policy import Caller, Decision


def cache_key(account_id: str, vm_uuid: str, egress_interface: str | None, command_line: str) -> str:
    """sha256 (hex) of what makes two requests identical; JSON so no part can run into the next."""
    parts = json.dumps([account_id, vm_uuid, egress_interface, command_line], separators=(",", ":"))
    return hashlib.sha256(parts.encode()).hexdigest()


def worth_keeping(result: DiagnosticResult) -> bool:
    """A tool's whole answer: it ended with an exit status and its output was not cut (a run cut short or
    whose channel closed on us says more about that moment than about the path)."""
    return result.exit_code is not None and not result.truncated


class CachedRuns:
    """Looks a synchronous request up before it runs and keeps its result after; off when ``seconds``
    is 0."""

    def __init__(self, cache: ResultCache, seconds: float, audit: AuditTrail, clock: Clock) -> None:
        self._cache = cache
        self._seconds = seconds
        self._audit = audit
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._seconds > 0

    def answer(
        self,
        caller: Caller,
        request: DiagnosticRequest,
        decision: Decision,
        record: AuditRecord,
        run: Callable[[], DiagnosticResult],
    ) -> DiagnosticResult:
        """The stored answer when the request asks for one and a fresh one exists; else ``run()``'s,
        kept for the next identical request when it asked for the cache and it is a tool's answer.
        Call it for synchronous runs only (admitted, within the budget)."""
        key = self._key(caller, request, decision)
        if key is None:
            return run()
        cached = self._lookup(key)
        if cached is not None:
            self._audit.write(
                record.model_copy(update={"mode": "sync", "cached": True}),
                decision=AuditDecision.ALLOWED,
                status=AuditStatus(cached.status),
                result=cached,
            )
            return cached
        result = run()
        if worth_keeping(result):
            self._keep(key, result)
        return result

    def _key(self, caller: Caller, request: DiagnosticRequest, decision: Decision) -> str | None:
        if not (request.cache and self.enabled and decision.invocation is not None):
            return None
        vm_uuid = decision.vm_uuid or request.target_id
        return cache_key(
            caller.account_id, vm_uuid, decision.egress_interface, decision.invocation.command_line()
        )

    def _lookup(self, key: str) -> DiagnosticResult | None:
        """The stored result marked cached with its age, or None: absent, too old, or the cache failed.

        The age is checked here too, against the setting of now: entries stored under a longer one
        answer no longer than this deployment says."""
        now = self._clock()
        try:
            found = self._cache.get(key, now)
        except Exception:
            logger.exception("result cache read failed")
            found = None
        if found is not None:
            result, stored_at = found
            age = max(0.0, (now - stored_at).total_seconds())  # another instance's clock may run ahead
            if age < self._seconds:
                count_by("CachedAnswers", "outcome", "hit")
                return result.model_copy(update={"cached": True, "cache_age_seconds": round(age, 3)})
        count_by("CachedAnswers", "outcome", "miss")
        return None

    def _keep(self, key: str, result: DiagnosticResult) -> None:
        """Store the result, its age counted from the end of its run; a failed write is only logged."""
        try:
            self._cache.put(key, result, result.finished_at, self._seconds)
        except Exception:
            logger.exception("result cache write failed", extra={"result_id": result.id})
