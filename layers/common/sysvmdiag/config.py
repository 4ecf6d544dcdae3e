"""Settings: every environment variable the functions read, validated once, documented here.

The same code runs on AWS and in the local stack; the local stack only sets other values (table names,
``AWS_ENDPOINT_URL`` for moto's server, which boto3 reads itself). ``sysvmdiag.bootstrap`` builds every
adapter from one ``Settings``; nothing else reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# The longest RESULT_CACHE_SECONDS: a cached answer is a few minutes old at most, never a stale picture.
MAX_RESULT_CACHE_SECONDS = 300


class SettingsError(RuntimeError):
    """A variable is missing or malformed; the message names each one."""


class Settings(BaseModel):
    """The functions' configuration (template.yaml's Globals and per-function variables)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    topology_table: str = Field(alias="TOPOLOGY_TABLE", min_length=3)
    accounts_table: str = Field(alias="ACCOUNTS_TABLE", min_length=3)
    # Optional parts: without a jobs table and queue, long runs are refused (422) instead of queued;
    # without a limits table nothing is limited; without an audit table records only go to the log.
    jobs_table: str | None = Field(None, alias="JOBS_TABLE")
    jobs_queue_url: str | None = Field(None, alias="JOBS_QUEUE_URL")
    audit_table: str | None = Field(None, alias="AUDIT_TABLE")
    limits_table: str | None = Field(None, alias="LIMITS_TABLE")
    idempotency_table: str | None = Field(None, alias="IDEMPOTENCY_TABLE")
    results_topic_arn: str | None = Field(None, alias="RESULTS_TOPIC_ARN")
    ssh_key_secret_id: str = Field("sysvmdiag/ssh-private-key", alias="SSH_KEY_SECRET_ID", min_length=1)
    ssh_key_max_age_seconds: int = Field(300, alias="SSH_KEY_MAX_AGE_SECONDS", ge=0, le=86_400)
    # API Gateway's HTTP API waits 30 s at most; keep room for the handshake and the answer.
    sync_budget_seconds: float = Field(25.0, alias="SYNC_BUDGET_SECONDS", gt=0, le=28)
    limits_json: str | None = Field(None, alias="LIMITS_JSON")
    # How long a synchronous result may answer an identical request of the same account that asks for
    # it (``cache: true``), from the jobs table. 0: no request is answered from a stored result.
    result_cache_seconds: int = Field(0, alias="RESULT_CACHE_SECONDS", ge=0, le=MAX_RESULT_CACHE_SECONDS)
    # How long a warm instance keeps a VM's decision context (one BatchGetItem saved per request): the
    # bound on how late a topology change reaches its decisions. 0: read for every request.
    topology_cache_seconds: float = Field(5.0, alias="TOPOLOGY_CACHE_SECONDS", ge=0, le=60)
    # Connect to the zone's bastion in the background while the function's Init still imports (the
    # template and the local stack set it): the first run finds the connection made.
    bastion_warm_at_init: bool = Field(False, alias="BASTION_WARM_AT_INIT")
    # VM-state bundles (POST /diagnostics/data): the S3 bucket, and how long a download URL works.
    # Unset bucket: reading a VM's state is refused (503).
    data_bucket: str | None = Field(None, alias="DATA_BUCKET")
    data_url_ttl_seconds: int = Field(900, alias="DATA_URL_TTL_SECONDS", ge=60, le=43_200)
    # Set only off AWS (moto's server): boto3 reads it itself; S3 URLs are then path-style.
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")
    # The scheduled topology sync (functions/sync): the CloudStack API endpoint, the zone (name or id;
    # unset: the only zone the key sees), and the Secrets Manager secret holding {"apiKey", "secretKey"}.
    cloudstack_url: str | None = Field(None, alias="CLOUDSTACK_URL", pattern=r"^https?://\S+$")
    cloudstack_zone: str | None = Field(None, alias="CLOUDSTACK_ZONE")
    cloudstack_secret_name: str | None = Field(None, alias="CLOUDSTACK_SECRET_NAME")
    cloudstack_secret_max_age_seconds: int = Field(
        300, alias="CLOUDSTACK_SECRET_MAX_AGE_SECONDS", ge=0, le=86_400
    )
    cloudstack_timeout_seconds: float = Field(30.0, alias="CLOUDSTACK_TIMEOUT_SECONDS", gt=0, le=120)
    # The KMS key (id, ARN or alias) sealing the secret keys of accounts' CloudStack key pairs
    # (sysvmdiag.keypairs): issuing needs kms:Encrypt on it, checking a signed request kms:Decrypt.
    # Unset: key pairs cannot be issued.
    cloudstack_keys_kms_key_id: str | None = Field(None, alias="CLOUDSTACK_KEYS_KMS_KEY_ID")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process (or of ``environ``); a bad value raises naming the variable."""
        values = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise SettingsError(f"the environment is not a valid configuration: {problems}") from None
