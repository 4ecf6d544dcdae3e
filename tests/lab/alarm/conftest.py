"""Fixtures of the alarm end-to-end test: a local stack of its own on the shared lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# -- the local stack on the shared lab (end-to-end) ---------------------------------------------------


@pytest.fixture(scope="session")
def alarm_stack(lab_status: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A local stack of our own (state folder, port, moto, worker) on the shared lab."""
    from sysvmdiag.local.motoserver import free_loopback_port
    from sysvmdiag.local.stack import LocalStack

    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("alarm-stack"),
        port=free_loopback_port(),
        lab_state_dir=Path(lab_status["state_dir"]),
    )
    status = stack.up(progress=lambda _line: None)
    yield status
    stack.down(keep_lab=True)


@pytest.fixture
def alarm_stack_env(alarm_stack: dict) -> Iterator[dict]:
    """This process set up as the stack's alarm function (its environment, fresh clients), then restored."""
    import os

    from functions.alarm import app as alarm_app
    from sysvmdiag.local.server import configure_from_status

    saved = dict(os.environ)
    configure_from_status(alarm_stack)
    alarm_app.reset_clients()
    yield alarm_stack
    alarm_app.reset_clients()
    os.environ.clear()
    os.environ.update(saved)
