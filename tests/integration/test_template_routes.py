"""template.yaml's HTTP API routes, the handler's routes and the local gateway agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from sysvmdiag.local.gateway import PUBLIC_ROUTES

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def template_routes(template: dict[str, Any]) -> dict[tuple[str, str], bool]:
    """(method, path) -> whether the route is open without the authorizer."""
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
    routes = {}
    for event in events.values():
        props = event["Properties"]
        public = str(props.get("Auth", {}).get("Authorizer", "")) == "NONE"
        routes[(str(props["Method"]), str(props["Path"]))] = public
    return routes


def test_public_routes_match_the_local_gateway(template):
    routes = template_routes(template)
    assert {route for route, public in routes.items() if public} == set(PUBLIC_ROUTES)


def test_every_documented_route_is_in_the_template(template):
    """The OpenAPI document lists the authorised routes; the public ones are the gateway's list."""
    from functions.api.app import app

    document = app.get_openapi_schema()
    documented = {
        (method.upper(), path)
        for path, item in document.paths.items()
        for method in ("get", "post", "put", "delete", "patch")
        if getattr(item, method)
    }
    assert documented | set(PUBLIC_ROUTES) == set(template_routes(template))


def test_api_function_has_least_privilege(template):
    """The API writes only what a request produces (jobs, audit records, limit counters); the topology
    stays read-only and the accounts table belongs to the authorizer, which only reads it."""
    policies = [str(p) for p in template["Resources"]["ApiFunction"]["Properties"]["Policies"]]
    authorizer = [str(p) for p in template["Resources"]["AuthorizerFunction"]["Properties"]["Policies"]]
    writes = [p for p in policies if "Crud" in p or "Write" in p]
    assert {
        table for table in ("JobsTable", "AuditTable", "LimitsTable") if any(table in p for p in writes)
    } == {
        "JobsTable",
        "AuditTable",
        "LimitsTable",
    }
    assert not any("TopologyTable" in p or "IdempotencyTable" in p for p in writes)
    assert not any("Crud" in p or "Write" in p for p in authorizer)
    assert any("AccountsTable" in p for p in authorizer)
    assert not any("AccountsTable" in p for p in policies)
