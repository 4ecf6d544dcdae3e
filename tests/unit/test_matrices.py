"""Reachability matrices on the fakes: each cell a job judged on its own, one record, read back as a grid."""

from __future__ import annotations

from typing import Any

import pytest

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import JobStatus
from sysvmdiag.limits import AccountLimits
from sysvmdiag.models import MAX_MATRIX_CELLS, CellStatus, MatrixRequest, MatrixView
from sysvmdiag.pipeline.matrices import key_numbers
from sysvmdiag.pipeline.service import DiagnosticsService
from sysvmdiag.topology.model import Role
from tests.conftest import result_from_capture
from tests.unit.conftest import World, caller
from tests.unit.fakes import MovableClock, captured

ROOMY = {
    role: AccountLimits(concurrent_jobs=MAX_MATRIX_CELLS, requests_per_minute=MAX_MATRIX_CELLS)
    for role in Role
}
ALLOWED = "198.51.100.80"  # the internet, over alice's router's public interface
OTHER_TENANT = "10.3.0.21"  # another account's network: DESTINATION_NOT_ALLOWED for alice


def matrix(**fields: Any) -> MatrixRequest:
    body = {"targets": ["r-4-VM"], "destinations": [ALLOWED, OTHER_TENANT], "tests": ["ping", "traceroute"]}
    return MatrixRequest.model_validate(body | fields)


def roomy(world: World) -> DiagnosticsService:
    return world.service(account_limits=ROOMY)


def by_cell(view: MatrixView) -> dict[tuple[str, str, str], Any]:
    return {(c.target, c.test.value, c.destination): c for c in view.cells}


def test_each_cell_is_judged_by_the_policy_on_its_own(world: World) -> None:
    service = roomy(world)
    view = service.submit_matrix(caller("alice"), matrix(params={"ping": "-c 1"}), world.origin())
    cells = by_cell(view)
    assert [(c.target, c.test.value, c.destination) for c in view.cells] == [
        ("r-4-VM", "ping", ALLOWED),
        ("r-4-VM", "ping", OTHER_TENANT),
        ("r-4-VM", "traceroute", ALLOWED),
        ("r-4-VM", "traceroute", OTHER_TENANT),
    ]
    for test in ("ping", "traceroute"):
        allowed, refused = cells[("r-4-VM", test, ALLOWED)], cells[("r-4-VM", test, OTHER_TENANT)]
        assert allowed.status is CellStatus.QUEUED and allowed.code is None
        assert refused.status is CellStatus.DENIED and refused.code == "DESTINATION_NOT_ALLOWED"
        assert world.jobs.get(refused.job_id).status is JobStatus.DENIED  # type: ignore[union-attr, arg-type]
    assert cells[("r-4-VM", "ping", ALLOWED)].params == "-c 1"
    assert cells[("r-4-VM", "traceroute", ALLOWED)].params is None
    assert not view.complete
    # Two jobs went to the queue; every cell was counted toward the minute and audited as a request.
    assert sorted(job_id for job_id, _, _ in world.queue.sent) == sorted(
        cells[("r-4-VM", test, ALLOWED)].job_id for test in ("ping", "traceroute")
    )
    assert world.limiter.requests["acct-alice"] == 4
    decisions = sorted(record.decision.value for record in world.audit.records.values())
    assert decisions == ["allowed", "allowed", "denied", "denied"]
    assert world.matrices.get(view.id) is not None and view.account_id == "acct-alice"


def test_a_cell_over_the_accounts_concurrent_jobs_is_refused_with_its_code(world: World) -> None:
    """The tight limits hold 2 jobs for a user: the third allowed cell is refused, the matrix stands."""
    service = world.service()
    view = service.submit_matrix(
        caller("alice"), matrix(destinations=[ALLOWED], tests=["ping", "traceroute", "mtr"]), world.origin()
    )
    assert [(c.status, c.code) for c in view.cells] == [
        (CellStatus.QUEUED, None),
        (CellStatus.QUEUED, None),
        (CellStatus.REFUSED, "TOO_MANY_JOBS"),
    ]
    assert view.cells[2].job_id is None and len(world.queue.sent) == 2


def test_over_the_minute_a_cell_is_denied_as_rate_limited(world: World) -> None:
    world.limiter.requests["acct-alice"] = 4  # one request left of the tight 5
    view = roomy_with_tight_rate(world).submit_matrix(
        caller("alice"), matrix(destinations=[ALLOWED]), world.origin()
    )
    assert [(c.status, c.code) for c in view.cells] == [
        (CellStatus.QUEUED, None),
        (CellStatus.DENIED, "RATE_LIMITED"),
    ]


def roomy_with_tight_rate(world: World) -> DiagnosticsService:
    limits = {role: AccountLimits(concurrent_jobs=10, requests_per_minute=5) for role in Role}
    return world.service(account_limits=limits)


def test_the_size_bound_refuses_the_whole_matrix_before_anything_runs(world: World) -> None:
    too_large = matrix(
        targets=[f"r-{n}-VM" for n in range(1, 7)],
        destinations=["192.0.2.1", "192.0.2.2", "192.0.2.3"],
        tests=["ping", "traceroute", "mtr"],
    )
    assert too_large.cell_count == 54 > MAX_MATRIX_CELLS
    with pytest.raises(ServiceError) as refused:
        roomy(world).submit_matrix(caller("alice"), too_large, world.origin())
    assert refused.value.code is ErrorCode.MATRIX_TOO_LARGE and refused.value.status == 400
    assert f"at most {MAX_MATRIX_CELLS}" in refused.value.message and "54 cells" in refused.value.message
    assert not world.jobs.jobs and not world.queue.sent and not world.matrices.records
    (record,) = world.audit.records.values()  # the refusal is one audited request, counted once
    assert record.reason_code == "MATRIX_TOO_LARGE" and world.limiter.requests["acct-alice"] == 1


