"""FunctionInstances scales like Lambda: a new instance when all are busy, up to the cap; warm ones
reused; idle ones stopped; never two events at once in one instance. On fake instances (no processes),
held busy by events the test sets, so nothing here depends on timing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from sysvmdiag.local.function_process import FunctionError
from sysvmdiag.local.instances import (
    DEFAULT_MAX_INSTANCES,
    IDLE_SECONDS_ENV_VAR,
    MAX_INSTANCES_ENV_VAR,
    MAX_STARTING_ENV_VAR,
    FunctionInstances,
    Scaling,
    default_max_starting,
    scaling_from_env,
)
from tests.unit.fakes import SecondsClock

BOUND = 10.0  # seconds any wait in these tests may take before it fails the test


class FakeInstance:
    """Serves an event by waiting for ``event["gate"]`` (if any); checks one event at a time."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.stopped = False
        self.active = 0
        self.served = 0
        self._lock = threading.Lock()

    def invoke(self, event: dict, context: Any) -> Any:
        with self._lock:
            self.active += 1
            assert self.active == 1, "two events at once in one instance"
        try:
            if "gate" in event:
                assert event["gate"].wait(BOUND)
            if "raise" in event:
                raise event["raise"]
            self.served += 1
            return self.number
        finally:
            with self._lock:
                self.active -= 1

    def stop(self, grace: float = 0.0) -> None:
        self.stopped = True


@pytest.fixture
def started() -> list[FakeInstance]:
    return []


@pytest.fixture
def make(started: list[FakeInstance]) -> Iterator[Callable[..., FunctionInstances]]:
    made: list[FunctionInstances] = []

    def build(
        max_instances: int = 50,
        idle_seconds: float = 300.0,
        clock: Any = None,
        spare: int = 0,
        max_starting: int = 50,
        init_gates: dict[int, threading.Event] | None = None,
    ) -> FunctionInstances:
        def start(_target: str) -> FakeInstance:
            instance = FakeInstance(len(started))
            started.append(instance)
            gate = (init_gates or {}).get(instance.number)
            if gate is not None:  # an Init that lasts until the test says
                assert gate.wait(BOUND)
            return instance

        instances = FunctionInstances(
            "fake:handler",
            max_instances,
            idle_seconds,
            spare=spare,
            max_starting=max_starting,
            clock=clock or time.monotonic,
            start_instance=start,  # type: ignore[arg-type]
        )
        made.append(instances)
        return instances

    yield build
    for instances in made:
        instances.shutdown()


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {BOUND} s: {what}")
        time.sleep(0.001)


def hold(instances: FunctionInstances, pool: ThreadPoolExecutor, count: int) -> tuple[threading.Event, list]:
    """``count`` events in flight, each holding an instance until the returned gate is set."""
    gate = threading.Event()
    futures = [pool.submit(instances, {"gate": gate}, None) for _ in range(count)]
    return gate, futures


def test_events_one_after_another_reuse_one_warm_instance(make, started) -> None:
    instances = make()
    assert [instances({}, None) for _ in range(5)] == [0] * 5
    assert len(started) == 1 and started[0].served == 5 and instances.count == 1


def test_a_new_instance_starts_when_all_are_busy(make, started) -> None:
    instances = make()
    with ThreadPoolExecutor(max_workers=12) as pool:
        gate, futures = hold(instances, pool, 12)
        until(lambda: instances.busy == 12, "12 events in flight")
        assert instances.count == 12 and len(started) == 12  # more than the 10 a fixed pool had
        gate.set()
        assert sorted(f.result(BOUND) for f in futures) == list(range(12))  # one instance each
    assert instances.busy == 0 and instances.count == 12  # all warm now


