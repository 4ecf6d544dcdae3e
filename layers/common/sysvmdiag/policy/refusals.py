"""How the policy says no: a reason code, a sentence for the caller and, apart, the detail for admins.

Rule 7: a non-admin's refusal names nothing the caller does not cover (no network, VPC, route, host or
account of another tenant, nothing of the infrastructure); it says the class of what was refused. The
detail (which network, which CIDR) is what admins are told, and what the audit trail keeps.
"""

from __future__ import annotations

from sysvmdiag.policy.reasons import ReasonCode

INFRASTRUCTURE = "an address reserved for the zone's infrastructure"
ANOTHER_TENANT = "an address of another tenant"
ONLY_ADMINS = "only admins may probe it"


class Denied(Exception):
    """A refusal raised deep in a check and turned into a Decision by ``decide``.

    ``message`` is safe for anyone; ``detail`` (defaults to ``message``) may name what the caller does
    not cover and is shown to admins only; ``detail_code`` is the precise reason when the caller is
    answered with a coarser one (a VM it may not use answers TARGET_NOT_FOUND).
    """

    def __init__(
        self,
        code: ReasonCode,
        message: str,
        detail: str | None = None,
        detail_code: ReasonCode | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail or message
        self.detail_code = detail_code or code


def not_found(vm_ref: str) -> str:
    """The one sentence for a VM that does not exist and for one the caller may not use (rule 7)."""
    return f"There is no system VM {vm_ref!r} that you may use."
