"""End to end on the shared lab: an ALARM event -> jobs of system:alarm -> the local stack's worker runs
real ping and traceroute on r-4-VM -> one SNS message with the job ids, read back from moto.

A second delivery of the same event runs nothing on the VM; OK and INSUFFICIENT_DATA run nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sysvmdiag import bootstrap
from sysvmdiag.config import Settings
from sysvmdiag.jobs import JobStatus
from sysvmdiag.local.gateway import LambdaContext
from tests.integration.alarm.conftest import EVENTS, ResultsTopic, load_event

pytestmark = pytest.mark.lab


def playbook_runs_on_vr(run_log: Path, since: str) -> list[dict[str, Any]]:
    """VM-side run log entries of web-reachability's two commands (r-4-VM is the lab host "vr")."""
    entries = []
    for line in run_log.read_text().splitlines():
        entry = json.loads(line)
        argv = entry.get("argv") or []
        if entry.get("timestamp", "") < since or "198.51.100.80" not in argv:
            continue
        if (argv[0] == "ping" and "0.2" in argv) or (argv[0] == "traceroute" and "6" in argv):
            entries.append(entry)
    return entries


def test_alarm_runs_its_playbook_on_the_lab_once_and_publishes_once(
    alarm_stack_env: dict[str, Any], lab_status: dict[str, Any]
) -> None:
    from functions.alarm.app import lambda_handler

    topic = ResultsTopic(alarm_stack_env["resultsTopicArn"])

    run_log = Path(lab_status["state_dir"]) / "runs" / "vr.jsonl"
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    event = load_event("web-unreachable-alarm.json")

    summary = lambda_handler(event, LambdaContext(function_name="AlarmFunction"))
    (run,) = summary["playbookRuns"]
    assert run["playbook"] == "web-reachability" and run["statuses"] == ["queued", "queued"]

    envelopes = topic.receive(expected=1, timeout=90, settle=2)
    assert len(envelopes) == 1, envelopes
    message = json.loads(envelopes[0]["Message"])
    assert message["playbookRunId"] == run["playbookRunId"]
    assert [job["id"] for job in message["jobs"]] == run["jobIds"]
    assert envelopes[0]["Subject"] == "sysvmdiag: svd-web-unreachable: 2 succeeded, 0 failed"
    ping, trace = message["jobs"]
    assert ping["success"] and ping["summary"].startswith("3/3 replies, 0% loss")
    assert trace["success"] and trace["summary"] == "reached 198.51.100.80 in 3 hop(s)"

    jobs = bootstrap.job_store(Settings.from_env())
    for job_id in run["jobIds"]:
        job = jobs.get(job_id)
        assert job is not None and job.status is JobStatus.SUCCEEDED
        assert (job.account_id, job.actor) == ("system:alarm", "alarm")
        assert job.playbook_run_id == run["playbookRunId"]
    assert len(playbook_runs_on_vr(run_log, since)) == 2

    # EventBridge delivers the same event again: the first summary comes back, nothing runs or publishes.
    assert lambda_handler(event, LambdaContext(function_name="AlarmFunction")) == summary
    assert topic.receive(expected=0, timeout=6) == []
    assert len(playbook_runs_on_vr(run_log, since)) == 2

    for name in ("web-unreachable-ok.json", "web-unreachable-insufficient-data.json"):
        quiet = lambda_handler(load_event(name), LambdaContext(function_name="AlarmFunction"))
        assert quiet["playbookRuns"] == []
    assert topic.receive(expected=0, timeout=3) == []
    assert len(playbook_runs_on_vr(run_log, since)) == 2


def test_trigger_command_invokes_the_function_on_the_stack(
    alarm_stack_env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`sysvmdiag playbooks trigger` (what `sam local invoke` would do): a tag-propagated event waits
    for its run's notification."""
    from sysvmdiag.cli import main as cli_main

    event = load_event("datacenter-link-tags-propagated-alarm.json")
    code = cli_main(
        [
            "playbooks",
            "trigger",
            "--state",
            alarm_stack_env["stateDir"],
            "--wait",
            "90",
            "--event",
            str(EVENTS / "datacenter-link-tags-propagated-alarm.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"playbook": "datacenter-link"' in out
    assert "sysvmdiag: svd-datacenter-packet-loss: 2 succeeded, 0 failed" in out
    assert event["id"] in out
