"""GET /limits: an account's quotas and its current use, read without counting anything.

Reading one's quota is not counted toward the minute (like the other reads: GET /systemvms, /audit, a
job): it would otherwise spend what it reports. A caller sees its own account; an administrator may name
another. Its role comes from the topology (the accounts that hold networks, by their tenancy facts): the
API reads no accounts table, so an account the topology does not name has its use shown and its limits
null. A non-admin naming another account is refused with the same answer whether it exists or not.
"""

from __future__ import annotations

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.limits import RATE_WINDOW_SECONDS
from sysvmdiag.models import JobsQuota, LimitsView, RequestsQuota
from sysvmdiag.pipeline.guards import dependency_errors
from sysvmdiag.pipeline.leases import Leases
from sysvmdiag.pipeline.ports import TopologySource
from sysvmdiag.pipeline.quota import RateQuota
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Role


class QuotaReport:
    def __init__(self, leases: Leases, topology: TopologySource) -> None:
        self._leases = leases
        self._topology = topology

    def view(self, caller: Caller, account_id: str | None = None) -> LimitsView:
        """The caller's limits, or (administrators) those of ``account_id``."""
        own = account_id is None or account_id == caller.account_id
        if not own and caller.role is not Role.ADMIN:
            raise ServiceError(
                ErrorCode.LIMITS_ADMIN_ONLY, "Only administrators may read another account's limits."
            )
        with dependency_errors():
            if own:
                return self._view(caller.account_id, caller.role)
            assert account_id is not None
            return self._view(account_id, self._role_of(account_id))

    def _role_of(self, account_id: str) -> Role | None:
        accounts = self._topology.list_system_vms().accounts
        return next((account.role for account in accounts if account.id == account_id), None)

    def _view(self, account_id: str, role: Role | None) -> LimitsView:
        window, in_use = self._leases.usage(account_id)
        limits = self._leases.limits_of(role) if role is not None else None
        used = window.count if window else 0
        reset = window.reset_seconds if window else RATE_WINDOW_SECONDS
        rate = RateQuota(limits.requests_per_minute, used, reset) if limits else None
        return LimitsView(
            account_id=account_id,
            role=role.value if role else None,
            enforced=window is not None,
            requests_per_minute=RequestsQuota(
                limit=rate.limit if rate else None,
                used=used,
                remaining=rate.remaining if rate else None,
                reset_seconds=reset,
            ),
            concurrent_jobs=JobsQuota(limit=limits.concurrent_jobs if limits else None, in_use=in_use),
            vm_concurrent_runs=self._leases.vm_concurrent_runs,
        )
