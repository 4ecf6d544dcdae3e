"""The private fault zone: its own namespace lab (prefix ``svf``), tables, queue and secret.

Faults stop sshds, rekey hosts, freeze processes and cut links, so they never touch the shared lab
(prefix ``svd``) the other suites use. The API runs in process (``functions.api.app.lambda_handler``)
against the session moto server, exactly as a Lambda would with this environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from simvms import sshd
from simvms.lab import Lab
from sysvmdiag.audit import AuditRecord, AuditStore
from sysvmdiag.local.gateway import LambdaContext
from sysvmdiag.local.motoserver import EmbeddedAws

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_TOPOLOGY = REPO_ROOT / "simvms" / "topology.yaml"
EVENT_TEMPLATE = REPO_ROOT / "events" / "api" / "post-diagnostics-ping-allowed.json"

PREFIX = "svf"
HOST_LINK = {"host": "100.64.253.1/30", "bastion": "100.64.253.2/30"}
# Enough of the zone for every fault: the bastion, a VR, the two routers and a web server behind them.
HOSTS = ("bastion", "vr", "r1", "r2", "web")
VR_UUID = "4b1d5c2e-7a0f-4c1e-9d3b-000000000004"
WEB = "198.51.100.80"
ADMIN_ID = "acct-admin"
TOOLS = ("ping", "traceroute", "arping")
# The VM-side program kills a tool with SIGTERM, then SIGKILL after 2 s; give it that and some slack.
VM_IDLE_SECONDS = 8.0


def private_topology(directory: Path) -> Path:
    """The lab zone cut down to HOSTS, under its own prefix and host link, written to ``directory``."""
    data = yaml.safe_load(SHARED_TOPOLOGY.read_text())
    data["lab"] = {"prefix": PREFIX, "host_link": dict(HOST_LINK)}
    data["hosts"] = [host for host in data["hosts"] if host["name"] in HOSTS]
    path = directory / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def host_link_in_use() -> str | None:
    """Another interface of the host already holding the private host link's addresses, if any."""
    proc = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True)
    wanted = {address.split("/")[0] for address in HOST_LINK.values()}
    for link in json.loads(proc.stdout):
        if link["ifname"] == f"{PREFIX}-host":
            continue
        for info in link.get("addr_info", []):
            if info.get("local") in wanted:
                return link["ifname"]
    return None


@dataclass
class Answer:
    """What the API answered to one request."""

    request_id: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        return self.body.get("code")


