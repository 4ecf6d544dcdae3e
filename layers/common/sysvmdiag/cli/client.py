"""``sysvmdiag run``, ``job``, ``vms`` and ``audit``: a client of the HTTP API for people at a terminal.

Every line printed for a person is built from the API's fields and passed through
:func:`sysvmdiag.summaries.printable`, one line at a time, so a field holding a newline, a carriage
return or an escape sequence (a tenant's user agent, target id or params) shows as its escape and cannot
forge a line; ``--json`` prints the API's JSON unchanged.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from sysvmdiag.local.stack import LocalStack
from sysvmdiag.results import load_result
from sysvmdiag.summaries import detail_lines, printable, verdict_line
from sysvmdiag.toolargs import TOOLS

FINAL_JOB_STATUSES = ("succeeded", "failed", "denied")


class ApiError(Exception):
    def __init__(self, status: int, body: dict, retry_after: str | None = None):
        super().__init__(body.get("message") or body)
        self.status = status
        self.body = body
        self.retry_after = retry_after

    def describe(self) -> str:
        text = f"refused ({self.status} {self.body.get('code')}): {self.body.get('message')}"
        return printable(f"{text} Retry after {self.retry_after} s." if self.retry_after else text)


def resolve_endpoint(api: str | None, key: str | None, as_account: str) -> tuple[str, str]:
    """Flags first, then SYSVMDIAG_API_URL / SYSVMDIAG_API_KEY, then the running local stack."""
    api = api or os.environ.get("SYSVMDIAG_API_URL")
    key = key or os.environ.get("SYSVMDIAG_API_KEY")
    if api and key:
        return api.rstrip("/"), key
    status = LocalStack().status()
    if not status.get("apiUrl"):  # no namespace-lab stack: try the compose lab's (local up --lab compose)
        status = LocalStack(lab="compose").status()
    if not status.get("apiUrl"):
        raise SystemExit(
            "sysvmdiag: no API given (--api/--key or SYSVMDIAG_API_URL/SYSVMDIAG_API_KEY) "
            "and no local stack running (start one with: sysvmdiag local up)"
        )
    if not key:
        match = [a for a in status.get("accounts", []) if as_account in (a["name"], a["id"])]
        if not match:
            raise SystemExit(f"sysvmdiag: the local stack has no demo account {as_account!r}")
        key = match[0]["apiKey"]
    return (api or status["apiUrl"]).rstrip("/"), key


def call_api(method: str, url: str, key: str, body: dict | None = None, timeout: float = 60.0) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the user-chosen API URL
        url,
        data=data,
        method=method,
        headers={
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "user-agent": "sysvmdiag-cli",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - user-chosen API URL
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            payload = json.loads(err.read() or b"{}")
        except ValueError:
            payload = {"message": err.reason}
        raise ApiError(err.code, payload, err.headers.get("Retry-After")) from None


class Spinner:
    """A spinner on stderr while we wait, only when stderr is a terminal."""

    def __init__(self, text: str):
        self._text = text
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        for frame in itertools.cycle("|/-\\"):
            if self._stop.wait(0.1):
                break
            sys.stderr.write(f"\r{frame} {printable(self._text)}")
            sys.stderr.flush()
        sys.stderr.write("\r" + " " * (len(self._text) + 2) + "\r")

    def __enter__(self) -> Spinner:
        if sys.stderr.isatty():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _result_lines(response: dict) -> list[str]:
    """The result's lines (sysvmdiag.summaries); none when this client cannot read the result."""
    try:
        result = load_result(response.get("result"), response["type"])
    except ValidationError:  # a server newer or older than this client: the headline still helps
        return []
    return detail_lines(result)


def _verdict_lines(response: dict) -> list[str]:
    """The verdict line; none from a server that gives no verdict."""
    if not response.get("verdict"):
        return []
    causes = [
        (str(cause.get("code")), str(cause.get("message")))
        for cause in response.get("cause") or []
        if isinstance(cause, dict)
    ]
    return [verdict_line(str(response["verdict"]), causes)]


def summarize(response: dict) -> str:
    """A few readable lines: the verdict and its causes, then loss and rtt, hops, or MACs."""
    target = response.get("targetName") or response["targetId"]
    head = (
        f"{response['type']} {response['ipAddress']} from {target} via "
        f"{response.get('egressInterface') or '?'} ({response.get('egressKind') or '?'}): "
        f"{'success' if response.get('success') else 'FAILED'}, exit {response.get('exitCode')}, "
        f"{response.get('durationMs')} ms{_cached_note(response)}"
    )
    lines = [head, *_verdict_lines(response), *_result_lines(response)]
    if response.get("truncated"):
        lines.append("  (output truncated)")
    if not response.get("success") and (response.get("stderr") or "").strip():
        lines.append("  stderr: " + response["stderr"].strip().splitlines()[-1])
    return text_lines(lines)


