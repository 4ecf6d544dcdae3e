"""Warm requests on a zone of thousands of networks against the same requests on the lab zone (issue 17).

The scale zone is the lab's zone (its bastion, system VMs and networks, so a request really runs on
the lab's VM) plus a generated zone's tenants: ``simvms.generate`` accounts, VPCs, networks and
system VMs (``scale-`` names, never contacted: they are only rows). It is loaded into topology and
accounts tables of its own on the local stack's moto server. Two Lambda-like processes of the API
function, one on the lab's tables and one on the scale zone's, then answer the same request in
turn, so both see the same moto state and machine load. Each series runs twice: with the decision
contexts a warm instance keeps (``TOPOLOGY_CACHE_SECONDS`` as configured) and with none kept (0:
every request reads the store, the case the zone's size can reach). The tables are deleted after.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3

from benchmarks.common import Target, summary
from benchmarks.latency import LambdaProcess, diagnostic_event
from simvms.generate import generate_zone
from sysvmdiag.topology.loader import apply_lab_status, load_topology_into_tables
from sysvmdiag.topology.model import Host, HostKind, NetworkKind, Topology
from sysvmdiag.topology.store import TopologyStore, create_tables

GOAL_RATIO = 1.1  # warm request p50 at scale / on the lab zone
DEFAULT_NETWORKS = 20_000
# A generated zone's own infrastructure networks are kept under other ids (its system VMs sit on them);
# the scale zone's infrastructure is the lab's.
INFRASTRUCTURE = (NetworkKind.CONTROL, NetworkKind.MANAGEMENT, NetworkKind.STORAGE, NetworkKind.PUBLIC)


def with_generated_tenants(lab: Topology, networks: int, seed: int = 1) -> Topology:
    """The lab's zone plus the tenants, networks and system VMs of a generated zone of ``networks``."""
    generated = generate_zone(networks, seed=seed)
    renamed = {n.id: f"scale-{n.id}" for n in generated.networks if n.kind in INFRASTRUCTURE}
    known_accounts = {account.id for account in lab.accounts}
    return Topology.model_validate(
        {
            "version": lab.version,
            "lab": lab.lab,
            "zone": lab.zone,
            "accounts": (*lab.accounts, *(a for a in generated.accounts if a.id not in known_accounts)),
            "vpcs": (*lab.vpcs, *generated.vpcs),
            "networks": (
                *lab.networks,
                *(n.model_copy(update={"id": renamed.get(n.id, n.id)}) for n in generated.networks),
            ),
            "hosts": (
                *lab.hosts,
                *(_renamed(h, renamed) for h in generated.hosts if h.kind is not HostKind.BASTION),
            ),
        }
    )


def _renamed(host: Host, networks: dict[str, str]) -> Host:
    interfaces = tuple(
        iface.model_copy(update={"network": networks.get(iface.network, iface.network)})
        for iface in host.interfaces
    )
    return host.model_copy(
        update={
            "name": f"scale-{host.name}",
            "vm_name": f"scale-{host.vm_name}" if host.vm_name else None,
            "interfaces": interfaces,
        }
    )


def _load(topology: Topology, endpoint_url: str, prefix: str) -> tuple[dict, float]:
    """Tables of their own, loaded; the functions' variables naming them, and the load's seconds."""
    dynamodb = boto3.session.Session().resource("dynamodb", endpoint_url=endpoint_url)
    names = {"TOPOLOGY_TABLE": f"{prefix}-topology", "ACCOUNTS_TABLE": f"{prefix}-accounts"}
    tables = create_tables(dynamodb, names)
    started = time.perf_counter()
    load_topology_into_tables(topology, TopologyStore(tables["topology"], tables["accounts"]))
    return names, time.perf_counter() - started


def _drop(endpoint_url: str, names: dict[str, str]) -> None:
    client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url)
    for name in names.values():
        client.delete_table(TableName=name)


def _series(
    lab_env: dict[str, str], scale_env: dict[str, str], event: dict, runs: int
) -> tuple[list[float], list[float]]:
    """(lab, scale) invoke times of ``runs`` requests each, taken in turn after one unmeasured each."""
    lab, scale = LambdaProcess(env=lab_env), LambdaProcess(env=scale_env)
    try:
        lab.invoke(event)
        scale.invoke(event)
        lab_ms, scale_ms = [], []
        for _ in range(runs):
            lab_ms.append(lab.invoke(event)["invokeMs"])
            scale_ms.append(scale.invoke(event)["invokeMs"])
        return lab_ms, scale_ms
    finally:
        lab.close()
        scale.close()


def measure(
    lab: Topology,
    lab_status: dict,
    stack: dict,
    target: Target,
    networks: int,
    runs: int,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Warm request times on the lab zone and on the scale zone, with and without kept contexts."""
    progress(f"scale: generating and loading a zone of {networks:,} networks beside the lab's ...")
    # The lab's pinned keys first (the generated VMs are never contacted: they need none).
    topology = with_generated_tenants(apply_lab_status(lab, lab_status), networks)
    names, load_s = _load(topology, stack["awsEndpointUrl"], f"bench-scale-{uuid.uuid4().hex[:8]}")
    event = diagnostic_event(lab, "admin", target.request_body())
    series: dict[str, Any] = {}
    try:
        for label, cache in (("kept", None), ("none", "0")):
            progress(f"scale: {runs} warm requests each on the lab and the scale zone (contexts {label}) ...")
            base = {**os.environ, **({"TOPOLOGY_CACHE_SECONDS": cache} if cache is not None else {})}
            lab_ms, scale_ms = _series(base, {**base, **names}, event, runs)
            series[label] = {
                "lab": summary(lab_ms),
                "scale": summary(scale_ms),
                "ratio": _ratio(lab_ms, scale_ms),
            }
    finally:
        _drop(stack["awsEndpointUrl"], names)
    return {
        "networks": networks,
        "networksInZone": len(topology.networks),
        "systemVms": len(topology.system_vms()),
        "accounts": len(topology.accounts),
        "loadSeconds": round(load_s, 1),
        "runs": runs,
        "series": series,
    }


def _ratio(lab_ms: list[float], scale_ms: list[float]) -> float:
    return summary(scale_ms)["median"] / summary(lab_ms)["median"]
