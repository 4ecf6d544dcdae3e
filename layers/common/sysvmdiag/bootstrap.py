"""The composition root: every adapter built from one ``Settings``, in one place.

Handlers call these once per process (warm invocations reuse what they built); adapters receive their
table, queue and client objects and never read the environment themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sysvmdiag.config import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from paramiko import PKey

    from sysvmdiag.audit import AuditStore
    from sysvmdiag.bundles import S3Bundles
    from sysvmdiag.cloudstack.apikeys import ApiKeyPair
    from sysvmdiag.cloudstack.client import CloudStackClient
    from sysvmdiag.cloudstack.scheduled import ScheduledSync
    from sysvmdiag.facade.front_door import CloudStackFrontDoor
    from sysvmdiag.jobs import JobStore
    from sysvmdiag.keypairs import KeyPairStore
    from sysvmdiag.limits import LimitStore
    from sysvmdiag.matrix_store import MatrixStore
    from sysvmdiag.pipeline.job_worker import JobFinishedHook
    from sysvmdiag.pipeline.ports import Clock, Runner, RunnerFactory
    from sysvmdiag.pipeline.service import DiagnosticsService
    from sysvmdiag.playbooks.runs import PlaybookRuns
    from sysvmdiag.playbooks.store import PlaybookStore
    from sysvmdiag.result_cache import ResultCacheStore
    from sysvmdiag.state_reads import StateReadStore
    from sysvmdiag.topology.model import SshEndpoint
    from sysvmdiag.topology.store import TopologyStore


def dynamodb() -> Any:
    import boto3

    return boto3.resource("dynamodb")


def topology_store(settings: Settings, resource: Any = None) -> TopologyStore:
    from sysvmdiag.topology.store import TopologyStore

    resource = resource or dynamodb()
    return TopologyStore(resource.Table(settings.topology_table), resource.Table(settings.accounts_table))


def keypair_store(settings: Settings, dynamodb: Any = None, kms: Any = None) -> KeyPairStore:
    """Accounts' CloudStack key pairs in the accounts table, sealed with CLOUDSTACK_KEYS_KMS_KEY_ID
    (``kms``: a boto3 KMS client to use instead of boto3's default one, e.g. on another endpoint)."""
    import boto3

    from sysvmdiag.keypairs import KeyPairStore

    resource = dynamodb or boto3.resource("dynamodb")
    return KeyPairStore(
        resource.Table(settings.accounts_table),
        kms or boto3.client("kms"),
        settings.cloudstack_keys_kms_key_id,
    )


def playbook_store(settings: Settings, resource: Any = None) -> PlaybookStore:
    from sysvmdiag.playbooks.store import PlaybookStore

    return PlaybookStore((resource or dynamodb()).Table(settings.topology_table))


def playbook_runs(settings: Settings, resource: Any = None) -> PlaybookRuns:
    import boto3

    from sysvmdiag.playbooks.runs import PlaybookRuns

    return PlaybookRuns(job_store(settings, resource), boto3.client("sns"), settings.results_topic_arn)


def job_finished_hook(settings: Settings) -> JobFinishedHook:
    """The worker's playbook-run hook; its clients are built on first use (a playbook job's end)."""
    from sysvmdiag.playbooks.runs import FinishedJobNotifier

    return FinishedJobNotifier(lambda: playbook_runs(settings))


def idempotency_table(settings: Settings) -> str:
    return _required(settings.idempotency_table, "IDEMPOTENCY_TABLE")


def job_store(settings: Settings, resource: Any = None) -> JobStore:
    from sysvmdiag.jobs import JobStore

    return JobStore((resource or dynamodb()).Table(_required(settings.jobs_table, "JOBS_TABLE")))


def result_cache(settings: Settings, resource: Any = None) -> ResultCacheStore | None:
    """The result cache on the jobs table; None (no cache) when RESULT_CACHE_SECONDS is 0 or there is
    no jobs table."""
    from sysvmdiag.result_cache import ResultCacheStore

    if not settings.result_cache_seconds or not settings.jobs_table:
        return None
    return ResultCacheStore((resource or dynamodb()).Table(settings.jobs_table))


def matrix_store(settings: Settings, resource: Any = None) -> MatrixStore:
    """Reachability matrices' records, on the jobs table."""
    from sysvmdiag.matrix_store import MatrixStore

    return MatrixStore((resource or dynamodb()).Table(_required(settings.jobs_table, "JOBS_TABLE")))


def state_read_store(settings: Settings, resource: Any = None) -> StateReadStore:
    """Kept VM-state reads (getDiagnosticsData's async answers), on the jobs table."""
    from sysvmdiag.state_reads import StateReadStore

    return StateReadStore((resource or dynamodb()).Table(_required(settings.jobs_table, "JOBS_TABLE")))


def limit_store(settings: Settings, resource: Any = None) -> LimitStore:
    from sysvmdiag.limits import LimitStore

    return LimitStore((resource or dynamodb()).Table(_required(settings.limits_table, "LIMITS_TABLE")))


def audit_store(settings: Settings, resource: Any = None) -> AuditStore:
    from sysvmdiag.audit import AuditStore

    return AuditStore((resource or dynamodb()).Table(_required(settings.audit_table, "AUDIT_TABLE")))


def cloudstack_keys(settings: Settings, *, force_fetch: bool = False) -> ApiKeyPair:
    """The sync's CloudStack key pair, from the secret CLOUDSTACK_SECRET_NAME names (cached by powertools)."""
    from sysvmdiag.cloudstack.apikeys import read_api_keys

    return read_api_keys(
        _required(settings.cloudstack_secret_name, "CLOUDSTACK_SECRET_NAME"),
        max_age=settings.cloudstack_secret_max_age_seconds,
        force_fetch=force_fetch,
        provider=secrets_provider(),
    )


def cloudstack_client(settings: Settings, keys: ApiKeyPair | None = None) -> CloudStackClient:
    """The scheduled sync's CloudStack API client: CLOUDSTACK_URL and ``keys`` (default: the secret's)."""
    from sysvmdiag.cloudstack.client import CloudStackClient

    url = _required(settings.cloudstack_url, "CLOUDSTACK_URL")
    keys = keys or cloudstack_keys(settings)
    return CloudStackClient(url, keys.api_key, keys.secret_key, timeout=settings.cloudstack_timeout_seconds)


def topology_sync(settings: Settings, resource: Any = None) -> ScheduledSync:
    """The scheduled sync of the zone CLOUDSTACK_ZONE at CLOUDSTACK_URL into the topology and accounts
    tables; missing settings are named when it runs (so the failed invocation says which)."""
    from sysvmdiag.cloudstack.scheduled import ScheduledSync

    return ScheduledSync(
        store=topology_store(settings, resource),
        url=settings.cloudstack_url,
        secret=settings.cloudstack_secret_name,
        zone=settings.cloudstack_zone,
        keys=lambda force_fetch: cloudstack_keys(settings, force_fetch=force_fetch),
        client_for=lambda keys: cloudstack_client(settings, keys),
    )


def service(
    settings: Settings,
    *,
    job_finished: JobFinishedHook | None = None,
    resource: Any = None,
    runner_for: RunnerFactory | None = None,
    clock: Clock | None = None,
) -> DiagnosticsService:
    """The pipeline over DynamoDB, SQS and the SSH runner; parts the settings leave out are null objects."""
    import boto3

    from sysvmdiag.jobs import JobQueue
    from sysvmdiag.limits import parse_limits
    from sysvmdiag.pipeline.service import DiagnosticsService
    from sysvmdiag.pipeline.topology_cache import CachedTopology

    resource = resource or dynamodb()
    account_limits, vm_runs = parse_limits(settings.limits_json)
    extras: dict[str, Any] = {}
    if job_finished is not None:
        extras["job_finished"] = job_finished
    if clock is not None:
        extras["clock"] = clock
    return DiagnosticsService(
        CachedTopology(topology_store(settings, resource), settings.topology_cache_seconds),
        runner_for or runner_factory(settings),
        settings.sync_budget_seconds,
        jobs=job_store(settings, resource) if settings.jobs_table else None,
        queue=JobQueue(settings.jobs_queue_url, boto3.client("sqs")) if settings.jobs_queue_url else None,
        audit=audit_store(settings, resource) if settings.audit_table else None,
        limits=limit_store(settings, resource) if settings.limits_table else None,
        account_limits=account_limits,
        vm_concurrent_runs=vm_runs,
        result_cache=result_cache(settings, resource),
        result_cache_seconds=settings.result_cache_seconds,
        matrices=matrix_store(settings, resource) if settings.jobs_table else None,
        bundles=state_bundles(settings),
        bundle_url_seconds=settings.data_url_ttl_seconds,
        state_reads=state_read_store(settings, resource) if settings.jobs_table else None,
        **extras,
    )


def state_bundles(settings: Settings, client: Any = None) -> S3Bundles | None:
    """VM-state bundles in DATA_BUCKET (None without one). On an endpoint other than AWS's (moto's
    server) URLs are path-style: a bucket name cannot be a host name there."""
    if not settings.data_bucket:
        return None
    import boto3
    from botocore.config import Config

    from sysvmdiag.bundles import S3Bundles

    if client is None:
        style = "path" if settings.aws_endpoint_url else "auto"
        client = boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": style}))
    return S3Bundles(settings.data_bucket, client)


def cloudstack_front_door(settings: Settings, resource: Any = None) -> CloudStackFrontDoor:
    """``/client/api``: CloudStack's protocol over the same pipeline, callers found by their key pairs."""
    from sysvmdiag.facade.front_door import CloudStackFrontDoor

    resource = resource or dynamodb()
    return CloudStackFrontDoor(service(settings, resource=resource), keypair_store(settings, resource))


def runner_factory(settings: Settings) -> Any:
    """Runners per bastion endpoint (kept warm across invocations); the key from Secrets Manager."""

    def runner_for(bastion: SshEndpoint) -> Runner:
        from sysvmdiag.runner import get_runner

        return get_runner(bastion, lambda: ssh_private_key(settings))

    return runner_for


def ssh_private_key(settings: Settings, secrets_client: Any = None) -> PKey:
    """The runner's SSH private key (it logs into the bastion and the system VMs): the Secrets Manager
    secret SSH_KEY_SECRET_ID, cached SSH_KEY_MAX_AGE_SECONDS. ``secrets_client`` is a boto3 Secrets
    Manager client to read it through instead of boto3's default one (operators' commands)."""
    from sysvmdiag.runner import load_private_key

    return load_private_key(
        settings.ssh_key_secret_id,
        max_age=settings.ssh_key_max_age_seconds,
        provider=secrets_provider(secrets_client),
    )


def secrets_provider(secrets_client: Any = None) -> SecretsProvider:
    """Powertools' Secrets Manager provider: on ``secrets_client`` if given, else the process's default
    one, made on boto3's default session (issue 17: powertools' own default makes a new session, which
    loads botocore's data files again, ~70 ms of a cold request); kept where ``get_secret`` keeps it."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if secrets_client is not None:
        return SecretsProvider(boto3_client=secrets_client)
    if "secrets" not in DEFAULT_PROVIDERS:
        import boto3

        DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=boto3.client("secretsmanager"))
    return DEFAULT_PROVIDERS["secrets"]


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise RuntimeError(f"set {variable}")
    return value
