"""The local stack's server process: embedded AWS (moto), loaded topology, demo accounts, the API.

Started by ``sysvmdiag local up`` in the background; ``python -m sysvmdiag.local.server --state DIR``.
Everything it sets up is what the Lambda functions read from their environment on AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sysvmdiag.keypairs import KeyPairStore
    from sysvmdiag.topology.model import Account
    from sysvmdiag.topology.store import TopologyStore

REPO_ROOT = Path(__file__).resolve().parents[4]

TABLES = {
    "TOPOLOGY_TABLE": "sysvmdiag-topology",
    "ACCOUNTS_TABLE": "sysvmdiag-accounts",
    "JOBS_TABLE": "sysvmdiag-jobs",
    "AUDIT_TABLE": "sysvmdiag-audit",
    "LIMITS_TABLE": "sysvmdiag-limits",
    "IDEMPOTENCY_TABLE": "sysvmdiag-idempotency",
}
SSH_KEY_SECRET_ID = "sysvmdiag/ssh-private-key"  # noqa: S105 - a secret name, not a secret
JOBS_QUEUE = "sysvmdiag-jobs"
JOBS_DEAD_LETTER_QUEUE = "sysvmdiag-jobs-dlq"
RESULTS_TOPIC = "sysvmdiag-results"
DATA_BUCKET = "sysvmdiag-vm-state"  # VM-state bundles (POST /diagnostics/data), on moto's S3
KEYPAIRS_KMS_KEY_DESCRIPTION = "sysvmdiag CloudStack key pairs"
# Shorter than the template's (six times the worker's timeout) so a failed message returns within a test.
LOCAL_VISIBILITY_TIMEOUT_SECONDS = 30
MAX_RECEIVE_COUNT = 3
# How many SQS messages the worker takes at once (the event source mapping's pollers). The API and
# the authorizer scale out like Lambda (sysvmdiag.local.instances: SYSVMDIAG_LOCAL_MAX_INSTANCES).
WORKER_CONCURRENCY = 3
# The result cache is off by default on AWS (template.yaml's ResultCacheSeconds); on the local stack it is
# on, so `sysvmdiag run --cache` can be tried. RESULT_CACHE_SECONDS in the environment overrides it.
LOCAL_RESULT_CACHE_SECONDS = 60
# CloudStack's API path: served by its own function, with no authorizer (requests are signed).
CLOUDSTACK_API_PATH = "/client/api"
PLAYBOOKS_FILE = REPO_ROOT / "simvms" / "playbooks.yaml"
# Demo callers, one for each shape of tenancy in the lab: an admin; acme-admin (domain admin above
# alice and erin); alice (isolated network, VPC, a Stopped VR); bob and carol (the multi-tenant shared
# network, carol also on dave's); dave (alice's CIDR on a VR of his own, and a shared network he owns
# but shares); initech-admin (domain admin above dave); erin (a shared network dedicated to her).
DEMO_ACCOUNTS = ("admin", "acme-admin", "alice", "bob", "carol", "dave", "initech-admin", "erin")


def configure_environment(endpoint_url: str) -> None:
    """The same variables the SAM template gives the functions, pointed at moto's server."""
    os.environ.update(TABLES)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "SSH_KEY_SECRET_ID": SSH_KEY_SECRET_ID,
            "DATA_BUCKET": DATA_BUCKET,
            "RESULT_CACHE_SECONDS": os.environ.get("RESULT_CACHE_SECONDS") or str(LOCAL_RESULT_CACHE_SECONDS),
            "POWERTOOLS_SERVICE_NAME": "sysvmdiag",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # Off, as in the template: a loss of ~0.5 s per cold request here (benchmarks/README.md).
            "BASTION_WARM_AT_INIT": os.environ.get("BASTION_WARM_AT_INIT") or "false",
            "POWERTOOLS_METRICS_NAMESPACE": "SysVmDiag",
        }
    )


