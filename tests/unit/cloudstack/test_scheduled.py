"""The scheduled sync's pure parts: the events it takes, the key pair secret it reads, what it does after a
401, how its failures are named, and the summary, metrics and answer it makes of a report."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from sysvmdiag.cloudstack.answers import CloudStackError
from sysvmdiag.cloudstack.apikeys import ApiKeyPair, ApiKeySecretError, parse_api_keys
from sysvmdiag.cloudstack.hostkeys import KeyReport
from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.scheduled import (
    InvalidSyncEvent,
    ScheduledSync,
    SyncFailed,
    SyncOutcome,
    SyncRequest,
)
from sysvmdiag.cloudstack.sync import SyncReport
from sysvmdiag.topology.loader import Changes, LoadReport

SCHEDULER_NOTIFICATION = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "detail": "{}",
}


@pytest.mark.parametrize(
    ("event", "dry_run"),
    [
        ({}, False),
        (None, False),
        ({"dryRun": True}, True),
        ({"dryRun": False}, False),
        (SCHEDULER_NOTIFICATION, False),
        (SCHEDULER_NOTIFICATION | {"detail": '{"dryRun": true}'}, True),
        (SCHEDULER_NOTIFICATION | {"detail": {"dryRun": True}}, True),
        (SCHEDULER_NOTIFICATION | {"detail": "not json"}, False),
        ({"dryRun": True, "detail": {"dryRun": False}}, True),  # the event's own key wins
    ],
)
def test_the_events_a_sync_takes(event: Any, dry_run: bool) -> None:
    assert SyncRequest.from_event(event).dry_run is dry_run


@pytest.mark.parametrize("event", [{"dryRun": "yes"}, {"dryRun": 1}, {"dryRun": "false"}, "sync", [1]])
def test_an_unclear_dry_run_is_refused_not_guessed(event: Any) -> None:
    """``"dryRun": "false"`` must not write because a string is truthy, nor skip writing by a guess."""
    with pytest.raises(InvalidSyncEvent, match="dryRun"):
        SyncRequest.from_event(event)


def test_a_key_pair_is_read_from_json_text_bytes_or_a_dict() -> None:
    pair = ApiKeyPair("the-api-key", "the-secret-key")
    assert parse_api_keys('{"apiKey": " the-api-key ", "secretKey": "the-secret-key\\n"}', "s") == pair
    assert parse_api_keys(b'{"apiKey": "the-api-key", "secretKey": "the-secret-key"}', "s") == pair
    assert parse_api_keys({"apiKey": "the-api-key", "secretKey": "the-secret-key", "url": "x"}, "s") == pair
    assert "the-secret-key" not in repr(pair) and "the-api-key" not in repr(pair)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("the-secret-key", "is not JSON"),
        ('["the-api-key", "the-secret-key"]', "is not a JSON object"),
        ('{"apiKey": "the-api-key"}', "has no secretKey"),
        ('{"apiKey": "", "secretKey": "  "}', "has no apiKey or secretKey"),
        ('{"apikey": "the-api-key", "secretkey": "the-secret-key"}', "has no apiKey or secretKey"),
    ],
)
def test_a_secret_without_a_key_pair_says_so_without_its_value(value: str, problem: str) -> None:
    with pytest.raises(ApiKeySecretError, match=problem) as refused:
        parse_api_keys(value, "sysvmdiag/dev/cloudstack-api-keys")
    message = str(refused.value)
    assert "the-secret-key" not in message and "the-api-key" not in message
    assert "put-secret-value --secret-id sysvmdiag/dev/cloudstack-api-keys" in message


class RefusingClient:
    """A client whose first call CloudStack answers with ``status`` (401: the keys are wrong)."""

    def __init__(self, keys: ApiKeyPair, status: int) -> None:
        self.keys = keys
        self.status = status

    def list_all(self, command: Any, **_: Any) -> list[dict]:
        raise CloudStackError(command.name, self.status, self.status, "refused")


def scheduled(keys: list[ApiKeyPair], status: int, fetches: list[bool], clients: list[ApiKeyPair]):
    """A ScheduledSync whose secret gives ``keys`` in turn (noting each fetch's force_fetch)."""

    def read(force_fetch: bool) -> ApiKeyPair:
        fetches.append(force_fetch)
        return keys[min(len(fetches), len(keys)) - 1]

    def client_for(pair: ApiKeyPair) -> Any:
        clients.append(pair)
        return RefusingClient(pair, status)

    return ScheduledSync(
        store=None,  # type: ignore[arg-type]  # never reached: the first call fails
        url="https://cloud.example/client/api",
        secret="sysvmdiag/dev/cloudstack-api-keys",
        zone="zone-1",
        keys=read,
        client_for=client_for,
    )


def test_a_401_fetches_the_secret_afresh_and_tries_once_more_when_it_changed() -> None:
    old, new = ApiKeyPair("a", "old"), ApiKeyPair("a", "new")
    fetches: list[bool] = []
    clients: list[ApiKeyPair] = []
    with pytest.raises(SyncFailed, match="HTTP 401") as failed:
        scheduled([old, new], 401, fetches, clients).run()
    assert failed.value.reason == "cloudstack"
    assert fetches == [False, True] and clients == [old, new]


def test_a_401_with_the_same_keys_in_the_secret_is_not_tried_again() -> None:
    same = ApiKeyPair("a", "b")
    fetches: list[bool] = []
    clients: list[ApiKeyPair] = []
    with pytest.raises(SyncFailed, match="HTTP 401"):
        scheduled([same], 401, fetches, clients).run()
    assert fetches == [False, True] and clients == [same]


def test_other_refusals_do_not_fetch_the_secret_again() -> None:
    fetches: list[bool] = []
    clients: list[ApiKeyPair] = []
    with pytest.raises(SyncFailed, match="HTTP 432") as failed:
        scheduled([ApiKeyPair("a", "b")], 432, fetches, clients).run()
    assert "root admin key" in str(failed.value)
    assert fetches == [False]


def test_an_unconfigured_sync_names_every_missing_variable() -> None:
    sync = scheduled([ApiKeyPair("a", "b")], 401, [], [])
    sync.url = sync.secret = None
    with pytest.raises(SyncFailed, match="set CLOUDSTACK_URL, CLOUDSTACK_SECRET_NAME") as failed:
        sync.run()
    assert failed.value.reason == "configuration"


def big_report(*, dry_run: bool = False) -> SyncReport:
    """A first sync of a large zone: 50 networks added, 30 objects unmapped, 40 VMs without a key."""
    mapping = MappingReport(mapped=Counter(network=50))
    for n in range(30):
        mapping.skip("network", f"net-{n}", None, "no account")
    load = LoadReport(
        zone="zone-1",
        system_vms=40,
        networks=50,
        vpcs=0,
        accounts=3,
        items_written=120,
        changes={
            "system_vms": Changes(added=[f"vm-{n}" for n in range(40)]),
            "networks": Changes(added=[f"n-{n}" for n in range(50)], removed=["gone"]),
            "vpcs": Changes(),
        },
    )
    keys = KeyReport(unpinned=[f"r-{n}-VM" for n in range(40)])
    return SyncReport("lab-zone", dry_run, load, mapping, keys, client_warnings=["w"] * 25)


def test_metrics_count_every_change_and_what_needs_an_operator() -> None:
    values = SyncOutcome(big_report(), seconds=12.3456, url="u").metric_values()
    assert values["NetworksAdded"] == (50, "Count") and values["NetworksRemoved"] == (1, "Count")
    assert values["SystemVmsAdded"] == (40, "Count") and values["VpcsChanged"] == (0, "Count")
    assert values["Unmapped"] == (30, "Count") and values["UnpinnedSystemVms"] == (40, "Count")
    assert values["SyncSeconds"] == (12.346, "Seconds")
    assert len(values) == 12


def test_the_answer_keeps_every_count_and_the_first_twenty_of_each_list() -> None:
    answer = SyncOutcome(big_report(), seconds=1.0, url="u").to_dict()
    json.dumps(answer)  # what Lambda returns must serialise
    summary, report = answer["summary"], answer["report"]
    assert summary["changes"]["networks"] == {"added": 50, "changed": 0, "removed": 1}
    assert summary["unmapped"] == 30 and summary["unmappedCounts"] == {"network": 30}
    assert summary["unpinnedSystemVms"] == 40 and len(summary["unpinned"]) == 20
    assert report["load"]["changes"]["networks"]["added"] == 50
    assert len(report["load"]["changes"]["networks"]["added_ids"]) == 20
    assert len(report["mapping"]["unmapped"]) == 20 and report["mapping"]["unmapped_counts"] == {
        "network": 30
    }
    assert len(report["hostKeys"]["unpinned"]) == 20 and len(report["clientWarnings"]) == 20
