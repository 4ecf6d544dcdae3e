"""POST /diagnostics/data through the API handler in process on the fakes, and the CLI's view of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sysvmdiag.models import VmStateRequest, VmStateView
from sysvmdiag.state_summary import state_lines
from sysvmdiag.vmstate import PARTS
from tests.unit.conftest import World, caller
from tests.unit.fakes import state_output
from tests.unit.test_api_answers import ALICE, api, call  # noqa: F401 - the handler fixture
from tests.unit.test_vm_state_reads import EVERYTHING


def post(api: Any, body: dict[str, Any]) -> Any:  # noqa: F811
    return call(api, "POST", "/diagnostics/data", json.dumps(body).encode())


def test_alice_gets_her_state_with_the_quota_headers(api: Any, world: World) -> None:  # noqa: F811
    world.runner.outputs.append(state_output(EVERYTHING))
    status, view, headers = post(api, {"targetId": "r-4-VM"})
    assert status == 200 and view["scoped"] is True and "X-RateLimit-Remaining" in headers
    assert view["bundle"]["key"].endswith(".zip") and "notInline" in view and "collectedAt" in view


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"targetId": "r-4-VM", "parts": ["iptables"]}, 403, "STATE_PART_ADMIN_ONLY", None),
        ({"targetId": "r-4-VM", "parts": ["routes; reboot"]}, 400, "INVALID_REQUEST", "parts.0"),
        ({"targetId": "r-4-VM", "logs": ["/etc/shadow"]}, 400, "INVALID_REQUEST", "logs.0"),
        ({"targetId": "r-4-VM", "destination": "10.0.0.1"}, 400, "INVALID_REQUEST", "destination"),
        ({"parts": ["routes"]}, 400, "INVALID_REQUEST", "targetId"),
        ({"targetId": "r-999-VM"}, 404, "TARGET_NOT_FOUND", "targetId"),
    ],
)
def test_refusals_are_coded(
    api: Any,  # noqa: F811
    world: World,
    body: dict,
    status: int,
    code: str,
    field: str | None,
) -> None:
    answer_status, refusal, _ = post(api, body)
    assert (answer_status, refusal["code"], refusal.get("field")) == (status, code, field)
    assert world.runner.commands == []


def test_get_on_the_data_route_is_not_a_job_read_by_accident(api: Any) -> None:  # noqa: F811
    status, refusal, _ = call(api, "GET", "/diagnostics/data")
    assert (status, refusal["code"]) == (404, "JOB_NOT_FOUND")


def test_the_cli_view_is_readable_and_cannot_forge_lines(world: World) -> None:
    hostile = json.dumps(
        [
            {
                "dst": "10.1.1.20",
                "dev": "eth0",
                "lladdr": "02:aa:00:00:00:20\n[admin] ok",
                "state": ["REACHABLE"],
            }
        ]
    )
    world.runner.outputs.append(state_output({**EVERYTHING, "neighbours": [hostile]}))
    request = VmStateRequest(target_id="r-4-VM", parts=["addresses", "routes", "neighbours"])
    view = world.service().read_vm_state(caller("admin"), request, world.origin())
    lines = state_lines(VmStateView.model_validate(view.model_dump(mode="json", by_alias=True)))
    assert lines[0].startswith("r-4-VM (") and "whole (admin)" in lines[0]
    assert "  eth1       " in "\n".join(lines) and "  default via 203.0.113.1 dev eth2" in lines
    assert any("02:aa:00:00:00:20\\n[admin] ok" in line for line in lines)
    assert all("\n" not in line for line in lines) and lines[-1].startswith("bundle: ")


def test_the_openapi_document_describes_the_data_route(api: Any) -> None:  # noqa: F811
    status, document, _ = call(api, "GET", "/openapi.json", identity=None)
    operation = document["paths"]["/diagnostics/data"]["post"]
    assert status == 200 and "200" in operation["responses"] and "403" in operation["responses"]
    schemas = document["components"]["schemas"]
    assert {"VmStateView", "VmStateRequest", "StateBundle"} <= set(schemas)
    assert schemas["VmStateRequest"]["properties"]["parts"]["items"]["enum"] == list(PARTS)
