"""DynamoDB calls of the authorizer per request (its API-key lookup), counted in process, through the local
API Gateway's cache of its answers (ReauthorizeEvery, as API Gateway keeps them): the first request pays
the GetItem, the warm ones nothing."""

from __future__ import annotations

from benchmarks.lambda_process import count_dynamodb_calls
from sysvmdiag.local.gateway import LocalGateway


def _no_api(_event: dict, _context: object) -> dict:
    return {"statusCode": 204, "body": ""}


def measure(stack: dict, requests: int = 5) -> dict:
    """``requests`` requests with the admin's key through the gateway (first cold, then warm)."""
    from functions.authorizer.app import lambda_handler

    admin_key = next(a["apiKey"] for a in stack["accounts"] if a["name"] == "admin")
    gateway = LocalGateway(_no_api, lambda_handler)
    calls: dict[str, int] = {}
    count_dynamodb_calls(calls)
    per_request = []
    for _ in range(requests):
        calls.clear()
        answer = gateway.invoke(
            "POST", "/diagnostics", {"authorization": f"Bearer {admin_key}"}, b"{}", "127.0.0.1"
        )
        if answer.status != 204:
            raise RuntimeError(f"the authorizer refused the admin's key: {answer.status} {answer.body!r}")
        per_request.append({"calls": sum(calls.values()), "operations": dict(calls)})
    return {"requests": per_request}