def _cached_note(response: dict) -> str:
    """The head line's " (cached, 12 s old)" for a stored result (its run ended that long ago)."""
    if not response.get("cached"):
        return ""
    age = response.get("cacheAgeSeconds")
    return f" (cached, {age:.0f} s old)" if isinstance(age, int | float) else " (cached)"


def text_lines(lines: list[str]) -> str:
    """Lines for a terminal: each one made printable, then joined (only these newlines are printed)."""
    return "\n".join(printable(line) for line in lines)


def is_job(response: dict) -> bool:
    return "worstCaseSeconds" in response and "status" in response


def live_lines(job: dict, shown: int) -> tuple[list[str], int]:
    """The complete lines of a running job's live output not shown yet, and how much is shown after
    them (a line still being written waits for the next poll)."""
    text = (job.get("live") or {}).get("stdout") or ""
    end = text.rfind("\n") + 1
    if end <= shown:
        return [], shown
    return text[shown:end].splitlines(), end


def wait_for_job(
    api: str,
    key: str,
    job: dict,
    timeout: float,
    show: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict:
    """Poll GET /diagnostics/{id} until the job ends, with its status on the spinner line and its live
    output (hop by hop) shown as it comes."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    shown = 0
    while job["status"] not in FINAL_JOB_STATUSES:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job['id']} is still {job['status']} after {timeout:.0f} s")
        with Spinner(f"job {job['id']} {job['status']} ({time.monotonic() - started:.0f} s) ..."):
            time.sleep(1.0)
        job = call_api("GET", f"{api}/diagnostics/{job['id']}", key)
        lines, shown = live_lines(job, shown)
        for line in lines:
            show(printable(line))
    return job


def summarize_job(job: dict) -> str:
    if job.get("result"):
        return text_lines([f"job {job['id']} {job['status']}"]) + "\n" + summarize(job["result"])
    error = job.get("error") or {}
    return printable(f"job {job['id']} {job['status']}: {error.get('code')}: {error.get('message')}")


def print_refusal(err: ApiError, as_json: bool) -> int:
    print(json.dumps(err.body) if as_json else err.describe(), file=sys.stdout if as_json else sys.stderr)
    refused = err.status in (401, 403) or err.body.get("code") == "TARGET_NOT_FOUND"
    return 3 if refused else 1


def _cmd_run(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    body: dict[str, Any] = {"targetId": args.vm, "type": args.test, "ipAddress": args.dest}
    if args.params:
        body["params"] = args.params
    if args.run_async:
        body["async"] = True
    if args.cache:
        body["cache"] = True
    try:
        with Spinner(f"running {args.test} {args.dest} on {args.vm} ..."):
            response = call_api("POST", f"{api}/diagnostics", key, body)
        if is_job(response):
            if args.no_wait:
                print(
                    json.dumps(response, indent=2)
                    if args.json
                    else printable(f"job {response['id']} queued: poll with `sysvmdiag job {response['id']}`")
                )
                return 0
            if not args.json:
                print(
                    printable(
                        f"job {response['id']} queued (worst case {response['worstCaseSeconds']:.0f} s)"
                    ),
                    file=sys.stderr,
                )
            response = wait_for_job(api, key, response, args.wait)
    except ApiError as err:
        return print_refusal(err, args.json)
    except TimeoutError as err:
        print(printable(f"sysvmdiag: {err}"), file=sys.stderr)
        return 1
    if is_job(response):
        print(json.dumps(response, indent=2) if args.json else summarize_job(response))
        return 0 if response["status"] == "succeeded" else 1
    print(json.dumps(response, indent=2) if args.json else summarize(response))
    return 0 if response.get("success") else 1


def _cmd_job(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    try:
        job = call_api("GET", f"{api}/diagnostics/{urllib.parse.quote(args.job_id, safe='')}", key)
        if args.wait:
            job = wait_for_job(api, key, job, args.wait)
    except ApiError as err:
        return print_refusal(err, args.json)
    except TimeoutError as err:
        print(printable(f"sysvmdiag: {err}"), file=sys.stderr)
        return 1
    print(json.dumps(job, indent=2) if args.json else summarize_job(job))
    return 0 if job["status"] in ("succeeded", "queued", "running") else 1


def _cmd_audit(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    query = {
        name: value
        for name, value in (
            ("account", args.account),
            ("vm", args.vm),
            ("since", args.since),
            ("until", args.until),
            ("limit", args.limit),
        )
        if value is not None
    }
    try:
        page = call_api("GET", f"{api}/audit?{urllib.parse.urlencode(query)}", key)
    except ApiError as err:
        return print_refusal(err, args.json)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    for record in page["items"]:
        print(audit_line(record))
    if page.get("nextToken"):
        print(printable(f"(more: --json shows nextToken {page['nextToken'][:16]}...)"))
    return 0


def audit_line(record: dict) -> str:
    """One audit record (as GET /audit shows it) on one line, whatever its fields hold."""
    outcome = record.get("status") or "-"
    reason = f" {record['reasonCode']}" if record.get("reasonCode") else ""
    target = record.get("vmName") or record.get("targetId") or "-"
    exit_code = f" exit {record['exitCode']}" if record.get("exitCode") is not None else ""
    source = f" from {record.get('sourceIp') or '-'}"
    agent = f" ({record['userAgent']})" if record.get("userAgent") else ""
    cached = " cached" if record.get("cached") else ""
    return printable(
        f"{record['at']}  {record['accountId']:<16} {record['decision']:<8} {outcome:<9}{reason:<22} "
        f"{record.get('type') or '-'} {record.get('ipAddress') or '-'} on {target}{exit_code}{cached}"
        f"{source}{agent}"
    )


def _cmd_vms(args: argparse.Namespace) -> int:
    api, key = resolve_endpoint(args.api, args.key, args.as_account)
    try:
        response = call_api("GET", f"{api}/systemvms", key)
    except ApiError as err:
        print(printable(f"refused ({err.status}): {err.body.get('message')}"), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(response, indent=2))
        return 0
    for vm in response["systemvms"]:
        addresses = ", ".join(
            f"{i['name']}={i.get('ipv4') or i.get('ipv6')} ({i['networkKind']})" for i in vm["interfaces"]
        )
        head = (
            f"{vm['id']}  {vm['name']:<8} {vm['kind']:<6} {vm['state']:<8} egress: "
            f"{', '.join(vm['allowedEgressKinds']) or '-'}"
        )
        print(text_lines([head, f"    {addresses}"]))
    return 0


def endpoint_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="API base URL (default: $SYSVMDIAG_API_URL or the local stack)")
    parser.add_argument("--key", help="API key (default: $SYSVMDIAG_API_KEY or a local demo account's)")
    parser.add_argument(
        "--as",
        dest="as_account",
        default="admin",
        help="local stack demo account to act as when no key is given (default: admin)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON response")


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help=f"run a diagnostic ({', '.join(TOOLS)}) on a system VM through the API"
    )
    run.add_argument("--vm", required=True, help="system VM uuid or name (r-4-VM)")
    run.add_argument("--test", required=True, choices=TOOLS)
    run.add_argument("--dest", required=True, help="destination IP address")
    run.add_argument("--params", help='extra tool options, e.g. "-c 5"')
    run.add_argument(
        "--async",
        dest="run_async",
        action="store_true",
        help="run as a job (runs longer than the API's synchronous budget become jobs anyway)",
    )
    run.add_argument(
        "--cache",
        action="store_true",
        help="accept the stored result of an identical recent run (the API's RESULT_CACHE_SECONDS; "
        "never for jobs)",
    )
    run.add_argument("--no-wait", action="store_true", help="print the job id instead of waiting for it")
    run.add_argument("--wait", type=float, default=600.0, help="longest wait for a job, seconds (600)")
    endpoint_flags(run)
    run.set_defaults(func=_cmd_run)
    job = subparsers.add_parser("job", help="show a diagnostic job (and wait for it with --wait S)")
    job.add_argument("job_id")
    job.add_argument("--wait", type=float, default=0.0, help="wait up to S seconds for it to end")
    endpoint_flags(job)
    job.set_defaults(func=_cmd_job)
    audit = subparsers.add_parser("audit", help="the audit trail, newest first (administrators)")
    audit.add_argument("--account", help="only this account id (acct-alice)")
    audit.add_argument("--vm", help="only this system VM uuid")
    audit.add_argument("--since", help="ISO-8601 time (default: 24 h ago)")
    audit.add_argument("--until", help="ISO-8601 time (default: now)")
    audit.add_argument("--limit", type=int, help="records (1-200, default 50)")
    endpoint_flags(audit)
    audit.set_defaults(func=_cmd_audit)
    vms = subparsers.add_parser("vms", help="list the system VMs you may target")
    endpoint_flags(vms)
    vms.set_defaults(func=_cmd_vms)
