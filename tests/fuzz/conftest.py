"""The fuzz suites reuse the local-stack fixtures of tests/api (one definition, imported here)."""

from __future__ import annotations

from tests.api.conftest import api_keys, handler_env, local_stack, local_store

__all__ = ["api_keys", "handler_env", "local_stack", "local_store"]
