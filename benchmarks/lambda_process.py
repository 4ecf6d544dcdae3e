"""A stand-in for one Lambda execution environment of the API function, driven over stdin/stdout.

``python -m benchmarks.lambda_process --spawned-at-ns N`` imports ``functions.api.app`` (the Lambda
"Init" phase), then for every HTTP API v2 event read as one JSON line on stdin invokes
``lambda_handler`` once and answers one JSON line: the invoke time (Lambda's "Duration"), the
DynamoDB calls it made and the response status (on the original stdout; the function's own
output goes to stderr). The first answer also carries the init time and the
time since the parent spawned the process (same monotonic clock), which is the cold request's cost.
Nothing here is imported before the function's own import is timed.
"""

from __future__ import annotations

import time

_PROCESS_T0_NS = time.monotonic_ns()

import argparse  # noqa: E402 - the clock above must start before anything else is imported
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def count_dynamodb_calls(counter: dict[str, int]) -> None:
    """Count every DynamoDB API call of the default boto3 session (the one the store uses)."""
    import boto3

    def before_call(event_name: str, **_kwargs: object) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        counter[operation] = counter.get(operation, 0) + 1

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", before_call)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.lambda_process")
    parser.add_argument("--spawned-at-ns", type=int, required=True, help="parent's time.monotonic_ns()")
    parser.add_argument(
        "--announce-ready", action="store_true", help="write a ready line once Init is done (load runs)"
    )
    parser.add_argument(
        "--prelude",
        default="",
        help="Python run inside the timed Init just before the import (experiments: an old step put back)",
    )
    args = parser.parse_args(argv)

    # The function prints its logs and metrics (EMF) to stdout, as on Lambda: answers go out on a
    # copy of the original stdout and everything the function prints goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    init_started = time.monotonic_ns()
    if args.prelude:
        exec(compile(args.prelude, "<prelude>", "exec"), {})  # noqa: S102 - the benchmark's own code
    from functions.api.app import lambda_handler

    init_ns = time.monotonic_ns() - init_started
    # Registered after the import so it does not change what the import costs; clients are created
    # lazily on the first request, after this hook is in place.
    calls: dict[str, int] = {}
    count_dynamodb_calls(calls)
    from sysvmdiag.local.gateway import LambdaContext

    if args.announce_ready:
        answers.write(json.dumps({"ready": True, "initMs": init_ns / 1e6}) + "\n")
        answers.flush()

    first = True
    for line in sys.stdin:
        event = json.loads(line)
        calls.clear()
        invoke_started = time.monotonic_ns()
        response = lambda_handler(event, LambdaContext("sysvmdiag-api"))
        finished = time.monotonic_ns()
        body = json.loads(response.get("body") or "{}")
        answer = {
            "invokeMs": (finished - invoke_started) / 1e6,
            "statusCode": response.get("statusCode"),
            "success": body.get("success"),
            "code": body.get("code"),
            "message": body.get("message"),
            "dynamodbCalls": sum(calls.values()),
            "dynamodbOperations": dict(calls),
        }
        if first:
            answer["initMs"] = init_ns / 1e6
            answer["interpreterStartMs"] = (_PROCESS_T0_NS - args.spawned_at_ns) / 1e6
            answer["sinceSpawnMs"] = (finished - args.spawned_at_ns) / 1e6
            first = False
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