def test_a_matrix_of_exactly_the_bound_is_taken(world: World) -> None:
    exactly = matrix(
        targets=[f"r-{n}-VM" for n in range(1, 6)],
        destinations=[f"192.0.2.{n}" for n in range(1, 11)],
        tests=["ping"],
    )
    view = roomy(world).submit_matrix(caller("admin"), exactly, world.origin())
    assert len(view.cells) == MAX_MATRIX_CELLS


def test_another_accounts_matrix_is_not_found_like_a_missing_one(world: World) -> None:
    service = roomy(world)
    view = service.submit_matrix(caller("alice"), matrix(), world.origin())
    with pytest.raises(ServiceError) as other:
        service.matrix_for(caller("bob"), view.id)
    with pytest.raises(ServiceError) as missing:
        service.matrix_for(caller("bob"), "no-such-matrix")
    assert other.value.code is missing.value.code is ErrorCode.MATRIX_NOT_FOUND
    assert other.value.status == missing.value.status == 404
    assert service.matrix_for(caller("admin"), view.id).id == view.id
    assert service.matrix_for(caller("alice"), view.id).id == view.id


def test_a_domain_admin_reads_the_matrices_of_its_subtree_only(world: World) -> None:
    service = roomy(world)
    view = service.submit_matrix(caller("alice"), matrix(), world.origin())
    assert service.matrix_for(caller("acme-admin"), view.id).id == view.id  # ROOT/acme holds alice
    with pytest.raises(ServiceError) as outside:
        service.matrix_for(caller("initech-admin"), view.id)
    assert outside.value.code is ErrorCode.MATRIX_NOT_FOUND


def test_a_read_aggregates_finished_running_and_denied_cells(world: World) -> None:
    service = roomy(world)
    view = service.submit_matrix(caller("alice"), matrix(), world.origin())
    cells = by_cell(view)
    ping, trace = cells[("r-4-VM", "ping", ALLOWED)], cells[("r-4-VM", "traceroute", ALLOWED)]
    world.runner.outputs.append(captured("ping_v4_ok"))
    assert service.process_job(ping.job_id).status is JobStatus.SUCCEEDED  # type: ignore[arg-type, union-attr]
    running = world.jobs.get(trace.job_id)  # type: ignore[arg-type]
    world.jobs.transition(running, JobStatus.RUNNING)  # type: ignore[arg-type]

    now = by_cell(service.matrix_for(caller("alice"), view.id))
    done = now[("r-4-VM", "ping", ALLOWED)]
    assert (done.status, done.verdict, done.cause, done.loss_percent) == ("succeeded", "reachable", [], 0.0)
    assert done.avg_rtt_ms is not None and done.avg_rtt_ms > 0
    assert now[("r-4-VM", "traceroute", ALLOWED)].status is CellStatus.RUNNING
    assert now[("r-4-VM", "ping", OTHER_TENANT)].status is CellStatus.DENIED
    assert world.jobs.batch_reads == 1  # one batch read for every cell, not one read per cell
    assert not service.matrix_for(caller("alice"), view.id).complete

    world.jobs.transition(world.jobs.get(trace.job_id), JobStatus.FAILED)  # type: ignore[arg-type]
    assert service.matrix_for(caller("alice"), view.id).complete


def test_a_cell_whose_job_is_past_its_deadline_is_failed_on_read(world: World) -> None:
    clock = MovableClock()
    world.clock = clock
    service = roomy(world)
    view = service.submit_matrix(
        caller("alice"), matrix(destinations=[ALLOWED], tests=["ping"]), world.origin()
    )
    clock.advance(3600)
    (cell,) = service.matrix_for(caller("alice"), view.id).cells
    assert (cell.status, cell.code) == (CellStatus.FAILED, "JOB_DEADLINE_EXCEEDED")


def test_a_deployment_without_jobs_refuses_matrices_with_a_code(world: World) -> None:
    service = world.service(jobs=None, matrices=None, queue=None)
    with pytest.raises(ServiceError) as refused:
        service.submit_matrix(caller("alice"), matrix(), world.origin())
    assert refused.value.code is ErrorCode.MATRICES_UNAVAILABLE and refused.value.status == 503


@pytest.mark.parametrize(
    ("capture", "numbers"),
    [
        ("ping_v4_ok", {"loss_percent": 0.0, "avg_rtt_ms": 0.099}),
        ("ping_v4_deadline_no_reply", {"loss_percent": 100.0, "avg_rtt_ms": None}),
        ("traceroute_v4", {"hops": 3, "reached": True}),
        ("traceroute_net_unreachable", {"hops": 2, "reached": False}),
        ("mtr_v4_ok", {"hops": 3, "reached": True, "loss_percent": 0.0}),
        ("mtr_host_unreachable", {"hops": 3, "reached": False, "loss_percent": None}),
        ("pmtu_drop", {"pmtu": 1400, "reached": True, "hops": 3}),
        ("arping_ok", {"mac": "02:15:b4:d4:8a:8c"}),
        ("arping_no_reply", {"mac": None}),
        ("ndisc_ok", {"mac": "02:17:a0:15:2d:58"}),
        ("ndisc_no_response", {"mac": None}),
    ],
)
def test_key_numbers_per_type(capture: str, numbers: dict[str, Any]) -> None:
    result = result_from_capture(capture, at=MovableClock().now).result
    assert key_numbers(result) == numbers