def configure_from_status(status: dict) -> None:
    """The environment of the running local stack's functions, from its server.json (for in-process
    invocations: tests, `sysvmdiag playbooks trigger`, benchmarks)."""
    configure_environment(status["awsEndpointUrl"])
    os.environ.update(
        {
            "JOBS_QUEUE_URL": status["jobsQueueUrl"],
            "JOBS_DEAD_LETTER_QUEUE_URL": status["jobsDeadLetterQueueUrl"],
            "RESULTS_TOPIC_ARN": status["resultsTopicArn"],
        }
    )
    if status.get("limits"):
        os.environ["LIMITS_JSON"] = status["limits"]
    if status.get("cloudstackKeysKmsKeyId"):
        os.environ["CLOUDSTACK_KEYS_KMS_KEY_ID"] = status["cloudstackKeysKmsKeyId"]
    if status.get("resultCacheSeconds") is not None:
        os.environ["RESULT_CACHE_SECONDS"] = str(status["resultCacheSeconds"])


def provision_keypair_kms_key() -> str:
    """The KMS key sealing the accounts' CloudStack secret keys, on moto's server; its id goes to the
    environment before the function instances start (they inherit it)."""
    import boto3

    key_id = boto3.client("kms").create_key(Description=KEYPAIRS_KMS_KEY_DESCRIPTION)["KeyMetadata"]["KeyId"]
    os.environ["CLOUDSTACK_KEYS_KMS_KEY_ID"] = key_id
    return key_id


def provision_messaging() -> dict[str, str]:
    """The jobs queue with its dead-letter queue, the results topic (their names go to the environment)
    and the VM-state bundles' bucket."""
    import boto3

    sqs = boto3.client("sqs")
    dead_letter_url = sqs.create_queue(QueueName=JOBS_DEAD_LETTER_QUEUE)["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
    queue_url = sqs.create_queue(
        QueueName=JOBS_QUEUE,
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": redrive,
        },
    )["QueueUrl"]
    topic_arn = boto3.client("sns").create_topic(Name=RESULTS_TOPIC)["TopicArn"]
    boto3.client("s3").create_bucket(Bucket=DATA_BUCKET)
    messaging = {
        "JOBS_QUEUE_URL": queue_url,
        "JOBS_DEAD_LETTER_QUEUE_URL": dead_letter_url,
        "RESULTS_TOPIC_ARN": topic_arn,
    }
    os.environ.update(messaging)
    return messaging


def provision(lab_status: dict, port: int) -> dict:
    """Tables, topology, playbooks, SSH key secret, the key pairs' KMS key and demo accounts (each with
    a bearer key and a CloudStack key pair for the API on ``port``) on the configured endpoint."""
    import boto3

    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings
    from sysvmdiag.playbooks.store import load_playbooks
    from sysvmdiag.topology.loader import load_topology_into_tables
    from sysvmdiag.topology.model import load_topology
    from sysvmdiag.topology.store import create_tables, table_names_from_env

    dynamodb = boto3.resource("dynamodb")
    create_tables(dynamodb, table_names_from_env())
    store = bootstrap.topology_store(Settings.from_env(), dynamodb)
    topology = load_topology(lab_status["topology"])
    load_topology_into_tables(topology, store, lab_status)
    load_playbooks(PLAYBOOKS_FILE, store.topology_table)

    secretsmanager = boto3.client("secretsmanager")
    private_key = Path(lab_status["private_key"]).read_text()
    try:
        secretsmanager.create_secret(Name=SSH_KEY_SECRET_ID, SecretString=private_key)
    except secretsmanager.exceptions.ResourceExistsException:
        secretsmanager.put_secret_value(SecretId=SSH_KEY_SECRET_ID, SecretString=private_key)

    kms_key_id = provision_keypair_kms_key()
    keypairs = bootstrap.keypair_store(Settings.from_env(), dynamodb)
    accounts = [_demo_account(topology.account(name), store, keypairs, port) for name in DEMO_ACCOUNTS]
    vms = [
        {"id": vm.uuid, "name": vm.vm_name, "host": vm.name, "kind": vm.kind.value}
        for vm in topology.system_vms()
    ]
    return {"accounts": accounts, "systemvms": vms, "cloudstackKeysKmsKeyId": kms_key_id}


