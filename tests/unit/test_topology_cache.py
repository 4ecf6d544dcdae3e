"""Decision contexts kept a few seconds in a warm instance (sysvmdiag.pipeline.topology_cache): one read
per VM and destination bucket per TTL, nothing kept of a VM the store lacks, and a re-pinned host key
taking effect at once (the run that met the old pin runs again with the new one)."""

from __future__ import annotations

import pytest

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.models import DiagnosticRequest, DiagnosticResult
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.pipeline.topology_cache import CachedTopology
from sysvmdiag.topology.model import Topology
from tests.unit.conftest import World, caller
from tests.unit.fakes import LAB, FakeTopology, SecondsClock, runner_error

WEB, WEB_SAME_BUCKET, ELSEWHERE = "198.51.100.80", "198.51.100.81", "203.0.113.200"


def cached(ttl: float = 5.0) -> tuple[CachedTopology, SecondsClock]:
    clock = SecondsClock()
    return CachedTopology(FakeTopology(), ttl, clock), clock


def test_one_read_per_vm_and_bucket_per_ttl() -> None:
    topology, clock = cached()
    first = topology.decision_context("r-4-VM", WEB)
    assert topology.decision_context("r-4-VM", WEB_SAME_BUCKET) is first and topology.reads == 1
    topology.decision_context("r-4-VM", ELSEWHERE)
    assert topology.reads == 2  # another bucket, another slice
    clock.now += 5.0
    assert topology.decision_context("r-4-VM", WEB) is not first and topology.reads == 3


def test_nothing_is_kept_of_a_vm_the_store_lacks_nor_of_a_scoping_read() -> None:
    topology, _ = cached()
    assert topology.decision_context("r-404-VM", WEB) is None
    topology.decision_context("r-404-VM", WEB)
    topology.decision_context("r-4-VM", None, ["10.1.1.20"])
    topology.decision_context("r-4-VM", None, ["10.1.1.20"])
    assert topology.reads == 4


def test_a_ttl_of_zero_keeps_nothing() -> None:
    topology, _ = cached(ttl=0)
    topology.decision_context("r-4-VM", WEB)
    topology.decision_context("r-4-VM", WEB)
    assert topology.reads == 2


def _repinned(topology: Topology, vm_name: str, key: str) -> Topology:
    data = topology.model_dump(mode="json")
    for host in data["hosts"]:
        if host["name"] == vm_name:
            host["ssh"]["host_key"] = key
    return Topology.model_validate(data)


def _service(world: World, topology: CachedTopology) -> DiagnosticsService:
    return DiagnosticsService(topology, world.runner.factory(), 25.0, clock=world.clock)


def test_a_re_pinned_key_takes_effect_at_once(world: World) -> None:
    store = FakeTopology()
    topology = CachedTopology(store, 60.0, SecondsClock())
    service = _service(world, topology)
    request = DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address=WEB, params="-c 1")
    service.submit(caller("alice"), request, world.origin())  # the context is now kept for 60 s
    store.topology = _repinned(
        LAB, "vr", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIREPINNEDREPINNEDREPINNEDREPINNED"
    )
    world.runner.outputs[:0] = [runner_error("HOST_KEY_MISMATCH")]  # the kept (old) pin fails
    result = service.submit(caller("alice"), request, world.origin())
    assert isinstance(result, DiagnosticResult) and result.success
    assert len(world.runner.commands) == 3  # the first run, the mismatch, the run on the new pin


def test_a_mismatch_with_the_pin_unchanged_stands(world: World) -> None:
    topology = CachedTopology(FakeTopology(), 60.0, SecondsClock())
    world.runner.outputs[:0] = [runner_error("HOST_KEY_MISMATCH")]
    request = DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address=WEB, params="-c 1")
    with pytest.raises(ServiceError) as refused:
        _service(world, topology).submit(caller("alice"), request, world.origin())
    assert refused.value.code is ErrorCode.HOST_KEY_MISMATCH
    assert len(world.runner.commands) == 1
