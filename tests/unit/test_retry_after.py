"""Retry-After of a full account or VM: when the earliest held slot is expected to free, not its lease."""

from __future__ import annotations

import pytest

from sysvmdiag.jobs import QUEUE_ALLOWANCE_SECONDS, Job
from sysvmdiag.limits import _Slot, retry_after_for
from sysvmdiag.pipeline.origin import (
    CONNECT_ALLOWANCE_SECONDS,
    EXPECTED_QUEUE_WAIT_SECONDS,
    LEASE_MARGIN_SECONDS,
    SSH_OVERHEAD_SECONDS,
    SYNC_BUDGET_SECONDS,
    RunTimes,
)
from tests.unit.conftest import World, caller
from tests.unit.test_jobs import long_ping
from tests.unit.test_sync_runs import ping

NOW = 1_700_000_000.0


def slot(lease_in: float, expected_in: float) -> _Slot:
    return _Slot("SLOT#0", "h", NOW + lease_in, NOW + expected_in)


@pytest.mark.parametrize(
    ("held", "seconds"),
    [
        ([slot(638, 38)], 38),  # a queued job: its expected end, not its deadline's lease
        ([slot(638, 38), slot(33, 28.2)], 29),  # the earliest of them, rounded up
        ([slot(20, 500)], 20),  # never after the lease, whatever the estimate said
        ([slot(638, -60), slot(33, 28)], 1),  # one past its expected end: any moment, at least 1 s
        ([slot(0.2, 0.2)], 1),
    ],
)
def test_retry_after_is_the_earliest_expected_end(held: list[_Slot], seconds: int) -> None:
    assert retry_after_for(held, NOW) == seconds


def test_a_job_s_slot_is_leased_to_its_deadline_and_expected_after_queue_wait_and_worst_case(
    world: World,
) -> None:
    job = world.service().submit(caller("alice"), long_ping(), world.origin())
    assert isinstance(job, Job)
    [(key, holder, lease, expected)] = world.limiter.taken
    assert (key, holder) == ("ACCOUNT#acct-alice", job.id)
    longest = RunTimes(job.worst_case_seconds).longest
    assert lease == QUEUE_ALLOWANCE_SECONDS + longest + LEASE_MARGIN_SECONDS  # the safety expiry
    run = job.worst_case_seconds + SSH_OVERHEAD_SECONDS
    assert expected == EXPECTED_QUEUE_WAIT_SECONDS + run  # what a refused caller waits for


def test_the_worker_s_vm_slot_is_expected_at_the_run_s_end(world: World) -> None:
    job = world.service().submit(caller("alice"), long_ping(), world.origin())
    world.service().process_job(job.id)
    [(_key, _holder, lease, expected)] = [
        taken for taken in world.limiter.taken if taken[0].startswith("VM#")
    ]
    run = job.worst_case_seconds + SSH_OVERHEAD_SECONDS
    assert (lease, expected) == (RunTimes(job.worst_case_seconds).lease, run)


def test_a_synchronous_run_s_slots_are_expected_at_the_run_s_end(world: World) -> None:
    world.service().submit(caller("alice"), ping(), world.origin())
    (account_key, *_), (vm_key, *_) = world.limiter.taken
    assert account_key == "ACCOUNT#acct-alice" and vm_key.startswith("VM#")
    # a short ping: its slots outlive the whole connect allowance, while a refusal counts on its budget
    assert {(lease - expected) for _k, _h, lease, expected in world.limiter.taken} == {
        CONNECT_ALLOWANCE_SECONDS + LEASE_MARGIN_SECONDS
    }
    assert all(expected > SSH_OVERHEAD_SECONDS for *_, expected in world.limiter.taken)


@pytest.mark.parametrize(
    ("worst_case", "allowance"),
    [
        (0.0, CONNECT_ALLOWANCE_SECONDS),  # a short tool: the whole connect allowance
        (1.0, CONNECT_ALLOWANCE_SECONDS),
        (SYNC_BUDGET_SECONDS - 7, 7.0),  # what is left before 28 s
        (SYNC_BUDGET_SECONDS, 0.0),  # the longest synchronous run: none
        (300.0, 0.0),  # a job's long run: its budget, as before
    ],
)
def test_a_slow_connect_may_move_a_run_s_end_back_within_api_gateway_s_limit(
    worst_case: float, allowance: float
) -> None:
    times = RunTimes(worst_case)
    assert times.budget == times.expected == worst_case + SSH_OVERHEAD_SECONDS
    assert times.connect_allowance == allowance
    assert times.longest == times.budget + allowance < times.lease == times.longest + LEASE_MARGIN_SECONDS


def test_no_synchronous_run_may_end_past_what_api_gateway_leaves() -> None:
    worst_cases = [step / 4 for step in range(int(SYNC_BUDGET_SECONDS * 4) + 1)]
    assert max(RunTimes(worst).longest for worst in worst_cases) == SYNC_BUDGET_SECONDS + SSH_OVERHEAD_SECONDS


def test_the_runner_is_given_the_budget_and_the_connect_allowance(world: World) -> None:
    world.service().submit(caller("alice"), ping(), world.origin())
    [(_vm, _command, timeout)] = world.runner.commands
    times = RunTimes(timeout - SSH_OVERHEAD_SECONDS)
    assert world.runner.connect_allowances == [times.connect_allowance] == [CONNECT_ALLOWANCE_SECONDS]


def test_the_worker_announces_the_account_slot_back_at_the_run_s_end_when_the_run_starts(
    world: World,
) -> None:
    """Queued, the job's slot was expected after the queue wait; once its run starts, the slot frees when
    the run ends, so a caller refused meanwhile waits for that (issue 14: real slot release)."""
    job = world.service().submit(caller("alice"), long_ping(), world.origin())
    assert world.limiter.expected_back == []
    world.service().process_job(job.id)
    run = job.worst_case_seconds + SSH_OVERHEAD_SECONDS
    assert world.limiter.expected_back == [("ACCOUNT#acct-alice", job.id, run)]


def test_a_failure_to_announce_the_expected_end_does_not_stop_the_run(world: World) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("limits table unavailable")

    world.limiter.expect_account_slot_back = broken  # type: ignore[method-assign]
    job = world.service().submit(caller("alice"), long_ping(), world.origin())
    done = world.service().process_job(job.id)
    assert done is not None and done.status.final and done.status.value == "succeeded"
    assert world.limiter.held() == 0