def test_at_the_cap_an_event_waits_for_an_instance_and_gets_a_warm_one(make, started) -> None:
    instances = make(max_instances=3)
    with ThreadPoolExecutor(max_workers=4) as pool:
        gate, futures = hold(instances, pool, 3)
        until(lambda: instances.busy == 3, "3 events in flight")
        waiting: Future = pool.submit(instances, {}, None)
        assert not waiting.done() and instances.count == 3  # no fourth instance past the cap
        gate.set()
        assert waiting.result(BOUND) in {0, 1, 2}
        [f.result(BOUND) for f in futures]
    assert len(started) == 3


def test_the_default_cap_is_at_least_50() -> None:
    assert DEFAULT_MAX_INSTANCES >= 50
    assert scaling_from_env({}) == Scaling(DEFAULT_MAX_INSTANCES, 300.0, default_max_starting())
    assert scaling_from_env(
        {MAX_INSTANCES_ENV_VAR: "80", IDLE_SECONDS_ENV_VAR: "2.5", MAX_STARTING_ENV_VAR: "3"}
    ) == Scaling(80, 2.5, 3)
    assert default_max_starting() >= 1


@pytest.mark.parametrize(
    "environ",
    [
        {MAX_INSTANCES_ENV_VAR: "0"},
        {MAX_INSTANCES_ENV_VAR: "many"},
        {IDLE_SECONDS_ENV_VAR: "-1"},
        {MAX_STARTING_ENV_VAR: "0"},
    ],
)
def test_a_bad_scaling_setting_is_refused_naming_it(environ: dict) -> None:
    with pytest.raises(ValueError, match=MAX_INSTANCES_ENV_VAR):
        scaling_from_env(environ)


def test_at_most_max_starting_instances_initialise_at_once(make, started) -> None:
    """A burst does not start every Init together (on two cores 50 Inits at once each took a minute)."""
    init_gate = threading.Event()
    instances = make(max_starting=2, init_gates=dict.fromkeys(range(5), init_gate))
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [pool.submit(instances, {}, None) for _ in range(5)]
        until(lambda: instances.stats()["waiting"] == 3, "three events waiting behind two Inits")
        assert len(started) == 2 and instances.stats()["starting"] == 2
        init_gate.set()
        assert {0, 1} <= {f.result(BOUND) for f in futures}
    assert 2 <= len(started) <= 5 and instances.stats()["waiting"] == 0


def test_an_event_waiting_to_start_takes_the_first_instance_freed(make, started) -> None:
    """Behind a long Init, an event is served by a warm instance as soon as one is free."""
    init_gate = threading.Event()
    instances = make(max_starting=1, init_gates={1: init_gate})
    assert instances({}, None) == 0  # one warm instance
    with ThreadPoolExecutor(max_workers=3) as pool:
        busy_gate, busy = hold(instances, pool, 1)  # holds the warm instance
        until(lambda: instances.busy == 1, "the warm instance busy")
        slow_start = pool.submit(instances, {}, None)  # starts an Init that lasts
        until(lambda: instances.stats()["starting"] == 1, "an Init under way")
        waiting = pool.submit(instances, {}, None)
        until(lambda: instances.stats()["waiting"] == 1, "an event waiting for an instance")
        busy_gate.set()
        assert waiting.result(BOUND) == 0 and busy[0].result(BOUND) == 0  # served by the freed instance
        assert not slow_start.done()
        init_gate.set()
        assert slow_start.result(BOUND) == 1


def warm_three(instances: Any, pool: ThreadPoolExecutor) -> None:
    """Three instances started by three events held in flight together, then all three idle."""
    gate, futures = hold(instances, pool, 3)
    until(lambda: instances.busy == 3, "3 events in flight")
    gate.set()
    [f.result(BOUND) for f in futures]


def test_instances_idle_past_the_timeout_stop_and_busy_ones_never(make, started) -> None:
    clock = SecondsClock()
    instances = make(idle_seconds=60, clock=clock)
    with ThreadPoolExecutor(max_workers=3) as pool:
        warm_three(instances, pool)  # idle from t=1000
        clock.now += 30
        busy_gate, [busy] = hold(instances, pool, 1)
        until(lambda: instances.busy == 1, "1 event in flight")
        clock.now += 40
        assert instances.stop_idle() == 2  # the two idle for 70 s; the busy one stays
        assert instances.count == 1 and sum(i.stopped for i in started) == 2
        busy_gate.set()
        busy.result(BOUND)  # idle from t=1070
    clock.now += 59
    assert instances.stop_idle() == 0
    clock.now += 1
    assert instances.stop_idle() == 1 and instances.count == 0
    assert all(i.stopped for i in started)
    assert instances({}, None) == 3  # a cold start again, like Lambda after a quiet spell


