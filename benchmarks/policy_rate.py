"""Policy decisions per second in process, on the decision slice the store returns (one GetItem).

The slice is fetched once from the running stack's DynamoDB; the loop then times ``decide`` alone
(pure: no I/O), for an admin, a user on its own network, and a denied user.
"""

from __future__ import annotations

import time

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.policy import Caller, decide
from sysvmdiag.topology.model import Topology
from sysvmdiag.topology.store import TopologyStore

SECONDS_PER_CASE = 1.0


def _caller(topology: Topology, name: str) -> Caller:
    account = topology.account(name)
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


def cases(topology: Topology) -> list[dict]:
    """Representative decisions: (label, caller, vm, destination, params, expected allowed)."""
    return [
        {
            "label": "admin ping VR -> internet",
            "caller": "admin",
            "vm": "r-4-VM",
            "destination": "198.51.100.80",
            "params": "-c 1 -W 1",
            "allowed": True,
        },
        {
            "label": "user ping own VR -> own guest",
            "caller": "alice",
            "vm": "r-4-VM",
            "destination": "10.1.1.11",
            "params": "-c 3",
            "allowed": True,
        },
        {
            "label": "user denied on another's VR",
            "caller": "bob",
            "vm": "r-4-VM",
            "destination": "10.1.1.11",
            "params": None,
            "allowed": False,
        },
    ]


def measure(topology: Topology, store: TopologyStore | None = None, progress=print) -> dict:
    store = store or bootstrap.topology_store(Settings.from_env())
    results = []
    for case in cases(topology):
        vm_ref = topology.system_vm(case["vm"]).uuid or case["vm"]
        context = store.decision_context(vm_ref, case["destination"])
        if context is None:
            raise RuntimeError(f"the store has no decision context for {case['vm']}")
        caller = _caller(topology, case["caller"])
        args = (caller, case["vm"], "ping", case["destination"], case["params"], context)
        first = decide(*args)
        if first.allowed is not case["allowed"]:
            raise RuntimeError(f"{case['label']}: expected allowed={case['allowed']}, got {first.to_dict()}")
        progress(f"policy: {case['label']} for {SECONDS_PER_CASE:g} s ...")
        count = 0
        started = time.perf_counter()
        deadline = started + SECONDS_PER_CASE
        while time.perf_counter() < deadline:
            for _ in range(50):
                decide(*args)
            count += 50
        elapsed = time.perf_counter() - started
        results.append(
            {
                "label": case["label"],
                "allowed": first.allowed,
                "code": str(first.code) if first.code else None,
                "decisions": count,
                "perSecond": count / elapsed,
                "microsecondsPerDecision": elapsed / count * 1e6,
            }
        )
    return {"cases": results}
