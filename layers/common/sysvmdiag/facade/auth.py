"""Who is calling: the ``apikey`` names a key pair, and the request must be signed with its secret key.

Every failure answers the same 401 sentence CloudStack gives, so a caller cannot tell an unknown key
from a bad signature or an expired request; the log keeps the precise reason (never the secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sysvmdiag.cloudstack.signing import signature_problem
from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.facade.params import CloudStackParams
from sysvmdiag.observability import logger
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Account

REFUSED = "unable to verify user credentials and/or request signature"


class KeyPairs(Protocol):
    """The port to the key pair store (``sysvmdiag.keypairs.KeyPairStore``)."""

    def resolve(self, api_key: str) -> tuple[Account, str] | None: ...


def authenticated_caller(params: CloudStackParams, keypairs: KeyPairs, now: datetime) -> Caller:
    """The caller a validly signed request speaks for; ServiceError UNAUTHENTICATED otherwise."""
    api_key = params.get("apikey")
    if not api_key:
        raise _refused("no apikey")
    found = keypairs.resolve(api_key)
    if found is None:
        raise _refused("unknown or revoked apikey")
    account, secret_key = found
    problem = signature_problem(params.sent, secret_key, now=now)
    if problem is not None:
        raise _refused(problem, account.id)
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


def _refused(reason: str, account_id: str | None = None) -> ServiceError:
    logger.info("cloudstack api: request not authenticated", extra={"reason": reason, "account": account_id})
    return ServiceError(ErrorCode.UNAUTHENTICATED, REFUSED, detail=reason)
