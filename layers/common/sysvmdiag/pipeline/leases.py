"""The limits as the pipeline applies them: per-role request rates and slots, per-VM run slots.

System identities (alarm playbooks) are not rate limited and hold no account slot; a VM's slots apply to
everyone. A request without a valid caller counts toward its source address's minute (``SOURCE#<ip>``,
at the user role's rate). The limiter port holds the state (DynamoDB leases across instances, or
nothing at all). Every count, and every refusal over the minute, is noted in the request's quota scope
(``sysvmdiag.pipeline.quota``) for the answer's ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.identity import is_system_account, is_system_caller
from sysvmdiag.limits import (
    DEFAULT_ACCOUNT_LIMITS,
    DEFAULT_VM_CONCURRENT_RUNS,
    AccountLimits,
    SlotClaim,
    WindowCount,
    account_slots,
    vm_slots,
)
from sysvmdiag.pipeline import quota
from sysvmdiag.pipeline.guards import limit_errors
from sysvmdiag.pipeline.ports import Limiter
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Role

SOURCE_PREFIX = "SOURCE#"  # the limits key of a caller-less source address (RATE#SOURCE#<ip>)


class Leases:
    """Counts requests and takes or frees the account's and the VM's slots; over a limit: 429."""

    def __init__(
        self,
        limiter: Limiter,
        account_limits: Mapping[Role, AccountLimits] | None = None,
        vm_concurrent_runs: int = DEFAULT_VM_CONCURRENT_RUNS,
    ) -> None:
        self._limiter = limiter
        self._account_limits = dict(account_limits or DEFAULT_ACCOUNT_LIMITS)
        self._vm_runs = vm_concurrent_runs

    @property
    def vm_concurrent_runs(self) -> int:
        return self._vm_runs

    def limits_of(self, role: Role) -> AccountLimits:
        return self._account_limits[role]

    def count_request(self, caller: Caller) -> None:
        if is_system_caller(caller):
            return
        self._count(caller.account_id, self._account_limits[caller.role].requests_per_minute)

    def count_source(self, source_ip: str | None) -> None:
        """A request that carries no valid caller: counted per source address, at a user's rate."""
        self._count(
            f"{SOURCE_PREFIX}{source_ip or 'unknown'}", self._account_limits[Role.USER].requests_per_minute
        )

    def _count(self, key: str, per_minute: int) -> None:
        """Count one request toward ``key``'s minute and note what is left of it (nothing, when refused)."""
        try:
            with limit_errors():
                window = self._limiter.count_request(key, per_minute)
        except ServiceError as over:
            if over.code is ErrorCode.RATE_LIMITED:
                quota.note(quota.RateQuota(per_minute, per_minute, over.retry_after or 1))
            raise
        if window is not None:
            quota.note(quota.RateQuota.of(per_minute, window))

    def usage(self, account_id: str) -> tuple[WindowCount | None, int]:
        """The account's current window (None: nothing is counted here) and its slots held, reading only."""
        return self._limiter.read_window(account_id), self._limiter.in_flight_for_account(account_id)

    def take_account_slot(
        self, caller: Caller, holder: str, lease_seconds: float, expected_seconds: float
    ) -> None:
        """Hold a slot for at most ``lease_seconds`` (the safety expiry), expected back within
        ``expected_seconds`` (what a refused caller's Retry-After is computed from)."""
        if is_system_caller(caller):
            return
        limit = self._account_limits[caller.role].concurrent_jobs
        with limit_errors():
            self._limiter.acquire_account_slot(
                caller.account_id, holder, limit, lease_seconds, expected_seconds
            )

    def expect_account_slot_back(self, account_id: str, holder: str, expected_seconds: float) -> None:
        """A job's run started: its account slot is now expected back at the run's end, so a caller
        refused meanwhile waits for that, not for the queue estimate (nor past it: Retry-After 1)."""
        if not is_system_account(account_id):
            self._limiter.expect_account_slot_back(account_id, holder, expected_seconds)

    def free_account_slot(self, account_id: str, holder: str) -> None:
        if not is_system_account(account_id):
            self._limiter.release_account_slot(account_id, holder)

    def take_vm_slot(self, vm_id: str, holder: str, lease_seconds: float, expected_seconds: float) -> None:
        with limit_errors():
            self._limiter.acquire_vm_slot(vm_id, holder, self._vm_runs, lease_seconds, expected_seconds)

    def free_vm_slot(self, vm_id: str, holder: str) -> None:
        self._limiter.release_vm_slot(vm_id, holder)

    def take_run_slots(
        self, caller: Caller, vm_id: str, holder: str, lease_seconds: float, expected_seconds: float
    ) -> None:
        """A run's account slot (none for system callers) and VM slot together, all or none (one call
        to the limits table when nothing contends)."""
        claims = (
            [] if is_system_caller(caller) else [SlotClaim.account(caller.account_id, self._limit(caller))]
        )
        claims.append(SlotClaim.vm(vm_id, self._vm_runs))
        with limit_errors():
            self._limiter.acquire_slots(claims, holder, lease_seconds, expected_seconds)

    def free_run_slots(self, account_id: str, vm_id: str, holder: str) -> None:
        """Both slots of :meth:`take_run_slots` back (one call when this instance took them)."""
        partitions = [] if is_system_account(account_id) else [account_slots(account_id)]
        self._limiter.release_slots([*partitions, vm_slots(vm_id)], holder)

    def _limit(self, caller: Caller) -> int:
        return self._account_limits[caller.role].concurrent_jobs