@dataclass
class FaultZone:
    """The private lab with its API environment, and the checks every fault makes."""

    lab: Lab
    aws: EmbeddedAws
    tables: dict[str, str]
    secret_id: str
    queue_url: str

    # -- the API ---------------------------------------------------------------------------------

    def post(self, body: dict[str, Any]) -> Answer:
        """POST /diagnostics as the zone's admin, through the API handler in this process."""
        from functions.api.app import lambda_handler

        event = json.loads(EVENT_TEMPLATE.read_text())
        request_id = str(uuid.uuid4())
        event["requestContext"]["requestId"] = request_id
        event["body"] = json.dumps(body)
        response = lambda_handler(event, LambdaContext("sysvmdiag-api"))
        return Answer(
            request_id=request_id,
            status=response["statusCode"],
            body=json.loads(response["body"]),
            headers=response.get("headers") or {},
        )

    def ping(self, params: str = "-c 1 -W 1") -> Answer:
        return self.post({"targetId": VR_UUID, "type": "ping", "ipAddress": WEB, "params": params})

    def run_queued_jobs(self) -> None:
        """Hand the queue's messages to the worker function, as its SQS trigger would."""
        import boto3

        from functions.worker.app import lambda_handler

        sqs = boto3.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return
        records = [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:faults",
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
        lambda_handler({"Records": records}, LambdaContext("sysvmdiag-worker"))
        for message in messages:
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def job(self, job_id: str) -> dict[str, Any]:
        from functions.api.app import lambda_handler

        event = json.loads(EVENT_TEMPLATE.read_text())
        event["routeKey"] = "GET /diagnostics/{job_id}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/diagnostics/{job_id}"
        event["requestContext"]["http"]["method"] = "GET"
        event["requestContext"]["routeKey"] = event["routeKey"]
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        event["pathParameters"] = {"job_id": job_id}
        event.pop("body")
        response = lambda_handler(event, LambdaContext("sysvmdiag-api"))
        assert response["statusCode"] == 200, response
        return json.loads(response["body"])

    # -- the audit trail -------------------------------------------------------------------------

    def audit_records(self, request_id: str) -> list[AuditRecord]:
        import boto3

        store = AuditStore(boto3.resource("dynamodb").Table(self.tables["AUDIT_TABLE"]))
        records, _token = store.query(account_id=ADMIN_ID, limit=100)
        return [record for record in records if record.id == request_id]

    def audit_record(self, request_id: str) -> AuditRecord:
        """The one audit record of a request (fails if there is none or more than one)."""
        records = self.audit_records(request_id)
        assert len(records) == 1, f"want one audit record for {request_id}, got {records}"
        return records[0]

    # -- the topology ----------------------------------------------------------------------------

    def reload_topology(self) -> None:
        """Load the lab's topology and its current status (host keys) into the tables, as an operator
        does after a VM was rebuilt."""
        import boto3

        from sysvmdiag.topology.loader import load_topology_into_tables
        from sysvmdiag.topology.store import TopologyStore

        store = TopologyStore(
            boto3.resource("dynamodb").Table(self.tables["TOPOLOGY_TABLE"]),
            boto3.resource("dynamodb").Table(self.tables["ACCOUNTS_TABLE"]),
        )
        load_topology_into_tables(self.lab.topology, store, self.lab.status())

    # -- processes on the VM ----------------------------------------------------------------------

    def sshd_pid(self, host: str) -> int:
        pid = sshd.sshd_running(self.lab.paths, host)
        assert pid is not None, f"sshd of {host} is not running in the fault lab"
        return pid

    def processes(self, host: str) -> dict[int, list[str]]:
        """Every process in the host's namespace with its argv (`ip netns pids` + /proc)."""
        proc = subprocess.run(
            ["ip", "netns", "pids", self.lab.namespace(host)], capture_output=True, text=True, check=True
        )
        found = {}
        for pid in (int(word) for word in proc.stdout.split()):
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):  # ended between the listing and the read
                continue
            found[pid] = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        return found

    def wait_vm_idle(self, host: str = "vr", within: float = VM_IDLE_SECONDS) -> None:
        """Only the VM's sshd listener is left, and at most idle kept-open connections (the runner's
        ControlMaster-like reuse: an ``sshd: user@notty`` process with no session under it); no tool,
        no VM-side program, no session."""
        listener = self.sshd_pid(host)
        deadline = time.monotonic() + within
        while True:
            running = self.processes(host)
            parents = {_parent_pid(pid) for pid in running}
            others = {
                pid: argv
                for pid, argv in running.items()
                if pid != listener and not (_is_idle_connection(argv) and pid not in parents)
            }
            if not others:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"left running on {host} {within:g} s after the request: {others}")
            time.sleep(0.1)

    def wait_for_tool(self, host: str, tool: str, within: float = 10.0) -> int:
        """The pid of ``tool`` once it runs on the host (polling /proc; the tool may live < 1 s)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for pid, argv in self.processes(host).items():
                if argv and Path(argv[0]).name == tool:
                    return pid
            time.sleep(0.01)
        pytest.fail(f"{tool} never started on {host} within {within:g} s")

    def run_log(self, host: str = "vr") -> list[dict[str, Any]]:
        path = self.lab.paths.run_log(host)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP a process we started (the lab's sshd or a tool on the VM) and always SIGCONT it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def thaw_after(pid: int, seconds: float) -> threading.Timer:
    """SIGCONT ``pid`` in ``seconds`` (a briefly stalled process)."""
    timer = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    timer.daemon = True
    timer.start()
    return timer


class _RawBody:
    """The ``raw`` of a botocore AWSResponse: a body it can stream."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


class DynamoDbThrottle:
    """A botocore ``before-send`` hook: DynamoDB answers ProvisionedThroughputExceededException (HTTP 400,
    as the service does) for the first ``times`` calls to the given tables, then lets calls through.

    botocore retries these with its backoff, so a few throttles cost a request nothing but time."""

    ERROR = "ProvisionedThroughputExceededException"

    def __init__(self, tables: set[str], times: int | None = None):
        self.tables = tables
        self.remaining = times
        self.throttled = 0

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        table = json.loads(request.body or b"{}").get("TableName")
        if table not in self.tables or self.remaining == 0:
            return None
        if self.remaining is not None:
            self.remaining -= 1
        self.throttled += 1
        body = json.dumps(
            {
                "__type": f"com.amazonaws.dynamodb.v20120810#{self.ERROR}",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }
        ).encode()
        headers = {"x-amzn-ErrorType": self.ERROR, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _RawBody(body))


def _parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _is_idle_connection(argv: list[str]) -> bool:
    """sshd's title for a logged-in connection without a terminal ("sshd: root@notty")."""
    return len(argv) == 1 and argv[0].startswith("sshd: ") and argv[0].endswith("@notty")
