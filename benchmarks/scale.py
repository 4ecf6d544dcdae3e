"""``python -m benchmarks.scale``: issue 12's scale benchmark, the topology store from 100 to 20,000 networks.

One moto server on loopback. Each size gets a generated zone (``simvms.generate.generate_zone``) in
tables of its own, loaded and timed; the largest item is sized as DynamoDB counts it. Once every size is
loaded, decisions (the store's read plus the policy, timed together) run round-robin across the sizes,
so every size sees the same moto state and the same machine load. Prints one JSON line per size and the
p50 ratio of the largest to the smallest; writes ``scale.json`` and ``scale.png``.

Nothing leaves loopback: the generated addresses are only rows in DynamoDB.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3

from benchmarks import machine
from benchmarks.common import percentile
from simvms.generate import DEFAULT_CIDR, generate_zone
from sysvmdiag.local.motoserver import start_moto_server
from sysvmdiag.policy import Caller, decide
from sysvmdiag.policy.tenancy import TENANT_KINDS, network_holders
from sysvmdiag.topology.items import topology_items
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Host, Network, Role, Topology
from sysvmdiag.topology.store import TopologyStore, create_tables

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SIZES = (100, 1000, 5000, 20000)
WARMUP_PER_SIZE = 5  # first calls open connections and fill caches: not samples
# Documentation ranges (RFC 5737) stand for the internet: no zone network holds them.
PUBLIC_RANGES = (ipaddress.IPv4Network("198.51.100.0/24"), ipaddress.IPv4Network("203.0.113.0/24"))
DESTINATION_KINDS = ("own_network", "other_network", "crowded_cidr", "public")
# The headline p50/p99 are over a zone's ordinary traffic: the VM's own network, any tenant network of
# the zone (drawn uniformly, so the shared default CIDR comes up as often as it holds networks) and the
# internet. ``crowded_cidr`` aims every time at the default CIDR many tenants share: a stress series,
# reported apart (its cost grows with the crowd; see benchmarks/README.md).
HEADLINE_KINDS = ("own_network", "other_network", "public")
GOALS = {"max_item_bytes": 64 * 1024, "dynamodb_calls_per_decision": 2, "p50_ratio": 1.2, "load_s": 60.0}


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- item size ---------------------------------------------------------------------------------------


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it against the item-size limit, and reads and writes bill it.

    DynamoDB "Item sizes and formats" (developer guide, CapacityUnitCalculations): the sum of the
    UTF-8 lengths of attribute names and values; binary by raw length; null and Boolean 1 byte; a List
    or Map 3 bytes plus 1 byte per element plus its elements (a Map's keys are names, counted too).
    Numbers are counted as their decimal text, a slight overestimate of DynamoDB's "1 byte per two
    significant digits plus 1" for the small counts these items hold.
    """
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    """One attribute value's bytes (without its name), recursively for maps, lists and sets."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return len(str(value))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode()) + _value_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + _value_bytes(v) for v in value)
    if isinstance(value, set | frozenset):
        return sum(_value_bytes(v) for v in value)
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def largest_by_type(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The largest item of each type: the INDEX is the loader's, the rest are what decisions read."""
    sizes: dict[str, int] = {}
    for item in items:
        kind = str(item.get("item_type"))
        sizes[kind] = max(sizes.get(kind, 0), item_bytes(item))
    return dict(sorted(sizes.items()))


def bucket_facts(items: Sequence[Mapping[str, Any]], bucket: str) -> dict[str, int]:
    """How many spaces a bucket holds and in how many shards (items): what a decision toward it reads."""
    shards = [item for item in items if item.get("item_type") == "SPACE" and item.get("bucket") == bucket]
    return {"spaces": sum(len(item["entries"]) for item in shards), "shards": len(shards)}


def largest_item(items: Sequence[Mapping[str, Any]]) -> tuple[int, str]:
    """The largest item's size and key ("pk / sk"), to name what would outgrow a limit first."""
    size, item = max(((item_bytes(i), i) for i in items), key=lambda pair: pair[0])
    return size, f"{item['pk']} / {item['sk']}"


# -- the decision mix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One decision: a caller asks to ping from a system VM to a destination."""

    vm_ref: str
    caller: Caller
    destination: str
    kind: str


def _address_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network, rng: random.Random) -> str:
    """A host address of the network, not its gateway (the first host) where there is room."""
    offset = rng.randrange(2, network.num_addresses - 1) if network.num_addresses > 4 else 0
    return str(network[offset])


