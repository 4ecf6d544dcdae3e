"""The alarm events: real-shaped EventBridge "CloudWatch Alarm State Change" for the three states."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from botocore.config import Config

from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.playbooks.alarm import AlarmStateChangeEvent, alarm_tags
from tests.integration.alarm.conftest import EVENTS, load_event

WEB_EVENTS = {
    "web-unreachable-alarm.json": "ALARM",
    "web-unreachable-ok.json": "OK",
    "web-unreachable-insufficient-data.json": "INSUFFICIENT_DATA",
}


@pytest.mark.parametrize(("name", "state"), sorted(WEB_EVENTS.items()))
def test_the_three_states_parse_and_only_alarm_starts_runs(name: str, state: str) -> None:
    event = parse(event=load_event(name), model=AlarmStateChangeEvent)
    assert event.detail_type == "CloudWatch Alarm State Change"
    assert event.detail.alarm_name == "svd-web-unreachable"
    assert event.detail.state.value == state
    assert event.detail.previous_state is not None and event.detail.previous_state.value != state
    assert event.alarm_arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:svd-web-unreachable"
    assert event.starts_runs is (state == "ALARM")


def test_every_event_file_is_an_alarm_state_change_with_a_distinct_id() -> None:
    ids = set()
    for path in sorted(EVENTS.glob("*.json")):
        event = parse(event=load_event(path.name), model=AlarmStateChangeEvent)
        assert event.alarm_arn is not None and event.alarm_arn.endswith(f":alarm:{event.detail.alarm_name}")
        ids.add(event.id)
    assert len(ids) == len(list(EVENTS.glob("*.json"))) >= 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"detail-type": "EC2 Instance State-change Notification"}, "detail-type"),
        ({"source": "aws.ec2"}, "source"),
        ({"detail": {"state": {"value": "ALARM"}}}, "alarmName"),
        ({"detail": {"alarmName": "a", "state": {"value": "FIRING"}}}, "value"),
    ],
)
def test_other_events_are_refused(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        parse(event={**load_event("web-unreachable-alarm.json"), **change}, model=AlarmStateChangeEvent)


def test_propagated_tags_come_from_the_event_without_a_call() -> None:
    event = parse(event=load_event("datacenter-link-tags-propagated-alarm.json"), model=AlarmStateChangeEvent)

    class NoCalls:
        def list_tags_for_resource(self, **_: Any) -> dict:
            raise AssertionError("tags in the event need no ListTagsForResource")

    assert alarm_tags(event, NoCalls()) == {"sysvmdiag:playbook": "datacenter-link", "team": "network"}


def test_tags_are_read_from_cloudwatch_on_the_alarm_arn(aws_env: str) -> None:
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="svd-vpn-latency-high",
        MetricName="TunnelRttMs",
        Namespace="SysVmLab/VPN",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=250.0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "sysvmdiag:playbook", "Value": "vpn-check"}, {"Key": "env", "Value": "lab"}],
    )
    event = parse(event=load_event("vpn-latency-tagged-alarm.json"), model=AlarmStateChangeEvent)
    assert alarm_tags(event, cloudwatch) == {"sysvmdiag:playbook": "vpn-check", "env": "lab"}


def test_a_failing_tag_lookup_means_name_only() -> None:
    """CloudWatch unreachable (a closed loopback port): None, so the starter matches by name only."""
    unreachable = boto3.client(
        "cloudwatch",
        endpoint_url=f"http://127.0.0.1:{free_loopback_port()}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    event = parse(event=load_event("vpn-latency-tagged-alarm.json"), model=AlarmStateChangeEvent)
    assert alarm_tags(event, unreachable) is None