def _demo_account(account: Account, store: TopologyStore, keypairs: KeyPairStore, port: int) -> dict:
    """A demo account's entry in server.json, with a new bearer key and a new CloudStack key pair."""
    from sysvmdiag.accounts import generate_api_key

    api_key = generate_api_key()
    store.put_account(account, api_key)
    pair = keypairs.issue(account)
    return {
        "name": account.name,
        "id": account.id,
        "role": account.role.value,
        "domain": account.domain,
        "apiKey": api_key,
        "cloudstack": {
            "endpoint": f"http://127.0.0.1:{port}/client/api",
            "apiKey": pair.api_key,
            "secretKey": pair.secret_key,
        },
    }


def _wait_for_a_stop_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def _announce(ready: Path, status: dict) -> None:
    """server.json appears whole (written aside, then renamed): the stack's CLI waits for it."""
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2))
    os.chmod(tmp, 0o600)  # it holds the demo API keys and key pairs' secret keys
    tmp.replace(ready)


def _start_functions(state: Path, port: int, messaging: dict[str, str]) -> tuple[Callable[[], None], dict]:
    """The functions' instances, the HTTP front on ``port`` and the queue poller, started; returns what
    stops them all and the scaling settings (for server.json)."""
    import boto3

    from sysvmdiag.local.gateway import LocalGateway
    from sysvmdiag.local.http_server import HttpFront
    from sysvmdiag.local.instance_stats import StatsFile
    from sysvmdiag.local.instances import FunctionInstances, scaling_from_env
    from sysvmdiag.local.worker import QueuePoller

    # Each function in its own instance processes, one event at a time, as Lambda runs them.
    max_instances, idle_seconds, max_starting = scaling_from_env(os.environ)
    functions = {
        name: FunctionInstances(target, max_instances, idle_seconds, max_starting=max_starting)
        for name, target in (
            ("api", "functions.api.app:lambda_handler"),
            ("authorizer", "functions.authorizer.app:lambda_handler"),
            ("worker", "functions.worker.app:lambda_handler"),
            ("cloudstack", "functions.cloudstack_api.app:lambda_handler"),
        )
    }
    functions["sweeper"] = FunctionInstances("functions.worker.app:sweep_handler", 1, idle_seconds)
    stats = StatsFile(state, functions).start()
    gateway = LocalGateway(
        functions["api"], functions["authorizer"], open_routes={CLOUDSTACK_API_PATH: functions["cloudstack"]}
    )
    # One thread per request in flight: as many as the API may have instances, and a margin.
    server = HttpFront(gateway, "127.0.0.1", port, max_in_flight=2 * max_instances).start()
    poller = QueuePoller(
        boto3.client("sqs"),
        messaging["JOBS_QUEUE_URL"],
        functions["worker"],
        sweeper=functions["sweeper"],
        concurrency=WORKER_CONCURRENCY,
    )
    poller.start()

    def stop() -> None:
        poller.stop()
        server.stop()
        for instances in functions.values():
            instances.shutdown()
        stats.stop()

    return stop, {
        "maxInstances": max_instances,
        "instanceIdleSeconds": idle_seconds,
        "maxStarting": max_starting,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sysvmdiag-local-server")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--lab-status", required=True, type=Path)
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)

    from sysvmdiag.local.motoserver import start_moto_server

    aws = start_moto_server()
    configure_environment(aws.endpoint_url)
    messaging = provision_messaging()
    lab_status = json.loads(args.lab_status.read_text())
    provisioned = provision(lab_status, args.port)

    sys.path.insert(0, str(REPO_ROOT))
    stop_functions, scaling = _start_functions(args.state, args.port, messaging)
    status = {
        "pid": os.getpid(),
        "apiUrl": f"http://127.0.0.1:{args.port}",
        "awsEndpointUrl": aws.endpoint_url,
        "tables": TABLES,
        "sshKeySecretId": SSH_KEY_SECRET_ID,
        "jobsQueueUrl": messaging["JOBS_QUEUE_URL"],
        "jobsDeadLetterQueueUrl": messaging["JOBS_DEAD_LETTER_QUEUE_URL"],
        "resultsTopicArn": messaging["RESULTS_TOPIC_ARN"],
        "dataBucket": DATA_BUCKET,
        "limits": os.environ.get("LIMITS_JSON") or None,
        "resultCacheSeconds": int(os.environ["RESULT_CACHE_SECONDS"]),
        **scaling,
        **provisioned,
    }
    _announce(args.state / "server.json", status)
    _wait_for_a_stop_signal()
    stop_functions()
    aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
