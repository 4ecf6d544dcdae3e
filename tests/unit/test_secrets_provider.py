"""The Secrets Manager provider the runner's key and the sync's CloudStack keys are read through."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import SecretsProvider, constants

from sysvmdiag import bootstrap


@pytest.fixture(autouse=True)
def no_kept_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
    }.items():
        monkeypatch.setenv(name, value)  # a client is made, never used: no credentials looked up
    parameters.clear_caches()
    yield
    parameters.clear_caches()


def test_the_default_provider_is_made_once_on_boto3_s_default_session_where_get_secret_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Powertools' own default would make a new boto3 session (botocore's data files loaded again)."""
    made: list[str] = []
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda name, **kw: made.append(name) or real_client(name, **kw))
    monkeypatch.setattr(boto3.session, "Session", lambda *a, **kw: pytest.fail("a new boto3 session"))
    provider = bootstrap.secrets_provider()
    assert bootstrap.secrets_provider() is provider is constants.DEFAULT_PROVIDERS["secrets"]
    assert made == ["secretsmanager"]
    assert provider.client.meta.service_model.service_name == "secretsmanager"


def test_a_given_client_gets_its_own_provider_and_leaves_the_default_alone() -> None:
    client = boto3.client("secretsmanager", endpoint_url="http://127.0.0.1:9")
    provider = bootstrap.secrets_provider(client)
    assert isinstance(provider, SecretsProvider) and provider.client is client
    assert "secrets" not in constants.DEFAULT_PROVIDERS
