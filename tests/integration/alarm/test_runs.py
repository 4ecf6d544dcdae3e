"""Playbook runs: counted down atomically, one SNS message per run (read back through SQS), summaries."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.jobs import Job, JobStatus, JobStore
from sysvmdiag.models import DiagnosticResult, DiagnosticType, ErrorBody
from sysvmdiag.playbooks import FinishedJobNotifier, PlaybookRuns, job_summary
from sysvmdiag.playbooks.runs import new_run_id, notification_subject
from tests.conftest import queued_job, result_from_capture
from tests.integration.alarm.conftest import ResultsTopic


def captured_result(name: str, target: str = "r-4-VM") -> DiagnosticResult:
    """A result built from a run captured on the lab (the golden outputs), parsed by the real parser."""
    return result_from_capture(name, at=datetime.now(UTC), result_id=str(uuid.uuid4()), target=target)


def new_job(run_id: str | None, kind: str = "ping", ip: str = "198.51.100.80") -> Job:
    return queued_job(
        type=DiagnosticType(kind),
        ip_address=ip,
        account_id="system:alarm",
        role="admin",
        domain="ROOT",
        actor="alarm",
        worst_case_seconds=10.0,
        playbook_run_id=run_id,
    )


def finish(jobs: JobStore, job: Job, capture: str) -> Job:
    """What the worker does with a job: queued -> running, then a conditional move to its final status."""
    result = captured_result(capture)
    status = JobStatus.SUCCEEDED if result.success else JobStatus.FAILED
    running = jobs.transition(job, JobStatus.RUNNING, started_at=result.started_at)
    assert running is not None
    done = jobs.transition(running[0], status, result=result, finished_at=result.finished_at)
    assert done is not None
    return done[0]


@pytest.fixture
def runs(tables: dict[str, Any], results_topic: ResultsTopic) -> PlaybookRuns:
    return bootstrap.playbook_runs(Settings.from_env())


def open_run(runs: PlaybookRuns, diagnostics: int) -> str:
    run_id = new_run_id()
    runs.open(
        run_id=run_id,
        alarm_name="svd-web-unreachable",
        alarm_state="ALARM",
        playbook_id="web-reachability",
        event_id="evt-1",
        diagnostics=diagnostics,
    )
    return run_id


def test_last_job_publishes_exactly_once_even_when_reported_twice(
    runs: PlaybookRuns, results_topic: ResultsTopic, job_finished: FinishedJobNotifier
) -> None:
    run_id = open_run(runs, 2)
    ping, trace = new_job(run_id), new_job(run_id, "traceroute")
    for job in (ping, trace):
        runs.jobs.create(job)
    assert runs.submitted(run_id, [ping.id, trace.id], []) is False

    ping = finish(runs.jobs, ping, "ping_v4_ok")
    job_finished(ping)
    job_finished(ping)  # SQS redelivery to the worker, or a retried hook
    assert results_topic.receive(expected=0, timeout=1.5) == []

    trace = finish(runs.jobs, trace, "traceroute_stars")
    job_finished(trace)
    job_finished(trace)
    job_finished(ping)
    envelopes = results_topic.receive(expected=1)
    assert len(envelopes) == 1
    assert envelopes[0]["Subject"] == "sysvmdiag: svd-web-unreachable: 2 succeeded, 0 failed"
    message = json.loads(envelopes[0]["Message"])
    assert message["playbookRunId"] == run_id
    assert (message["alarmName"], message["playbook"], message["alarmState"]) == (
        "svd-web-unreachable",
        "web-reachability",
        "ALARM",
    )
    assert [entry["id"] for entry in message["jobs"]] == [ping.id, trace.id]
    assert message["jobs"][0] == {
        "id": ping.id,
        "targetId": "r-4-VM",
        "type": "ping",
        "ipAddress": "198.51.100.80",
        "status": "succeeded",
        "success": True,
        "exitCode": 0,
        "summary": job_summary(ping),
    }
    assert message["jobs"][0]["summary"].startswith("3/3 replies, 0% loss, avg ")
    assert message["jobs"][1]["summary"] == "10.1.1.99 not reached after 3 hop(s)"
    assert message["counts"] == {"succeeded": 2, "failed": 0, "denied": 0}
    assert message["startedAt"] <= message["finishedAt"]

    record = runs.record(run_id)
    assert record is not None
    assert "open_pk" not in record and "doc" not in record
    assert record["remaining"] == 0 and record["message_id"]
    assert runs.jobs.get(run_id) is None  # never mistaken for a job


def test_jobs_that_end_before_the_starter_is_done_wait_for_it(
    runs: PlaybookRuns, results_topic: ResultsTopic, job_finished: FinishedJobNotifier
) -> None:
    """A fast worker cannot publish a run whose job ids the starter has not written yet."""
    run_id = open_run(runs, 1)
    job = new_job(run_id)
    runs.jobs.create(job)
    job_finished(finish(runs.jobs, job, "ping_v4_net_unreachable"))
    assert results_topic.receive(expected=0, timeout=1.5) == []
    assert runs.submitted(run_id, [job.id], []) is True
    assert runs.submitted(run_id, [job.id], []) is False  # a repeated "all submitted" counts nothing
    (envelope,) = results_topic.receive(expected=1)
    message = json.loads(envelope["Message"])
    assert [entry["id"] for entry in message["jobs"]] == [job.id]
    assert envelope["Subject"] == "sysvmdiag: svd-web-unreachable: 0 succeeded, 1 failed"
    assert message["jobs"][0]["success"] is False


def test_denied_and_unsubmitted_diagnostics_count_as_finished(
    runs: PlaybookRuns, results_topic: ResultsTopic
) -> None:
    run_id = open_run(runs, 2)
    denied = new_job(run_id).model_copy(
        update={
            "status": JobStatus.DENIED,
            "finished_at": datetime.now(UTC),
            "error": ErrorBody(code="TARGET_NOT_FOUND", message="No system VM 'r-99-VM' exists."),
        }
    )
    runs.jobs.create(denied)
    runs.finished(run_id, denied.id)
    failure = {
        "targetId": "r-4-VM",
        "type": "ping",
        "ipAddress": "198.51.100.80",
        "summary": "not submitted: RuntimeError: queue down",
    }
    assert runs.submitted(run_id, [denied.id], [failure]) is True
    (envelope,) = results_topic.receive(expected=1)
    message = json.loads(envelope["Message"])
    assert message["counts"] == {"succeeded": 0, "failed": 1, "denied": 1}
    assert message["jobs"][0]["summary"] == "denied: TARGET_NOT_FOUND: No system VM 'r-99-VM' exists."
    assert message["jobs"][1] == {
        **failure,
        "id": None,
        "status": "failed",
        "success": False,
        "exitCode": None,
    }
    assert envelope["Subject"] == "sysvmdiag: svd-web-unreachable: 0 succeeded, 1 failed, 1 denied"


def test_job_finished_never_raises_into_the_worker(
    tables: dict[str, Any], monkeypatch: pytest.MonkeyPatch, job_finished: FinishedJobNotifier
) -> None:
    job = new_job(new_run_id()).model_copy(update={"status": JobStatus.FAILED})
    job_finished(job)  # no such run: the conditional update fails, logged
    monkeypatch.delenv("JOBS_TABLE")
    unbuildable = bootstrap.job_finished_hook(Settings.from_env())
    unbuildable(job)  # cannot even build its clients: logged
    job_finished(new_job(None))  # not a playbook job: nothing to do


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("ping_v4_ok", r"^3/3 replies, 0% loss, avg 0\.\d+ ms$"),
        ("ping_v4_deadline_no_reply", r"^0/\d+ replies, 100% loss \(exit code 1\)$"),
        ("ping_v4_net_unreachable", r"error\(s\)"),
        ("traceroute_v4", r"^reached 198\.51\.100\.80 in \d hop\(s\)$"),
        ("traceroute_stars", r"^10\.1\.1\.99 not reached after 3 hop\(s\)$"),
        ("traceroute_net_unreachable", r"error\(s\)"),
        ("arping_ok", r"^\d+/\d+ replies, 0% loss"),
        ("arping_no_reply", r"100% loss"),
    ],
)
def test_summary_lines_from_captured_runs(capture: str, expected: str) -> None:
    result = captured_result(capture)
    job = new_job("r").model_copy(
        update={"type": result.type, "status": JobStatus.SUCCEEDED, "result": result}
    )
    assert len(job_summary(job)) <= 200
    assert re.search(expected, job_summary(job)), job_summary(job)


def test_subjects_stay_within_sns_limits() -> None:
    counts = Counter({"succeeded": 12, "failed": 3, "denied": 1})
    subject = notification_subject("é" + "x" * 300, counts)
    assert len(subject) == 100 and subject.isascii()
    assert subject.endswith(": 12 succeeded, 3 failed, 1 denied")
    assert notification_subject("short", Counter({"succeeded": 1, "failed": 0})) == (
        "sysvmdiag: short: 1 succeeded, 0 failed"
    )