def _network_address(network: Network, rng: random.Random) -> str:
    """An address on the network: on a dual-stack one, IPv6 a third of the time."""
    if network.cidr6 is not None and (network.cidr4 is None or rng.random() < 1 / 3):
        return _address_in(network.cidr6, rng)
    assert network.cidr4 is not None  # the model requires a CIDR
    return _address_in(network.cidr4, rng)


def caller_for(topology: Topology, vm: Host, rng: random.Random) -> Caller:
    """An account holding one of the VM's tenant networks (a user on its own router), else the admin
    (the SSVM and CPVM sit on no tenant network)."""
    holders = sorted(
        {
            holder
            for iface in vm.interfaces
            if (network := topology.network(iface.network)).kind in TENANT_KINDS
            for holder in network_holders(network, topology)
        }
    )
    account_id = rng.choice(holders) if holders else None
    if account_id is None:
        account = next(a for a in topology.accounts if a.role is Role.ADMIN)
    else:
        account = topology.account(account_id)
    return Caller(account_id=account.id, role=account.role, domain=account.domain)


def _own_network(topology: Topology, vm: Host, rng: random.Random) -> Network:
    """One of the VM's tenant networks, or (SSVM, CPVM) one of its other networks but control."""
    networks = [topology.network(iface.network) for iface in vm.interfaces]
    tenant = [n for n in networks if n.kind in TENANT_KINDS]
    return rng.choice(tenant or [n for n in networks if n.kind.value != "control"])


def destination(
    kind: str, topology: Topology, vm: Host, tenant_networks: Sequence[Network], rng: random.Random
) -> str:
    """A destination of one kind of the mix (see DESTINATION_KINDS)."""
    if kind == "own_network":
        return _network_address(_own_network(topology, vm, rng), rng)
    if kind == "other_network":
        return _network_address(rng.choice(tenant_networks), rng)
    if kind == "crowded_cidr":
        return _address_in(ipaddress.IPv4Network(DEFAULT_CIDR), rng)
    return _address_in(rng.choice(PUBLIC_RANGES), rng)


def decision_cases(topology: Topology, count: int, seed: int) -> list[Case]:
    """``count`` decisions, the same for a zone and seed: a random system VM (by uuid), a caller
    holding one of its networks, and the destination kinds in turn (a quarter each; the headline
    figures leave the crowded-CIDR stress series out, see HEADLINE_KINDS)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not secrets
    vms = topology.system_vms()
    tenant_networks = [n for n in topology.networks if n.kind in TENANT_KINDS]
    cases = []
    for number in range(count):
        vm = rng.choice(vms)
        kind = DESTINATION_KINDS[number % len(DESTINATION_KINDS)]
        address = destination(kind, topology, vm, tenant_networks, rng)
        assert vm.uuid is not None  # the model guarantees it for system VMs
        cases.append(Case(vm.uuid, caller_for(topology, vm, rng), address, kind))
    return cases


# -- one size under test -----------------------------------------------------------------------------


@dataclass
class Operations:
    """The DynamoDB operations of one client, through its before-call hook."""

    names: list[str] = field(default_factory=list)

    def record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        taken, self.names = self.names, []
        return taken


@dataclass
class Zone:
    """A size under test: its zone, store, load figures and the decisions measured on it."""

    size: int
    topology: Topology
    store: TopologyStore
    operations: Operations
    facts: dict[str, Any]
    cases: list[Case] = field(default_factory=list)
    samples_ms: list[float] = field(default_factory=list)
    samples_by_kind: dict[str, list[float]] = field(default_factory=dict)
    calls: list[int] = field(default_factory=list)
    operation_counts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


def _store(endpoint_url: str, prefix: str) -> TopologyStore:
    """Tables of their own on the moto server, through a client of their own (its calls are counted)."""
    dynamodb = boto3.session.Session().resource("dynamodb", endpoint_url=endpoint_url)
    tables = create_tables(dynamodb, {"topology": f"{prefix}-topology", "accounts": f"{prefix}-accounts"})
    return TopologyStore(tables["topology"], tables["accounts"])


def load_zone(endpoint_url: str, size: int, seed: int, run_id: str) -> Zone:
    """Generate the zone, create its tables, load it (timed) and size its items."""
    started = time.perf_counter()
    topology = generate_zone(size, seed=seed)
    generate_s = time.perf_counter() - started
    store = _store(endpoint_url, f"scale-{run_id}-{size}")
    started = time.perf_counter()
    report = load_topology_into_tables(topology, store)
    load_s = time.perf_counter() - started
    items = topology_items(topology)
    max_bytes, max_key = largest_item(items)
    operations = Operations()
    store.topology_table.meta.client.meta.events.register("before-call.dynamodb.*", operations.record)
    facts = {
        "networks": size,
        "networks_in_zone": len(topology.networks),
        "system_vms": len(topology.system_vms()),
        "accounts": len(topology.accounts),
        "vpcs": len(topology.vpcs),
        "items": len(items),
        "items_written": report.items_written,
        "generate_s": round(generate_s, 2),
        "load_s": round(load_s, 2),
        "max_item_bytes": max_bytes,
        "max_item_key": max_key,
        "max_item_bytes_by_type": largest_by_type(items),
        "crowded_bucket": bucket_facts(items, DEFAULT_CIDR),
    }
    return Zone(size, topology, store, operations, facts)


def run_decision(zone: Zone, case: Case) -> tuple[float, list[str], bool]:
    """One decision as the API makes it: the store's read and the policy, timed together (ms)."""
    zone.operations.take()
    started = time.perf_counter()
    context = zone.store.decision_context(case.vm_ref, case.destination)
    if context is None:
        raise RuntimeError(f"no decision context for {case.vm_ref} in the {zone.size}-network zone")
    decision = decide(case.caller, case.vm_ref, "ping", case.destination, None, context)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return elapsed_ms, zone.operations.take(), decision.allowed


