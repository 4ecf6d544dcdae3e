"""Who may read what someone asked for (a job, a matrix): its owner, admins, and the domain admins whose
subtree holds the owner's domain. Everyone else is answered as if it did not exist."""

from __future__ import annotations

from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Role, domain_contains


def may_read(caller: Caller, owner_account_id: str, owner_domain: str) -> bool:
    if caller.role is Role.ADMIN or owner_account_id == caller.account_id:
        return True
    return caller.role is Role.DOMAIN_ADMIN and domain_contains(caller.domain, owner_domain)
