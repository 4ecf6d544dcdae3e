"""Caller identity: what the Lambda authorizer put in the request context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Account, Role

# Alarm playbooks run as this identity: admin rights, and every audit record says it was the system.
SYSTEM_ALARM_CALLER = Caller(account_id="system:alarm", role=Role.ADMIN, domain="ROOT")
SYSTEM_ACCOUNT_PREFIX = "system:"


def is_system_account(account_id: str) -> bool:
    """System identities are not API accounts: no API key, no account limits."""
    return account_id.startswith(SYSTEM_ACCOUNT_PREFIX)


def is_system_caller(caller: Caller) -> bool:
    return is_system_account(caller.account_id)


def authorizer_context(account: Account) -> dict[str, str]:
    """The flat context the authorizer returns (HTTP API contexts allow no nesting)."""
    return {
        "accountId": account.id,
        "accountName": account.name,
        "role": account.role.value,
        "domain": account.domain,
    }


def bearer_token(header: str | None) -> str | None:
    """The key from ``Authorization: Bearer <key>``; None for anything else."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


def caller_from_context(context: Mapping[str, Any]) -> Caller:
    """Rebuild the caller; refuse rather than guess when the authorizer context is incomplete."""
    try:
        return Caller(
            account_id=str(context["accountId"]), role=Role(context["role"]), domain=str(context["domain"])
        )
    except (KeyError, ValueError) as exc:
        raise ServiceError(
            ErrorCode.UNAUTHENTICATED, "The request carries no valid caller identity."
        ) from exc