def measure_interleaved(zones: Sequence[Zone], decisions: int, progress: Callable[[str], None]) -> None:
    """Round-robin: decision i of every size before decision i+1 of any, the starting size rotating,
    so no size runs on a quieter machine or an emptier moto than another."""
    for zone in zones:
        for case in zone.cases[:WARMUP_PER_SIZE]:
            run_decision(zone, case)
    for number in range(decisions):
        turn = number % len(zones)
        for zone in [*zones[turn:], *zones[:turn]]:
            case = zone.cases[WARMUP_PER_SIZE + number]
            elapsed_ms, operations, allowed = run_decision(zone, case)
            if case.kind in HEADLINE_KINDS:
                zone.samples_ms.append(elapsed_ms)
            zone.samples_by_kind.setdefault(case.kind, []).append(elapsed_ms)
            zone.calls.append(len(operations))
            zone.operation_counts.update(operations)
            zone.outcomes[f"{case.kind}:{'allowed' if allowed else 'denied'}"] += 1
        if (number + 1) % 100 == 0:
            progress(f"scale: {number + 1} of {decisions} decisions per size")


# -- results -----------------------------------------------------------------------------------------


def size_row(zone: Zone) -> dict[str, Any]:
    """One size's line: the load figures, decision latency and DynamoDB calls per decision."""
    samples = zone.samples_ms
    return {
        **zone.facts,
        "decisions": len(samples),  # the headline mix; the crowded-CIDR series is in the by-kind figures
        "decision_ms_p50": round(percentile(samples, 50), 2),
        "decision_ms_p99": round(percentile(samples, 99), 2),
        "decision_ms_mean": round(statistics.fmean(samples), 2),
        "decision_ms_p50_by_kind": {
            kind: round(percentile(zone.samples_by_kind[kind], 50), 2)
            for kind in DESTINATION_KINDS
            if kind in zone.samples_by_kind
        },
        "dynamodb_calls_per_decision": {
            "max": max(zone.calls),
            "mean": round(statistics.fmean(zone.calls), 3),
        },
        "dynamodb_operations": dict(sorted(zone.operation_counts.items())),
        "outcomes": dict(sorted(zone.outcomes.items())),
    }


def _p50_ratios_by_kind(smallest: Mapping[str, Any], largest: Mapping[str, Any]) -> dict[str, float]:
    """Each destination kind's p50 at the largest size over the smallest's: which kind grows."""
    small = smallest.get("decision_ms_p50_by_kind", {})
    large = largest.get("decision_ms_p50_by_kind", {})
    return {
        kind: round(large[kind] / small[kind], 3)
        for kind in DESTINATION_KINDS
        if kind in small.keys() & large
    }


