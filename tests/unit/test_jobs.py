"""Jobs on fakes: submission, the worker, deferral, deadlines, the sweeper, visibility, playbook hooks."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.identity import SYSTEM_ALARM_CALLER
from sysvmdiag.jobs import TRANSITIONS, Job, JobStatus, sources_of
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.policy import Caller
from sysvmdiag.topology.model import Role
from tests.unit.conftest import World, caller
from tests.unit.fakes import runner_error

WEB = "198.51.100.80"


def long_ping(vm: str = "r-4-VM", **extra: object) -> DiagnosticRequest:
    return DiagnosticRequest(target_id=vm, type="ping", ip_address=WEB, params="-c 3 -w 30", **extra)


def queued(world: World, who: str = "alice", **extra: object) -> Job:
    job = world.service().submit(caller(who), long_ping(**extra), world.origin())
    assert isinstance(job, Job) and job.status is JobStatus.QUEUED
    return job


def test_the_transition_table_has_one_way_in_and_final_statuses_have_no_way_out() -> None:
    assert sources_of(JobStatus.QUEUED) == ()
    assert set(sources_of(JobStatus.FAILED)) == {JobStatus.QUEUED, JobStatus.RUNNING}
    assert [s for s, targets in TRANSITIONS.items() if not targets] == [
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.DENIED,
    ]


def test_a_long_run_becomes_a_job_that_the_worker_runs_once(world: World) -> None:
    job = queued(world)
    assert world.queue.sent == [(job.id, 1, 0)]
    assert world.audit.records["req-1"].status == "queued" and world.audit.records["req-1"].mode == "async"
    assert world.limiter.slots["ACCOUNT#acct-alice"] == {job.id}  # held until the job ends
    service = world.service()
    done = service.process_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.result is not None
    assert service.process_job(job.id) == done  # SQS delivered it again: nothing runs twice
    assert len(world.runner.commands) == 1 and world.limiter.held() == 0
    assert world.audit.records["req-1"].status == "succeeded"
    assert world.finished == []  # not a playbook job: no hook


def test_asked_async_is_a_job_whatever_its_length(world: World) -> None:
    job = world.service().submit(
        caller("alice"),
        DiagnosticRequest(target_id="r-4-VM", type="ping", ip_address=WEB, run_async=True),
        world.origin(),
    )
    assert isinstance(job, Job) and job.worst_case_seconds < 25


def test_a_job_refused_when_the_worker_looks_again_ends_denied(world: World) -> None:
    job = queued(world)
    data = world.topology.topology.model_dump(mode="json")
    for host in data["hosts"]:
        if host["name"] == "vr":
            host["state"] = "Stopped"  # the VR stopped while the job waited
    world.topology.topology = type(world.topology.topology).model_validate(data)
    done = world.service().process_job(job.id)
    assert done is not None and done.status is JobStatus.DENIED and done.error.code == "VM_NOT_RUNNING"
    assert world.runner.commands == [] and world.audit.records["req-1"].status == "denied"


def test_a_busy_vm_sends_the_job_back_for_a_later_attempt(world: World) -> None:
    job = queued(world)
    vm_uuid = world.topology.topology.system_vm("r-4-VM").uuid
    world.limiter.slots[f"VM#{vm_uuid}"] = {"another-run"}
    assert world.service().process_job(job.id, attempt=1) == job
    assert world.queue.sent[-1] == (job.id, 2, 7)
    assert world.jobs.get(job.id).status is JobStatus.QUEUED and world.runner.commands == []


@pytest.mark.parametrize(
    ("failure", "code"),
    [(runner_error("VM_UNREACHABLE"), "VM_UNREACHABLE"), (KeyError("bug"), "INTERNAL_ERROR")],
)
def test_a_job_whose_run_fails_ends_failed_with_its_code(world: World, failure: Exception, code: str) -> None:
    job = queued(world)
    world.runner.outputs.append(failure)
    done = world.service().process_job(job.id)
    assert done is not None and done.status is JobStatus.FAILED and done.error.code == code
    assert world.limiter.held() == 0 and world.audit.records["req-1"].status == "failed"


def test_a_job_taken_by_another_worker_is_left_alone(world: World) -> None:
    job = queued(world)
    world.jobs.transition(job, JobStatus.RUNNING)
    assert world.service().process_job(job.id).status is JobStatus.RUNNING
    assert world.service().process_job("no-such-job") is None
    assert world.runner.commands == []


def test_lost_jobs_fail_past_their_deadline_on_sweep_and_on_read(world: World) -> None:
    first, second = queued(world), queued(world)
    world.jobs.transition(first, JobStatus.RUNNING)  # its worker died
    service = world.service()
    assert service.sweep_overdue() == []
    world.clock.advance((first.deadline_at - world.clock()).total_seconds() + 1)
    expired = service.sweep_overdue()
    assert {job.id for job in expired} == {first.id, second.id}
    assert {job.error.code for job in expired} == {"JOB_DEADLINE_EXCEEDED"}
    assert world.limiter.held() == 0
    third = queued(world)
    world.clock.advance(3600)
    assert service.job_for(caller("alice"), third.id).status is JobStatus.FAILED  # failed on read
    assert service.process_job(third.id).status is JobStatus.FAILED


def test_the_queue_refusing_a_job_fails_it_and_frees_the_slot(world: World) -> None:
    world.queue.fail_with = ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessage")
    with pytest.raises(ServiceError) as raised:
        world.service().submit(caller("alice"), long_ping(), world.origin())
    assert raised.value.code is ErrorCode.QUEUE_UNAVAILABLE and raised.value.retry_after == 60
    [job] = world.jobs.jobs.values()
    assert job.status is JobStatus.FAILED and world.limiter.held() == 0
    assert world.audit.records["req-1"].status == "failed"


def test_a_job_table_failure_completes_the_record_and_frees_the_slot(world: World) -> None:
    world.jobs.fail_create = ClientError({"Error": {"Code": "ProvisionedThroughputExceeded"}}, "PutItem")
    with pytest.raises(ServiceError) as raised:
        world.service().submit(caller("alice"), long_ping(), world.origin())
    assert raised.value.code is ErrorCode.STORE_UNAVAILABLE
    assert world.limiter.held() == 0 and world.queue.sent == []


def test_too_many_jobs_at_once_are_refused_before_any_is_stored(world: World) -> None:
    queued(world), queued(world)
    with pytest.raises(ServiceError) as raised:
        world.service().submit(caller("alice"), long_ping(), world.origin())
    assert raised.value.code is ErrorCode.TOO_MANY_JOBS and len(world.jobs.jobs) == 2
    assert world.audit.records["req-3"].decision == "rejected"


@pytest.mark.parametrize(
    ("viewer", "sees"),
    [
        (Caller("acct-alice", Role.USER, "ROOT/acme/engineering"), True),
        (Caller("acct-acme-admin", Role.DOMAIN_ADMIN, "ROOT/acme"), True),
        (Caller("acct-admin", Role.ADMIN, "ROOT"), True),
        (Caller("acct-bob", Role.USER, "ROOT/globex"), False),
        (Caller("acct-acmex-admin", Role.DOMAIN_ADMIN, "ROOT/acmeX"), False),
    ],
)
def test_a_job_is_visible_to_its_owner_their_domain_admins_and_admins(
    world: World, viewer: Caller, sees: bool
) -> None:
    job = queued(world)
    if sees:
        assert world.service().job_for(viewer, job.id).id == job.id
        return
    with pytest.raises(ServiceError) as raised:
        world.service().job_for(viewer, job.id)
    assert raised.value.code is ErrorCode.JOB_NOT_FOUND


def test_playbook_jobs_call_the_hook_and_refusals_become_denied_jobs(world: World) -> None:
    service = world.service()
    job = service.submit_job(SYSTEM_ALARM_CALLER, long_ping(), world.origin(), playbook_run_id="run-1")
    assert job.status is JobStatus.QUEUED and "ACCOUNT#system:alarm" not in world.limiter.slots
    done = service.process_job(job.id)
    assert world.finished == [done] and done.playbook_run_id == "run-1"
    refused = service.submit_job(
        SYSTEM_ALARM_CALLER,
        long_ping(vm="r-15-VM"),
        world.origin(),
        playbook_run_id="run-1",
        deny_as_job=True,
    )
    assert refused.status is JobStatus.DENIED and refused.error.code == "VM_NOT_RUNNING"
    with pytest.raises(ServiceError):
        service.submit_job(SYSTEM_ALARM_CALLER, long_ping(vm="r-15-VM"), world.origin())


def test_a_failing_hook_never_undoes_the_job(world: World) -> None:
    def broken(job: Job) -> None:
        raise RuntimeError("SNS down")

    service = world.service(job_finished=broken)
    job = service.submit_job(SYSTEM_ALARM_CALLER, long_ping(), world.origin(), playbook_run_id="run-2")
    assert service.process_job(job.id).status is JobStatus.SUCCEEDED


def test_without_a_jobs_table_submit_job_says_what_is_missing(world: World) -> None:
    with pytest.raises(RuntimeError, match="JOBS_TABLE"):
        world.service(jobs=None, queue=None).submit_job(SYSTEM_ALARM_CALLER, long_ping(), world.origin())
