"""POST /matrices and GET /matrices/{id} through the API handler, in process on the fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sysvmdiag.models import MAX_MATRIX_CELLS
from tests.unit.test_api_answers import ALICE, api, call  # noqa: F401 - the handler fixture

BOB = {**ALICE, "accountId": "acct-bob", "accountName": "bob"}
BODY = {
    "targets": ["r-4-VM"],
    "destinations": ["198.51.100.80", "10.3.0.21"],
    "tests": ["ping"],
    "params": {"ping": "-c 1"},
}


def post(api: Any, body: dict[str, Any], identity: dict[str, str] = ALICE) -> Any:  # noqa: F811
    return call(api, "POST", "/matrices", json.dumps(body).encode(), identity=identity)


def test_a_matrix_is_accepted_and_read_back_by_its_owner_only(api: Any) -> None:  # noqa: F811
    status, matrix, headers = post(api, BODY)
    assert status == 202 and headers["Location"] == f"/matrices/{matrix['id']}"
    assert "X-RateLimit-Remaining" in headers  # its cells were counted toward the minute
    assert [(c["destination"], c["status"], c["code"]) for c in matrix["cells"]] == [
        ("198.51.100.80", "queued", None),
        ("10.3.0.21", "denied", "DESTINATION_NOT_ALLOWED"),
    ]
    assert matrix["complete"] is False and matrix["cells"][0]["jobId"]

    status, again, headers = call(api, "GET", f"/matrices/{matrix['id']}")
    assert status == 200 and again["cells"] == matrix["cells"] and headers["Retry-After"] == "2"
    status, hidden, _ = call(api, "GET", f"/matrices/{matrix['id']}", identity=BOB)
    assert (status, hidden["code"]) == (404, "MATRIX_NOT_FOUND")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": ["r-4-VM", "r-4-VM"]}, "targets"),
        ({"destinations": ["www.example.com"]}, "destinations"),
        ({"tests": ["ping", "whois"]}, "tests.1"),
        ({"params": {"mtr": "-c 1"}}, "params"),
        ({"targets": []}, "targets"),
        ({"destinations": [f"192.0.2.{n}" for n in range(11)]}, "destinations"),
        ({"extra": True}, "extra"),
    ],
)
def test_a_malformed_matrix_is_refused_with_the_field(
    api: Any,  # noqa: F811
    change: dict[str, Any],
    field: str,
) -> None:
    status, refusal, _ = post(api, BODY | change)
    assert (status, refusal["code"], refusal["field"]) == (400, "INVALID_REQUEST", field)


def test_a_matrix_over_the_bound_is_refused_as_too_large(api: Any) -> None:  # noqa: F811
    body = {
        "targets": [f"r-{n}-VM" for n in range(1, 7)],
        "destinations": [f"192.0.2.{n}" for n in range(1, 10)],
        "tests": ["ping"],
    }
    status, refusal, _ = post(api, body)
    assert (status, refusal["code"]) == (400, "MATRIX_TOO_LARGE")
    assert f"at most {MAX_MATRIX_CELLS}" in refusal["message"]


def test_the_openapi_document_describes_the_matrix_routes(api: Any) -> None:  # noqa: F811
    status, document, _ = call(api, "GET", "/openapi.json", identity=None)
    assert status == 200
    assert {"/matrices", "/matrices/{matrix_id}"} <= set(document["paths"])
    assert "MatrixView" in document["components"]["schemas"]