def goals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The issue's goals: on the largest size, and its p50 against the smallest's."""
    smallest, largest = rows[0], rows[-1]
    ratio = largest["decision_ms_p50"] / smallest["decision_ms_p50"]
    calls = max(row["dynamodb_calls_per_decision"]["max"] for row in rows)
    return {
        "p50_ratio_largest_to_smallest": round(ratio, 3),
        "p50_ratio_by_kind": _p50_ratios_by_kind(smallest, largest),
        "networks_smallest": smallest["networks"],
        "networks_largest": largest["networks"],
        "max_item_bytes_met": max(row["max_item_bytes"] for row in rows) <= GOALS["max_item_bytes"],
        "dynamodb_calls_met": calls <= GOALS["dynamodb_calls_per_decision"],
        "p50_ratio_met": ratio <= GOALS["p50_ratio"],
        "load_met": largest["load_s"] < GOALS["load_s"],
    }


def plot(results: Mapping[str, Any], path: Path) -> None:
    """Load time, decision p50/p99 and the largest item against the zone's size (log x axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["sizes"]
    networks = [row["networks"] for row in rows]
    figure, (load, latency, size) = plt.subplots(1, 3, figsize=(15, 4.8))
    load.plot(networks, [row["load_s"] for row in rows], marker="o", color="tab:blue")
    load.axhline(GOALS["load_s"], color="tab:red", linestyle="--", label=f"goal < {GOALS['load_s']:g} s")
    load.set_ylabel("load into moto (s)")
    load.set_title("Load: load_topology_into_tables")
    for name, color in (("decision_ms_p50", "tab:blue"), ("decision_ms_p99", "tab:orange")):
        values = [row[name] for row in rows]
        latency.plot(networks, values, marker="o", color=color, label=name.rsplit("_", 1)[1])
        for x, y in zip(networks, values, strict=True):
            latency.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 5), fontsize=8)
    crowded = [row.get("decision_ms_p50_by_kind", {}).get("crowded_cidr") for row in rows]
    if None not in crowded:
        latency.plot(
            networks, crowded, marker=".", linestyle=":", color="tab:gray", label="p50 toward 10.1.1.0/24"
        )
    latency.set_ylabel("ms per decision (store read + policy)")
    latency.set_ylim(bottom=0)
    latency.set_title(f"Decisions, interleaved across sizes ({rows[0]['decisions']} per size)")
    size.plot(networks, [row["max_item_bytes"] / 1024 for row in rows], marker="o", color="tab:green")
    size.axhline(GOALS["max_item_bytes"] / 1024, color="tab:red", linestyle="--", label="goal <= 64 KB")
    size.set_ylabel("largest item (KB, DynamoDB's count)")
    size.set_title("Largest topology item")
    for axes in (load, latency, size):
        axes.set_xscale("log")
        axes.set_xlabel("tenant networks in the zone")
        axes.legend(fontsize=8)
        axes.grid(True, which="both", alpha=0.3)
    m = results["machine"]
    figure.suptitle(
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}; DynamoDB: moto on loopback; "
        f"{results['startedAt']}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- the run -----------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive network counts, e.g. 100,1000")
    return sizes


def _local_credentials() -> None:
    """moto takes any credentials; fixed ones here so no real profile is ever read or sent."""
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)


def run(sizes: Sequence[int], decisions: int, seed: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Load every size into one moto server, then measure the decisions interleaved; the results."""
    _local_credentials()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    description = machine.describe()
    aws = start_moto_server()
    run_id = uuid.uuid4().hex[:6]
    try:
        zones = []
        for size in sizes:
            progress(f"scale: generating and loading {size} networks ...")
            zone = load_zone(aws.endpoint_url, size, seed, run_id)
            zone.cases = decision_cases(zone.topology, WARMUP_PER_SIZE + decisions, seed)
            progress(f"scale: {size} networks: {zone.facts['items']} items, load {zone.facts['load_s']} s")
            zones.append(zone)
        measure_interleaved(zones, decisions, progress)
    finally:
        aws.stop()
    rows = [size_row(zone) for zone in zones]
    return {
        "startedAt": started_at,
        "machine": description,
        "loadAverageAtEnd": machine.load_average(),
        "seed": seed,
        "sizes": rows,
        "goals": goals(rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="networks per zone")
    parser.add_argument("--decisions", type=int, default=300, help="timed decisions per size")
    parser.add_argument("--seed", type=int, default=1, help="seed of the zones and the decision mix")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.decisions < 1:
        parser.error("--decisions must be at least 1")
    started = time.monotonic()
    results = run(args.sizes, args.decisions, args.seed, _progress)
    given = argv if argv is not None else sys.argv[1:]
    results["command"] = " ".join(["python -m benchmarks.scale", *given])
    results["durationSeconds"] = round(time.monotonic() - started, 1)
    for row in results["sizes"]:
        print(json.dumps(row, sort_keys=True), flush=True)
    met = results["goals"]
    ratios = {name: met[name] for name in ("p50_ratio_largest_to_smallest", "p50_ratio_by_kind")}
    print(json.dumps(ratios), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    plot(results, args.out / "scale.png")
    _progress(f"scale: {results['durationSeconds']} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
