"""Checks of the benchmark's own machinery (run: .venv/bin/pytest benchmarks/tests).

Not timed: they check that what the benchmarks compare is what they claim to compare.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import imports, latency
from benchmarks.common import LAB_SSH_CONFIG, REPO_ROOT, lab_topology, percentile, summary, target


def test_percentile_is_a_sample_not_an_interpolation():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 95) == 5.0
    assert percentile([7.0], 95) == 7.0
    assert summary([]) == {"n": 0, "median": None, "p95": None, "min": None, "max": None}


def test_importtime_lines_are_parsed_and_grouped_by_top_package():
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   botocore.compat\n"
        "import time:      1000 |       1120 | botocore\n"
        "import time:       500 |        500 | paramiko\n"
        "something else on stderr\n"
    )
    rows = imports.parse_importtime(stderr)
    assert rows == [("botocore.compat", 120, 120), ("botocore", 1000, 1120), ("paramiko", 500, 500)]
    assert imports.by_top_package(rows) == {"botocore": 1.12, "paramiko": 0.5}


def test_every_lambda_function_of_the_repository_is_measured():
    modules = imports.function_modules()
    assert "functions.api.app" in modules
    assert "functions.authorizer.app" in modules
    assert len(modules) == len(list((REPO_ROOT / "functions").glob("*/app.py")))


def test_openssh_runs_the_command_line_the_api_sends():
    vr = target(lab_topology(), "r-4-VM")
    argv = latency.ssh_jump_argv(LAB_SSH_CONFIG, vr)
    assert argv[-2:] == ["vr", "ping -n -c 1 -W 1 -w 1 198.51.100.80"]
    assert argv[-1] == vr.command_line()
    assert latency.floor_argv(vr) == ["/usr/sbin/ip", "netns", "exec", "svd-vr", *vr.argv()]


def test_control_path_config_keeps_the_lab_settings_of_every_host(tmp_path):
    """The ControlPath block must not swallow the lab's Host blocks (an Include inside a Host
    block is conditional on it: vr then resolved to port 22 and its own name)."""
    if not LAB_SSH_CONFIG.exists() or shutil.which("ssh") is None:
        pytest.fail(
            f"needs OpenSSH's client and the lab's {LAB_SSH_CONFIG}: apt-get install openssh-client, "
            "then .venv/bin/simvms up"
        )
    config = latency.OpenSsh(tmp_path).config_with_control_path("bastion")
    resolved = {}
    for alias in ("bastion", "vr"):
        completed = subprocess.run(
            ["ssh", "-G", "-F", str(config), alias], capture_output=True, text=True, check=True
        )
        resolved[alias] = dict(line.split(" ", 1) for line in completed.stdout.splitlines() if " " in line)
    assert resolved["bastion"]["controlpath"] == str(tmp_path / "bastion.sock")
    assert resolved["vr"]["hostname"] == "169.254.1.10"
    assert resolved["vr"]["port"] == "3922"
    assert resolved["vr"].get("controlpath", "none") == "none"


def test_the_lambda_like_process_answers_on_its_own_channel():
    """The function prints logs and metrics to stdout; the answers must still be parseable lines."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.lambda_process", "--spawned-at-ns", "0", "--announce-ready"],
        cwd=REPO_ROOT,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        },
        check=True,
    )
    lines = completed.stdout.splitlines()
    assert len(lines) == 1
    ready = json.loads(lines[0])
    assert ready["ready"] is True
    assert ready["initMs"] > 0
