"""The alarm function in process on moto: playbooks become queued jobs of the system identity, once.

No worker here (tests/alarm/test_end_to_end.py runs the jobs on the lab); what is checked is what the
handler writes: jobs, their queue messages, run records, idempotency records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.alarm import app as alarm_app
from sysvmdiag.jobs import JobStatus, JobStore
from sysvmdiag.local.gateway import LambdaContext
from sysvmdiag.playbooks import DEFAULT_PLAYBOOKS_FILE, PlaybookStore, load_playbooks, parse_playbooks
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE, load_topology
from sysvmdiag.topology.store import TopologyStore
from tests.integration.alarm.conftest import ResultsTopic, load_event


@pytest.fixture
def zone(
    tables: dict[str, Any],
    results_topic: ResultsTopic,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """The lab's topology and playbooks loaded, a jobs queue, and a handler with fresh clients."""
    load_topology_into_tables(
        load_topology(DEFAULT_TOPOLOGY_FILE), TopologyStore(tables["topology"], tables["accounts"])
    )
    load_playbooks(DEFAULT_PLAYBOOKS_FILE, tables["topology"])
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"alarm-jobs-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("JOBS_QUEUE_URL", queue_url)
    alarm_app.reset_clients()
    yield {"tables": tables, "queue_url": queue_url, "sqs": sqs, "jobs": JobStore(tables["jobs"])}
    alarm_app.reset_clients()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return alarm_app.lambda_handler(event, LambdaContext(function_name="AlarmFunction"))


def queued_messages(zone: dict[str, Any]) -> int:
    attributes = zone["sqs"].get_queue_attributes(
        QueueUrl=zone["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def items(table: Any) -> list[dict[str, Any]]:
    return table.scan(ConsistentRead=True)["Items"]


def test_an_alarm_queues_its_playbook_as_jobs_of_the_system_identity(zone: dict[str, Any]) -> None:
    summary = invoke(load_event("web-unreachable-alarm.json"))
    assert summary["state"] == "ALARM" and summary["alarmName"] == "svd-web-unreachable"
    (run,) = summary["playbookRuns"]
    assert run["playbook"] == "web-reachability" and run["statuses"] == ["queued", "queued"]
    jobs = [zone["jobs"].get(job_id) for job_id in run["jobIds"]]
    assert [(j.type.value, j.target_id, j.ip_address) for j in jobs] == [
        ("ping", "r-4-VM", "198.51.100.80"),
        ("traceroute", "r-4-VM", "198.51.100.80"),
    ]
    for job in jobs:
        assert (job.account_id, job.role, job.domain, job.actor) == ("system:alarm", "admin", "ROOT", "alarm")
        assert job.playbook_run_id == run["playbookRunId"] and job.status is JobStatus.QUEUED
    assert queued_messages(zone) == 2
    record = zone["tables"]["jobs"].get_item(Key={"id": run["playbookRunId"]})["Item"]
    assert record["remaining"] == 2 and record["job_ids"] == run["jobIds"] and "open_pk" not in record
    audits = items(zone["tables"]["audit"])
    assert audits, "every submitted job is audited"
    assert all("system:alarm" in str(audit) for audit in audits)


def test_the_same_event_twice_runs_once(zone: dict[str, Any]) -> None:
    event = load_event("web-unreachable-alarm.json")
    first = invoke(event)
    jobs_after_first = len(items(zone["tables"]["jobs"]))
    second = invoke(event)
    assert second == first
    assert len(items(zone["tables"]["jobs"])) == jobs_after_first == 3  # two jobs and the run record
    assert queued_messages(zone) == 2
    (record,) = items(zone["tables"]["idempotency"])
    assert record["status"] == "COMPLETED"


def test_a_new_event_of_the_same_alarm_is_a_new_run(zone: dict[str, Any]) -> None:
    event = load_event("web-unreachable-alarm.json")
    first = invoke(event)
    second = invoke({**event, "id": str(uuid.uuid4())})
    assert first["playbookRuns"][0]["playbookRunId"] != second["playbookRuns"][0]["playbookRunId"]
    assert queued_messages(zone) == 4


@pytest.mark.parametrize("name", ["web-unreachable-ok.json", "web-unreachable-insufficient-data.json"])
def test_ok_and_insufficient_data_run_nothing(zone: dict[str, Any], name: str) -> None:
    summary = invoke(load_event(name))
    assert summary["playbookRuns"] == [] and summary["state"] != "ALARM"
    assert items(zone["tables"]["jobs"]) == []
    assert items(zone["tables"]["idempotency"]) == []
    assert queued_messages(zone) == 0


def test_tag_matched_alarm_runs_the_tagged_playbook(zone: dict[str, Any]) -> None:
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName="svd-vpn-latency-high",
        MetricName="TunnelRttMs",
        Namespace="SysVmLab/VPN",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=250.0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "sysvmdiag:playbook", "Value": "vpn-check"}],
    )
    summary = invoke(load_event("vpn-latency-tagged-alarm.json"))
    assert summary["tagsKnown"] is True
    assert [run["playbook"] for run in summary["playbookRuns"]] == ["vpn-check"]
    (job_id,) = summary["playbookRuns"][0]["jobIds"]
    assert zone["jobs"].get(job_id).ip_address == "10.50.0.10"


def test_propagated_tags_match_without_cloudwatch(zone: dict[str, Any]) -> None:
    summary = invoke(load_event("datacenter-link-tags-propagated-alarm.json"))
    assert [run["playbook"] for run in summary["playbookRuns"]] == ["datacenter-link"]


def test_a_refused_diagnostic_is_a_denied_job_and_counts_as_finished(zone: dict[str, Any]) -> None:
    PlaybookStore(zone["tables"]["topology"]).load(
        parse_playbooks(
            {
                "playbooks": [
                    {
                        "id": "mixed",
                        "match": {"alarmNames": ["svd-web-unreachable"]},
                        "diagnostics": [
                            {"targetId": "r-99-VM", "type": "ping", "ipAddress": "198.51.100.80"},
                            {"targetId": "r-4-VM", "type": "ping", "ipAddress": "198.51.100.80"},
                        ],
                    }
                ]
            }
        )
    )
    summary = invoke(load_event("web-unreachable-alarm.json"))
    (run,) = summary["playbookRuns"]
    assert run["statuses"] == ["denied", "queued"]
    denied = zone["jobs"].get(run["jobIds"][0])
    assert denied.error is not None and denied.error.code == "TARGET_NOT_FOUND"
    record = zone["tables"]["jobs"].get_item(Key={"id": run["playbookRunId"]})["Item"]
    assert record["remaining"] == 1 and record["finished_job_ids"] == {denied.id}
    assert queued_messages(zone) == 1


def test_no_matching_playbook_runs_nothing(zone: dict[str, Any]) -> None:
    event = load_event("web-unreachable-alarm.json")
    summary = invoke(
        {
            **event,
            "id": str(uuid.uuid4()),
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:unrelated"],
            "detail": {**event["detail"], "alarmName": "unrelated"},
        }
    )
    assert summary["playbookRuns"] == []
    assert queued_messages(zone) == 0