def test_the_most_recently_used_instance_serves_next_so_the_rest_can_idle_out(make, started) -> None:
    clock = SecondsClock()
    instances = make(idle_seconds=60, clock=clock)
    with ThreadPoolExecutor(max_workers=3) as pool:
        warm_three(instances, pool)
    served_by = set()
    for _ in range(6):
        clock.now += 20
        served_by.add(instances({}, None))
    assert len(served_by) == 1  # one warm instance carried the trickle
    assert instances.stop_idle() == 2 and instances.count == 1


def test_the_reaper_stops_idle_instances_on_its_own(make, started) -> None:
    instances = make(idle_seconds=0.2)  # the real clock: the reaper looks every 0.05 s
    instances({}, None)
    until(lambda: instances.count == 0, "the idle instance stopped")
    assert started[0].stopped


def test_a_handler_error_keeps_the_instance_a_dead_one_is_replaced(make, started) -> None:
    instances = make()
    with pytest.raises(FunctionError):
        instances({"raise": FunctionError("ValueError: bad", instance_survived=True)}, None)
    assert instances({}, None) == 0 and not started[0].stopped
    with pytest.raises(FunctionError):
        instances({"raise": FunctionError("the instance exited", instance_survived=False)}, None)
    assert started[0].stopped and instances.count == 0
    assert instances({}, None) == 1  # the next event gets a new instance


def test_shutdown_stops_every_instance_and_refuses_new_events(make, started) -> None:
    instances = make()
    with ThreadPoolExecutor(max_workers=2) as pool:
        gate, futures = hold(instances, pool, 2)
        until(lambda: instances.busy == 2, "2 events in flight")
        instances.shutdown()
        assert all(i.stopped for i in started)
        gate.set()
        [f.result(BOUND) for f in futures]
    with pytest.raises(FunctionError, match="stopping"):
        instances({}, None)
    assert instances.count == 0


def test_a_spare_instance_is_kept_initialised_beyond_the_busy_ones(make, started) -> None:
    clock = SecondsClock()
    instances = make(max_instances=4, idle_seconds=60, clock=clock, spare=1)
    assert instances.count == 0  # nothing starts before the function is first used
    with ThreadPoolExecutor(max_workers=4) as pool:
        gate, futures = hold(instances, pool, 2)
        until(
            lambda: instances.stats() == {"busy": 2, "idle": 1, "starting": 0, "waiting": 0, "max": 4},
            "2 busy, 1 spare",
        )
        # an instance counts busy once handed its event, a moment before it is inside invoke: wait for both
        until(lambda: sum(instance.active for instance in started) == 2, "2 events inside their instances")
        [spare] = [instance for instance in started if instance.active == 0]
        late = pool.submit(instances, {}, None)
        assert late.result(BOUND) == spare.number  # the late caller got the spare: no cold start
        gate.set()
        [f.result(BOUND) for f in futures]
    until(lambda: instances.stats()["starting"] == 0, "the spare taken was replaced")
    idle = instances.stats()["idle"]
    assert idle == 4  # the three that served, and the spare that replaced the one taken
    clock.now += 120
    assert instances.stop_idle() == idle - 1 and instances.stats()["idle"] == 1  # one spare stays
    with ThreadPoolExecutor(max_workers=4) as pool:
        gate, futures = hold(instances, pool, 4)
        until(lambda: instances.busy == 4, "4 busy")
        assert instances.count == 4  # at the cap: no spare past it
        gate.set()
        [f.result(BOUND) for f in futures]
