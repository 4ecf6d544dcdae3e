"""template.yaml's topology sync: the function, its schedule, its secret and its rights, and the variables
every function is given are ones Settings reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from sysvmdiag.config import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(REPO / "template.yaml"))


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value if isinstance(value, bool | int) else str(value)


def test_the_sync_runs_alone_long_enough_for_a_large_zone(template: dict[str, Any]) -> None:
    sync = plain(template["Resources"]["SyncFunction"]["Properties"])
    assert sync["CodeUri"] == "functions/sync/" and sync["Handler"] == "app.lambda_handler"
    assert sync["ReservedConcurrentExecutions"] == 1  # two syncs never load the same tables at once
    assert int(sync["Timeout"]) >= 600 and int(sync["MemorySize"]) >= 1024
    assert sync["Layers"] == [{"Ref": "SharedLayer"}]
    assert sync["Environment"]["Variables"] == {
        "CLOUDSTACK_URL": {"Ref": "CloudStackUrl"},
        "CLOUDSTACK_ZONE": {"Ref": "CloudStackZone"},
        "CLOUDSTACK_SECRET_NAME": {"Ref": "CloudStackApiKeySecret"},
    }


def test_the_sync_may_write_the_topology_and_accounts_and_read_its_secret_only(
    template: dict[str, Any],
) -> None:
    policies = plain(template["Resources"]["SyncFunction"]["Properties"]["Policies"])
    crud = {p["DynamoDBCrudPolicy"]["TableName"]["Ref"] for p in policies if "DynamoDBCrudPolicy" in p}
    assert crud == {"TopologyTable", "AccountsTable"}
    secrets = [p["AWSSecretsManagerGetSecretValuePolicy"] for p in policies if "AWSSecretsManager" in str(p)]
    assert secrets == [{"SecretArn": {"Ref": "CloudStackApiKeySecret"}}]
    assert not any("Statement" in p or "SQS" in str(p) or "SNS" in str(p) for p in policies)


def test_the_schedule_runs_only_once_cloudstack_is_named(template: dict[str, Any]) -> None:
    (schedule,) = plain(template["Resources"]["SyncFunction"]["Properties"]["Events"]).values()
    assert schedule["Type"] == "ScheduleV2"
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "SyncScheduleExpression"}
    assert props["State"] == {"Fn::If": ["SyncConfigured", "ENABLED", "DISABLED"]}
    assert "Input" not in props  # Scheduler's default notification: a run that writes
    assert plain(template["Conditions"]["SyncConfigured"]) == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CloudStackUrl"}, ""]}]
    }
    parameters = plain(template["Parameters"])
    assert parameters["SyncScheduleExpression"]["Default"] == "rate(15 minutes)"
    assert parameters["CloudStackUrl"]["Default"] == parameters["CloudStackZone"]["Default"] == ""


def test_the_key_pair_secret_is_created_empty_for_operators_to_fill(template: dict[str, Any]) -> None:
    secret = plain(template["Resources"]["CloudStackApiKeySecret"])
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert not {"SecretString", "GenerateSecretString"} & set(secret["Properties"])
    assert plain(template["Outputs"]["CloudStackApiKeySecretArn"]["Value"]) == {
        "Ref": "CloudStackApiKeySecret"
    }


def test_every_variable_a_function_is_given_is_one_settings_reads(template: dict[str, Any]) -> None:
    read = {field.alias for field in Settings.model_fields.values()}
    given = set(plain(template["Globals"]["Function"]["Environment"]["Variables"]))
    for resource in template["Resources"].values():
        if str(resource["Type"]) == "AWS::Serverless::Function":
            given |= set(plain(resource["Properties"].get("Environment", {}).get("Variables", {})))
    assert {name for name in given if not name.startswith("POWERTOOLS_")} <= read


def test_the_sync_has_its_sample_events() -> None:
    assert {p.name for p in (REPO / "events" / "sync").glob("*.json")} == {
        "sync-scheduled.json",
        "sync-dry-run.json",
    }
