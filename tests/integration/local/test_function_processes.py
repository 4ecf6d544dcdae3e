"""Instance processes for real (spawned): one event at a time each, scale-out, idle stop, a dead or
timed-out instance replaced. Bounded: every wait has a deadline; handlers wait at most 20 s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sysvmdiag.local.function_process import FunctionError, FunctionTimeout
from sysvmdiag.local.gateway import LambdaContext
from sysvmdiag.local.instances import FunctionInstances
from sysvmdiag.local.processes import pid_alive

TARGET = "tests.integration.local.handlers:pid"
BOUND = 30.0


@pytest.fixture
def make() -> Iterator[Callable[..., FunctionInstances]]:
    made: list[FunctionInstances] = []

    def build(**kwargs: object) -> FunctionInstances:
        kwargs.setdefault("spare", 0)
        made.append(FunctionInstances(TARGET, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield build
    for instances in made:
        instances.shutdown()


def context(seconds: float = 25.0) -> LambdaContext:
    return LambdaContext("test", timeout_ms=int(seconds * 1000))


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {BOUND} s: {what}")
        time.sleep(0.02)


def test_busy_instances_scale_out_one_event_each_then_warm_reuse(make, tmp_path: Path) -> None:
    instances = make(max_instances=50)
    gate = tmp_path / "go"
    with ThreadPoolExecutor(max_workers=4) as pool:
        held = [pool.submit(instances, {"until": str(gate)}, context()) for _ in range(4)]
        until(lambda: instances.busy == 4, "4 events in flight")
        gate.touch()
        pids = {future.result(BOUND)["pid"] for future in held}
    assert len(pids) == 4  # four processes, one event each
    assert instances({}, context())["pid"] in pids  # a warm one, no cold start
    assert instances.count == 4


def test_idle_instances_stop_and_their_processes_exit(make) -> None:
    instances = make(idle_seconds=0.5)
    pid = instances({}, context())["pid"]
    until(lambda: instances.count == 0, "the idle instance stopped")
    until(lambda: not pid_alive(pid), "its process exited")


def test_a_handler_error_keeps_the_instance(make) -> None:
    instances = make()
    first = instances({}, context())["pid"]
    with pytest.raises(FunctionError, match="ValueError"):
        instances({"raise": True}, context())
    assert instances({}, context())["pid"] == first


def test_an_instance_that_dies_mid_event_is_replaced(make) -> None:
    instances = make()
    first = instances({}, context())["pid"]
    with pytest.raises(FunctionError, match="exited"):
        instances({"exit": True}, context())
    assert instances.count == 0
    assert instances({}, context())["pid"] != first


def test_an_event_past_its_deadline_times_out_and_its_instance_is_stopped(make) -> None:
    instances = make()
    pid = instances({}, context())["pid"]
    started = time.monotonic()
    with pytest.raises(FunctionTimeout):
        instances({"hang": True}, context(seconds=0.5))
    assert time.monotonic() - started < 10  # the deadline (0.5 s) plus the grace, not the hang
    until(lambda: not pid_alive(pid), "the timed-out instance stopped")
    assert instances({}, context())["pid"] != pid


def test_a_spare_is_initialised_in_the_background_and_serves_the_next_caller(make, tmp_path: Path) -> None:
    instances = make(spare=1)
    gate = tmp_path / "go"
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(instances, {"until": str(gate)}, context())
        until(lambda: instances.stats()["idle"] == 1, "a spare initialised beside the busy instance")
        started = time.monotonic()
        late = instances({}, context())
        assert time.monotonic() - started < 5  # no Init: the spare had done it
        gate.touch()
        assert held.result(BOUND)["pid"] != late["pid"]
