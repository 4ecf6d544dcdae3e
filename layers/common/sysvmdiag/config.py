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

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            topology_table=env.get("TOPOLOGY_TABLE", "sysvmdiag-topology"),
            accounts_table=env.get("ACCOUNTS_TABLE", "sysvmdiag-accounts"),
            ssh_key_secret_id=env.get("SSH_KEY_SECRET_ID", "sysvmdiag/ssh-private-key"),
            sync_budget_seconds=float(env.get("SYNC_BUDGET_SECONDS", "25")),
            secret_max_age_seconds=int(env.get("SSH_KEY_MAX_AGE_SECONDS", "300")),
        )
