"""The CloudStack API key pair of the scheduled sync, read from a Secrets Manager secret.

The secret holds ``{"apiKey": "...", "secretKey": "..."}`` (a root admin's keys: a sync lists every
account's objects). It is read through powertools' parameters utility, cached ``max_age`` seconds in a
warm Lambda; nothing here ever logs or repeats the secret's value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

PUT_HINT = (
    "put the key pair in with `aws secretsmanager put-secret-value --secret-id {secret} "
    '--secret-string \'{{"apiKey": "...", "secretKey": "..."}}\'`'
)


class ApiKeySecretError(RuntimeError):
    """The secret cannot be read, or does not hold an API key pair; the message says which and how to fix."""


@dataclass(frozen=True)
class ApiKeyPair:
    api_key: str
    secret_key: str

    def __repr__(self) -> str:  # never the keys themselves (a traceback or a log line may show this)
        return "ApiKeyPair(<not shown>)"


def parse_api_keys(value: Any, secret: str) -> ApiKeyPair:
    """The key pair in a secret's value (JSON text, or the dict a JSON transform made)."""
    hint = PUT_HINT.format(secret=secret)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiKeySecretError(f"secret {secret} is not JSON; {hint}") from None
    if not isinstance(value, dict):
        raise ApiKeySecretError(f"secret {secret} is not a JSON object; {hint}")
    missing = [name for name in ("apiKey", "secretKey") if not _text(value.get(name))]
    if missing:
        raise ApiKeySecretError(f"secret {secret} has no {' or '.join(missing)}; {hint}")
    return ApiKeyPair(api_key=value["apiKey"].strip(), secret_key=value["secretKey"].strip())


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def read_api_keys(
    secret: str, *, max_age: int, force_fetch: bool = False, provider: SecretsProvider | None = None
) -> ApiKeyPair:
    """The key pair in ``secret`` (a name or ARN), through powertools (cached ``max_age`` seconds).

    The endpoint is boto3's own (``AWS_ENDPOINT_URL`` locally); pass a ``SecretsProvider`` to use another
    client. A secret created empty (as template.yaml creates it) is refused naming the command to fill it.
    """
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        if provider is not None:
            value = provider.get(secret, max_age=max_age, force_fetch=force_fetch)
        else:
            value = parameters.get_secret(secret, max_age=max_age, force_fetch=force_fetch)
    except GetParameterError as err:
        raise ApiKeySecretError(
            f"cannot read secret {secret}: {err}; {PUT_HINT.format(secret=secret)}"
        ) from None
    return parse_api_keys(value, secret)
