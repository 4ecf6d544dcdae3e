"""Settings from the environment: the same code runs on AWS and in the local stack.

The local stack only sets different values (table names, ``AWS_ENDPOINT_URL`` for moto's
server); there is no "local" branch anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    topology_table: str
    accounts_table: str
    ssh_key_secret_id: str
    sync_budget_seconds: float = 25.0
    secret_max_age_seconds: int = 300
    # Optional parts: without a jobs table and queue, long runs are refused (422) instead of queued;
    # without a limits table nothing is limited; without an audit table records only go to the log.
    jobs_table: str | None = None
    jobs_queue_url: str | None = None
    audit_table: str | None = None
    limits_table: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            topology_table=env.get("TOPOLOGY_TABLE", "sysvmdiag-topology"),
            accounts_table=env.get("ACCOUNTS_TABLE", "sysvmdiag-accounts"),
            ssh_key_secret_id=env.get("SSH_KEY_SECRET_ID", "sysvmdiag/ssh-private-key"),
            sync_budget_seconds=float(env.get("SYNC_BUDGET_SECONDS", "25")),
            secret_max_age_seconds=int(env.get("SSH_KEY_MAX_AGE_SECONDS", "300")),
            jobs_table=env.get("JOBS_TABLE") or None,
            jobs_queue_url=env.get("JOBS_QUEUE_URL") or None,
            audit_table=env.get("AUDIT_TABLE") or None,
            limits_table=env.get("LIMITS_TABLE") or None,
        )
