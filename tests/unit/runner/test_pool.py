"""The VM connection pool: keyed by endpoint and pin, reuse up to the session limit, expiry, retire."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from sysvmdiag.runner import pool as pool_module
from sysvmdiag.runner.deadline import Deadline
from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode
from sysvmdiag.runner.pool import EndpointKey, VmPool
from sysvmdiag.topology.model import SshEndpoint
from tests.unit.runner.fakes import ED25519_PIN, FakeClock, FakeTransport

VM = SshEndpoint(address="169.254.1.10", port=3922, user="root", host_key=ED25519_PIN)
KEY = EndpointKey.of(VM)
NAME = "the system VM at 169.254.1.10:3922"


class Harness:
    """A pool over a fake bastion; ``connect`` makes fake VM Transports and counts them."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.bastion: object = object()
        self.made: list[FakeTransport] = []
        self.pool = VmPool(lambda: self.bastion, self.clock)

    def connect(self) -> tuple[FakeTransport, object]:
        transport = FakeTransport(self.clock)
        self.made.append(transport)
        return transport, self.bastion

    def lease(self, key: EndpointKey = KEY, fresh_only: bool = False, seconds: float = 10):
        cached = None if fresh_only else self.pool.take_cached(key)
        if cached is not None:
            return cached, False
        return self.pool.lease(key, NAME, Deadline(seconds, self.clock), self.connect, fresh_only=fresh_only)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_the_key_is_the_endpoint_and_its_pin() -> None:
    assert EndpointKey("169.254.1.10", 3922, "root", ED25519_PIN) == KEY
    repinned = EndpointKey.of(VM.model_copy(update={"host_key": "ssh-ed25519 AAAAother"}))
    assert repinned != KEY and repinned.same_login(KEY)
    assert not EndpointKey.of(VM.model_copy(update={"user": "admin"})).same_login(KEY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        KEY.port = 22  # type: ignore[misc]
    assert EndpointKey.of(VM.model_copy(update={"host_key": None})).host_key == ""


def test_a_new_connection_is_pooled_and_leased_again(h: Harness) -> None:
    first, fresh = h.lease()
    assert fresh and first.sessions == 1 and h.pool.transports(KEY) == [first.transport]
    h.pool.release(first)
    again, fresh = h.lease()
    assert again is first and not fresh and first.sessions == 1
    assert h.pool.transports(EndpointKey("169.254.1.99", 3922, "root", ED25519_PIN)) == []


def test_a_full_connection_makes_the_next_run_open_another(h: Harness) -> None:
    limit = pool_module.MAX_SESSIONS_PER_VM_CONNECTION
    leases = [h.lease()[0] for _ in range(limit)]
    assert len(h.made) == 1 and leases[0].sessions == limit
    extra, fresh = h.lease()
    assert fresh and extra is not leases[0] and len(h.pool.transports(KEY)) == 2


def test_an_idle_connection_expires_and_is_closed(h: Harness) -> None:
    connection, _ = h.lease()
    h.pool.release(connection)
    h.clock.advance(pool_module.VM_CONNECTION_IDLE_SECONDS - 1)
    assert h.pool.take_cached(KEY) is connection
    h.pool.release(connection)
    h.clock.advance(pool_module.VM_CONNECTION_IDLE_SECONDS)
    assert h.pool.take_cached(KEY) is None
    assert not connection.transport.is_active() and h.pool.transports(KEY) == []


def test_a_busy_connection_past_its_age_is_retired_then_closed_by_its_last_run(h: Harness) -> None:
    busy, _ = h.lease()
    h.clock.advance(pool_module.VM_CONNECTION_MAX_AGE_SECONDS)
    assert h.pool.take_cached(KEY) is None
    assert busy.retired and busy.transport.is_active(), "a run is still on it"
    h.pool.release(busy)
    assert not busy.transport.is_active()


def test_a_connection_over_a_replaced_bastion_is_not_reused(h: Harness) -> None:
    connection, _ = h.lease()
    h.pool.release(connection)
    h.bastion = object()
    assert h.pool.take_cached(KEY) is None and not connection.transport.is_active()


def test_a_dead_connection_is_not_reused(h: Harness) -> None:
    connection, _ = h.lease()
    h.pool.release(connection)
    connection.transport.close()
    assert h.pool.take_cached(KEY) is None


def test_a_new_pin_retires_the_connection_verified_against_the_old_one(h: Harness) -> None:
    old, _ = h.lease()
    h.pool.release(old)
    repinned = dataclasses.replace(KEY, host_key="ssh-ed25519 AAAAother")
    new, fresh = h.lease(repinned)
    assert fresh and new is not old
    assert not old.transport.is_active() and h.pool.transports(KEY) == []


def test_fresh_only_never_takes_a_cached_connection(h: Harness) -> None:
    cached, _ = h.lease()
    h.pool.release(cached)
    fresh, made = h.lease(fresh_only=True)
    assert made and fresh is not cached and len(h.pool.transports(KEY)) == 2


def test_a_failed_connect_is_not_pooled_and_an_old_failure_is_not_reused(h: Harness) -> None:
    error = RunnerError(RunnerErrorCode.AUTH_FAILED, "rejected")

    def failing() -> tuple[FakeTransport, object]:
        raise error

    with pytest.raises(RunnerError) as caught:
        h.pool.lease(KEY, NAME, Deadline(10, h.clock), failing, fresh_only=False)
    assert caught.value is error and h.pool.transports(KEY) == []
    connection, fresh = h.lease()  # the failure ended before this run began waiting: it tries anew
    assert fresh and connection.transport.is_active()


def test_runs_that_waited_for_a_failed_connect_share_its_answer(h: Harness) -> None:
    """Run B starts waiting while run A connects; A fails; B answers with A's error, not a new try."""
    b_waiting = threading.Event()
    ticks = h.clock

    def clock() -> float:
        if threading.current_thread().name == "run-b":
            b_waiting.set()  # B read the time it started waiting: A may now fail
        return ticks()

    h.pool = VmPool(lambda: h.bastion, clock)

    b_thread = threading.Thread(target=lambda: run_b(), name="run-b")

    def a_connect() -> tuple[FakeTransport, object]:
        b_thread.start()
        assert b_waiting.wait(10)
        ticks.advance(1)
        raise RunnerError(RunnerErrorCode.AUTH_FAILED, "The system VM rejected the key for user root.")

    b_result: list[BaseException | object] = []

    def run_b() -> None:
        try:
            b_result.append(h.pool.lease(KEY, NAME, Deadline(10, ticks), h.connect, fresh_only=False))
        except RunnerError as exc:
            b_result.append(exc)

    with pytest.raises(RunnerError):
        h.pool.lease(KEY, NAME, Deadline(10, ticks), a_connect, fresh_only=False)
    b_thread.join(10)
    (shared,) = b_result
    assert isinstance(shared, RunnerError) and shared.code is RunnerErrorCode.AUTH_FAILED
    assert shared.message == "The system VM rejected the key for user root."
    assert h.made == [], "B must not try to connect again"


def test_waiting_for_anothers_connect_is_bounded_by_this_runs_budget(h: Harness) -> None:
    errors: list[RunnerError] = []

    def connect_while_another_waits() -> tuple[FakeTransport, object]:
        try:
            h.pool.lease(KEY, NAME, Deadline(0, h.clock), h.connect, fresh_only=False)
        except RunnerError as exc:
            errors.append(exc)
        return h.connect()

    h.pool.lease(KEY, NAME, Deadline(10, h.clock), connect_while_another_waits, fresh_only=False)
    (error,) = errors
    assert error.code is RunnerErrorCode.TIMEOUT
    assert error.message == (
        f"The connection to {NAME} was still being established by another run when this run's "
        "0 s budget ran out."
    )


def test_a_connect_that_finished_while_waiting_is_shared(h: Harness) -> None:
    first, _ = h.lease()
    # Another run made `first` while this one waited for the lock: it leases that one instead.
    second, fresh = h.pool.lease(KEY, NAME, Deadline(10, h.clock), h.connect, fresh_only=False)
    assert second is first and not fresh and len(h.made) == 1


def test_a_connection_made_while_the_pool_was_closed_serves_only_its_run(h: Harness) -> None:
    def connect_then_close() -> tuple[FakeTransport, object]:
        made = h.connect()
        h.pool.close()
        return made

    connection, _ = h.pool.lease(KEY, NAME, Deadline(10, h.clock), connect_then_close, fresh_only=False)
    assert connection.retired and connection.transport.is_active()
    h.pool.release(connection)
    assert not connection.transport.is_active()


def test_retire_takes_a_connection_out_and_close_closes_all(h: Harness) -> None:
    retired, _ = h.lease()
    kept, _ = h.lease(fresh_only=True)
    h.pool.retire(retired)
    h.pool.retire(retired)  # twice is harmless
    assert h.pool.transports(KEY) == [kept.transport]
    h.pool.release(retired)
    assert not retired.transport.is_active()
    h.pool.close()
    assert h.pool.transports(KEY) == [] and kept.retired and not kept.transport.is_active()
