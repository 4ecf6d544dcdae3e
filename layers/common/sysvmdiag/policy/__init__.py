"""The access policy (pure, no I/O): who may probe what, from which system VM, out of which interface.

Names are resolved lazily (PEP 562) so ``python -m sysvmdiag.policy.reasons`` runs cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sysvmdiag.policy.decision import (
        Caller,
        Decision,
        allowed_egress_kinds,
        choose_egress,
        decide,
        may_target,
    )
    from sysvmdiag.policy.reasons import ReasonCode

_EXPORTS = {
    "Caller": "sysvmdiag.policy.decision",
    "Decision": "sysvmdiag.policy.decision",
    "allowed_egress_kinds": "sysvmdiag.policy.decision",
    "choose_egress": "sysvmdiag.policy.decision",
    "decide": "sysvmdiag.policy.decision",
    "may_target": "sysvmdiag.policy.decision",
    "ReasonCode": "sysvmdiag.policy.reasons",
}

__all__ = [
    "Caller",
    "Decision",
    "ReasonCode",
    "allowed_egress_kinds",
    "choose_egress",
    "decide",
    "may_target",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sysvmdiag.policy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
