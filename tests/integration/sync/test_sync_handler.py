"""The sync function in process: the lab's CloudStack API on loopback, its tables and its key pair secret on
moto's server, the environment as template.yaml sets it. A scheduled event loads the zone, a dry run
writes nothing, a failure writes nothing and says why, and the run's metrics are emitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.sync import app as sync_app
from sysvmdiag.cloudstack.scheduled import InvalidSyncEvent, SyncFailed
from sysvmdiag.local.gateway import LambdaContext
from sysvmdiag.topology.loader import load_topology_into_tables
from sysvmdiag.topology.model import Topology
from sysvmdiag.topology.store import TopologyStore
from tests.integration.store.helpers import all_items
from tests.integration.sync.conftest import Emitted, SyncDeployment

EVENTS = Path(__file__).resolve().parents[3] / "events" / "sync"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def invoke(payload: Any) -> dict[str, Any]:
    return sync_app.lambda_handler(payload, LambdaContext(function_name="SyncFunction"))


def is_empty(store: TopologyStore) -> bool:
    return all_items(store.topology_table) == [] and all_items(store.accounts_table) == []


def test_a_scheduled_event_loads_the_zone_into_the_tables(
    deployment: SyncDeployment, topology: Topology, emitted: Emitted
) -> None:
    answer = invoke(event("sync-scheduled.json"))

    vms = len(topology.system_vms())
    summary = answer["summary"]
    assert summary["zone"] == "lab-zone-1" and summary["dryRun"] is False
    assert summary["counts"]["systemVms"] == vms and summary["changes"]["system_vms"]["added"] == vms
    assert summary["changes"]["networks"]["added"] == summary["counts"]["networks"] > 5
    assert summary["unmapped"] == 0 and summary["items"]["written"] > 0
    # fresh tables: no key to carry over, none given, so every VM waits for a pinned key
    assert summary["unpinnedSystemVms"] == vms
    report = answer["report"]
    assert report["load"]["changes"]["system_vms"]["added"] == vms
    assert len(report["load"]["changes"]["system_vms"]["added_ids"]) == min(vms, 20)

    stored = deployment.store.read_topology()
    assert stored is not None and stored.zone.name == "lab-zone-1"
    assert {vm.uuid for vm in stored.system_vms()} == {vm.uuid for vm in topology.system_vms()}
    vr = topology.system_vm("vr").uuid or ""
    context = deployment.store.decision_context(vr, "10.1.1.11")
    assert context is not None and context.system_vm(vr).ssh is not None

    (done,) = emitted.logs("topology sync done")
    assert done["sync"]["counts"] == summary["counts"] and done["level"] == "INFO"
    assert done["function_name"] == "SyncFunction" and done["dry_run"] is False

    again = invoke(event("sync-scheduled.json"))["summary"]
    assert again["items"]["written"] == again["items"]["removed"] == 0
    assert all(sum(changes.values()) == 0 for changes in again["changes"].values())


def test_the_run_emits_its_metrics(deployment: SyncDeployment, topology: Topology, emitted: Emitted) -> None:
    emitted.metrics()  # whatever was printed before
    invoke(event("sync-scheduled.json"))
    (blob,) = emitted.metrics()
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "SysVmDiag"
    assert [set(d) for d in directive["Dimensions"]] == [{"service", "Mode"}] and blob["Mode"] == "sync"
    names = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    for kind in ("Networks", "SystemVms", "Vpcs"):
        assert {names[f"{kind}{verb}"] for verb in ("Added", "Changed", "Removed")} == {"Count"}
    assert names["SyncSeconds"] == "Seconds" and names["Unmapped"] == names["UnpinnedSystemVms"] == "Count"
    assert blob["SystemVmsAdded"] == [len(topology.system_vms())]
    assert blob["NetworksRemoved"] == [0] and blob["Unmapped"] == [0]
    assert blob["UnpinnedSystemVms"] == [len(topology.system_vms())]
    assert 0 < blob["SyncSeconds"][0] < 120


def test_a_dry_run_says_what_would_change_and_writes_nothing(
    deployment: SyncDeployment, topology: Topology, emitted: Emitted
) -> None:
    emitted.metrics()
    answer = invoke(event("sync-dry-run.json"))
    assert answer["summary"]["dryRun"] is True and answer["report"]["dryRun"] is True
    assert answer["summary"]["changes"]["system_vms"]["added"] == len(topology.system_vms())
    assert answer["summary"]["items"]["written"] > 0  # what a real run would write
    assert is_empty(deployment.store)
    (blob,) = emitted.metrics()
    assert blob["Mode"] == "dryRun"  # a preview's counts never mix with the real runs'
    (done,) = emitted.logs("topology sync done")
    assert done["dry_run"] is True


def test_a_dry_run_in_a_scheduled_events_detail_is_a_dry_run(deployment: SyncDeployment) -> None:
    scheduled = event("sync-scheduled.json") | {"detail": json.dumps({"dryRun": True})}
    assert invoke(scheduled)["summary"]["dryRun"] is True
    assert is_empty(deployment.store)


def test_a_wrong_secret_fails_the_invocation_and_writes_nothing(
    deployment: SyncDeployment, emitted: Emitted
) -> None:
    deployment.put_keys(deployment.good_keys() | {"secretKey": "not-the-secret"})
    emitted.metrics()
    with pytest.raises(SyncFailed, match="HTTP 401") as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "cloudstack"
    assert "the API key or secret key is wrong" in str(failed.value)
    assert is_empty(deployment.store)
    (line,) = emitted.logs("topology sync failed")
    assert line["level"] == "ERROR" and line["reason"] == "cloudstack" and "HTTP 401" in line["error"]
    assert "not-the-secret" not in json.dumps(line)
    (blob,) = emitted.metrics()
    assert blob["SyncFailures"] == [1] and "NetworksAdded" not in blob


def test_keys_fixed_in_the_secret_are_used_without_waiting_for_the_cache(deployment: SyncDeployment) -> None:
    """A 401 fetches the secret afresh once: rotated keys work on the next run, not max_age later."""
    deployment.put_keys(deployment.good_keys() | {"secretKey": "not-the-secret"})
    with pytest.raises(SyncFailed, match="HTTP 401"):
        invoke(event("sync-scheduled.json"))
    deployment.put_keys(deployment.good_keys())  # still cached by powertools for 300 s
    assert invoke(event("sync-scheduled.json"))["summary"]["items"]["written"] > 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "is not JSON"),
        ({"apiKey": "only-one"}, "has no secretKey"),
        (["apiKey", "secretKey"], "is not a JSON object"),
    ],
)
def test_a_secret_without_a_key_pair_is_named_with_the_fix(
    deployment: SyncDeployment, value: Any, message: str
) -> None:
    deployment.put_keys(value if isinstance(value, str | dict) else json.dumps(value))
    with pytest.raises(SyncFailed, match=message) as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "secret"
    assert "put-secret-value" in str(failed.value) and deployment.secret_name in str(failed.value)
    assert "only-one" not in str(failed.value)
    assert is_empty(deployment.store)


def test_a_secret_created_empty_says_how_to_fill_it(
    deployment: SyncDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """template.yaml creates the secret without a value; the first scheduled run says what to do."""
    empty = f"{deployment.secret_name}-empty"
    deployment.secrets.create_secret(Name=empty)
    monkeypatch.setenv("CLOUDSTACK_SECRET_NAME", empty)
    with pytest.raises(SyncFailed, match="cannot read secret") as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "secret" and "put-secret-value" in str(failed.value)


def test_an_unknown_zone_fails_naming_the_zones_there_are(
    deployment: SyncDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSTACK_ZONE", "no-such-zone")
    with pytest.raises(SyncFailed, match=r"no single zone 'no-such-zone'.*lab-zone-1") as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "zone"
    assert is_empty(deployment.store)


def test_tables_holding_another_zone_are_left_alone(deployment: SyncDeployment, topology: Topology) -> None:
    other = topology.model_copy(update={"zone": topology.zone.model_copy(update={"id": "another-zone"})})
    load_topology_into_tables(other, deployment.store)
    before = all_items(deployment.store.topology_table)
    with pytest.raises(SyncFailed, match="the tables hold zone another-zone") as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "zone_mismatch"
    assert all_items(deployment.store.topology_table) == before


def test_cloudstack_unreachable_fails_the_invocation(
    deployment: SyncDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment.api.server.shutdown()
    deployment.api.server.server_close()
    with pytest.raises(SyncFailed, match="no answer from CloudStack") as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "cloudstack" and "Connection refused" in str(failed.value)
    assert deployment.api.keys.api_key not in str(failed.value) and "signature" not in str(failed.value)
    assert is_empty(deployment.store)


def test_an_unconfigured_deployment_names_what_to_set(
    deployment: SyncDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDSTACK_URL")
    with pytest.raises(SyncFailed, match="set CLOUDSTACK_URL") as failed:
        invoke(event("sync-scheduled.json"))
    assert failed.value.reason == "configuration"


def test_an_event_it_does_not_understand_is_refused(deployment: SyncDeployment, emitted: Emitted) -> None:
    with pytest.raises(InvalidSyncEvent, match="dryRun"):
        invoke({"dryRun": "yes"})
    assert emitted.logs("topology sync refused its event")
    assert is_empty(deployment.store)
