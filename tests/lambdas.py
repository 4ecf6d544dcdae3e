"""Handlers invoked in the test process: reset them to what a new Lambda process starts with."""

from __future__ import annotations


def fresh_process() -> None:
    """No cached service, store, secret provider or SSH connection in any function.

    Needed whenever tests point the handlers at another endpoint or tables: powertools' default secrets
    provider, like every boto3 client, keeps the endpoint it was made with.
    """
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters import constants

    from functions.alarm import app as alarm_app
    from functions.api import app as api_app
    from functions.authorizer import app as authorizer_app
    from functions.sync import app as sync_app
    from functions.worker import app as worker_app
    from sysvmdiag.runner import clear_runners

    api_app._service.cache_clear()
    authorizer_app._store.cache_clear()
    worker_app._settings.cache_clear()
    worker_app._service.cache_clear()
    worker_app._idempotent_run_job.cache_clear()
    alarm_app.reset_clients()
    sync_app.reset_clients()
    parameters.clear_caches()
    constants.DEFAULT_PROVIDERS.pop("secrets", None)
    clear_runners()
