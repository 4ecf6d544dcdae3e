"""Helpers of the store tests: counting DynamoDB calls, reading whole tables, a smaller zone."""

from __future__ import annotations

from typing import Any

from sysvmdiag.topology.model import Topology


class DynamoCallCounter:
    """Counts DynamoDB API calls made through one botocore client (its before-call event)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.operations: list[str] = []

    def _count(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def __enter__(self) -> DynamoCallCounter:
        self.client.meta.events.register("before-call.dynamodb.*", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.meta.events.unregister("before-call.dynamodb.*", self._count)


def all_items(table: Any) -> list[dict[str, Any]]:
    response = table.scan()
    items = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
        items += response["Items"]
    return sorted(items, key=lambda item: (item["pk"], item.get("sk", "")))


def shrunk_topology(topology: Topology) -> Topology:
    """The zone without the VR "vr" (and its isolated network and guests) and without carol."""
    data = topology.model_dump(mode="json")
    gone_hosts = {"vr", "guest1a", "guest1b", "sharedcarol"}
    data["hosts"] = [h for h in data["hosts"] if h["name"] not in gone_hosts]
    data["networks"] = [n for n in data["networks"] if n["id"] != "net-guest-alice"]
    for network in data["networks"]:
        network["shared_with"] = [a for a in network["shared_with"] if a != "acct-carol"]
    data["accounts"] = [a for a in data["accounts"] if a["id"] != "acct-carol"]
    return Topology.model_validate(data)
