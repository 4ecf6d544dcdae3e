"""Fixtures of the compose lab suite (`make compose-test`): an engine, the lab, a local stack on it.

Every test here carries the `compose` marker, which the default pytest run deselects (see
pyproject.toml): these tests need Docker, and `make compose-test` runs them. A missing
prerequisite fails with the package to install; nothing is skipped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from simvms import baseimage, engine
from simvms.compose import IMAGE
from simvms.composelab import ComposeLab
from sysvmdiag.local.motoserver import free_loopback_port
from sysvmdiag.local.stack import LocalStack

HERE = Path(__file__).resolve().parent
# The API cases send many requests as the same demo accounts: limits raised as in the main suite.
SUITE_LIMITS_JSON = json.dumps(
    {role: {"concurrentJobs": 64, "requestsPerMinute": 100_000} for role in ("user", "domain_admin", "admin")}
)
OVERLAP_TOPOLOGY = HERE / "overlap.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(pytest.mark.compose)


@pytest.fixture(scope="session")
def compose_prerequisites() -> None:
    problems = engine.prerequisite_problems()
    if not baseimage.cache_tarball().exists() and shutil.which("debootstrap") is None:
        problems.append(
            "compose lab: missing debootstrap (builds the base image): apt-get install debootstrap"
        )
    if problems:
        pytest.fail("the compose tests cannot run: " + "; ".join(problems))


def _engine_objects() -> dict[str, set[str]]:
    return {
        "containers": set(engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()),
        "networks": set(engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()),
        "volumes": set(engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()),
        "images": set(
            engine.docker("images", "-a", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").stdout.splitlines()
        ),
    }


@pytest.fixture(scope="session")
def docker_engine(compose_prerequisites: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An engine for the session: the running one, or a dockerd started here and stopped at the end
    (by its pid). At the end the engine holds what it held before, plus the cached base image."""
    state = tmp_path_factory.mktemp("engine")
    started = engine.ensure_engine(state / "dockerd.pid", state / "dockerd.log")
    baseimage.ensure_base_image(progress=lambda _line: None)
    before = _engine_objects()
    yield
    after = _engine_objects()
    left = {kind: sorted(after[kind] - before[kind]) for kind in after}
    if started:
        engine.stop_engine(state / "dockerd.pid")
        assert not engine.engine_running(), "the dockerd this session started is still answering"
    assert not any(left.values()), f"the compose tests left behind: {left}"
    assert not any(IMAGE in line for line in after["images"]), f"{IMAGE} left behind"


@pytest.fixture(scope="session")
def compose_lab(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeLab]:
    lab = ComposeLab(state_dir=tmp_path_factory.mktemp("compose-lab"))
    lab.up(progress=lambda _line: None)
    yield lab
    lab.down(purge=True)


@pytest.fixture(scope="session")
def compose_status(compose_lab: ComposeLab) -> dict:
    status = compose_lab.status()
    assert status["up"], f"compose lab degraded: {status['problems']}"
    return status


@pytest.fixture(scope="session")
def compose_stack(compose_status: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The local stack on the compose lab (`sysvmdiag local up --lab compose`), own state and port."""
    stack = LocalStack(
        state_dir=tmp_path_factory.mktemp("compose-stack"),
        port=free_loopback_port(),
        lab_state_dir=Path(compose_status["state_dir"]),
        environment={"LIMITS_JSON": SUITE_LIMITS_JSON},
        lab="compose",
    )
    status = stack.up(progress=lambda _line: None)
    yield status
    stack.down(keep_lab=True)


@pytest.fixture(scope="session")
def compose_keys(compose_stack: dict) -> dict[str, str]:
    return {account["name"]: account["apiKey"] for account in compose_stack["accounts"]}


def ip_json(lab: ComposeLab, host: str, *args: str) -> list[dict]:
    """`ip -j ...` inside a host's container."""
    proc = lab.exec(host, ["ip", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout or "[]")
