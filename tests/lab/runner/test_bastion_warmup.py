"""Issue 17: the bastion warm-up of a function's Init, against the local stack (the zone's bastion and
the SSH key read from moto's DynamoDB and Secrets Manager, the lab's bastion sshd)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sysvmdiag.topology.model import SshEndpoint

pytestmark = pytest.mark.lab

WEB = "198.51.100.80"


def _vr(lab_status: dict[str, Any]) -> SshEndpoint:
    """The VR's endpoint as last written (other tests rekey VMs during the session)."""
    path = Path(lab_status["state_dir"]) / "status.json"
    current = json.loads(path.read_text()) if path.exists() else lab_status
    ssh = current["hosts"]["vr"]["ssh"]
    return SshEndpoint(address=ssh["address"], port=ssh["port"], user=ssh["user"], host_key=ssh["host_key"])


def test_the_warm_up_connects_the_runner_the_first_run_then_uses(lab_status, local_stack, handler_env):
    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings
    from sysvmdiag.runner import clear_runners
    from sysvmdiag.warmup import start_bastion_warmup, warm_bastion

    clear_runners()
    settings = Settings.from_env()
    runner = bootstrap.runner_factory(settings)(bootstrap.topology_store(settings).bastion().ssh)
    assert warm_bastion() is False and runner.transport is None  # off in process (handler_env)

    try:
        thread = start_bastion_warmup({**os.environ, "BASTION_WARM_AT_INIT": "true"})
        thread.join(timeout=30)
        assert not thread.is_alive()
        warmed = runner.transport
        assert warmed is not None and warmed.is_active(), "the warm-up made no bastion connection"
        vr = _vr(lab_status)
        assert not runner.connections_to(vr)  # only the bastion: the VM is not known before a request

        output = runner.run(vr, f"ping -n -c 1 -W 2 {WEB}", timeout=15, vm_label="vr")
        assert output.exit_code == 0, output.stderr
        assert runner.transport is warmed, "the first run made its own bastion connection"
    finally:
        clear_runners()
