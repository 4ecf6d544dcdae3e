"""What ships where: the Lambda layer holds what Lambda runs, and every function imports from it alone.

`make -C layers/common lambda-files` is the file set `sam build` puts in the layer (layers/common/Makefile,
BuildMethod makefile); the pinned dependencies come from this venv's site-packages, without the editable
install of the repository (``python -S`` processes no .pth file), so nothing outside the layer is seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_FOR_LAMBDA = ("local", "cli", "vmside.py")


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layer")
    subprocess.run(
        ["make", "-s", "-C", str(REPO / "layers" / "common"), "lambda-files", f"ARTIFACTS_DIR={out}"],
        check=True,
    )
    return out / "python"


def _python_with(layer: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = f"{layer}:{sysconfig.get_paths()['purelib']}"
    return subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=cwd, env={"PYTHONPATH": path}, capture_output=True, text=True
    )


def test_the_layer_leaves_out_the_local_stack_the_cli_and_the_vm_side(layer: Path) -> None:
    shipped = {p.name for p in (layer / "sysvmdiag").iterdir()}
    assert {"pipeline", "policy", "runner", "bootstrap.py", "toolargs.py"} <= shipped
    assert not shipped & set(NOT_FOR_LAMBDA)
    assert not list(layer.rglob("__pycache__"))


@pytest.mark.parametrize("function", ["api", "authorizer", "worker", "alarm", "sync"])
def test_each_function_imports_from_the_layer_alone(layer: Path, function: str) -> None:
    done = _python_with(
        layer, "import app, sysvmdiag; print(sysvmdiag.__file__)", REPO / "functions" / function
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(layer))


def test_every_module_of_the_layer_imports_without_what_was_left_out(layer: Path) -> None:
    modules = sorted(
        ".".join(p.relative_to(layer).with_suffix("").parts).removesuffix(".__init__")
        for p in (layer / "sysvmdiag").rglob("*.py")
    )
    code = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
    code += f"print({len(modules)})"
    done = _python_with(layer, code, layer)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(modules) > 40


def test_the_vm_side_runs_from_its_own_file_set(tmp_path: Path) -> None:
    """Five files and the standard library (no site, nothing else on the path): the forced command
    refuses what is not on the allow-list, says why and logs it, and answers a state request."""
    subprocess.run(
        ["make", "-s", "-C", str(REPO / "layers" / "common"), "vm-side-files", f"ARTIFACTS_DIR={tmp_path}"],
        check=True,
    )
    assert sorted(p.name for p in (tmp_path / "sysvmdiag").iterdir()) == [
        "__init__.py",
        "toolargs.py",
        "vmside.py",
        "vmside_state.py",
        "vmstate.py",
    ]
    log = tmp_path / "runs.jsonl"
    done = subprocess.run(
        [sys.executable, "-S", "-m", "sysvmdiag.vmside", "--host", "unit", "--log", str(log)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "SSH_ORIGINAL_COMMAND": "ping -c 1 10.0.0.1; reboot"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 126 and done.stdout == "", done.stderr
    assert "refused: '10.0.0.1;' contains ';'" in done.stderr
    assert '"accepted": false' in log.read_text() and '"code": "INVALID_OPTION"' in log.read_text()
    state = subprocess.run(
        [sys.executable, "-S", "-m", "sysvmdiag.vmside", "--host", "unit", "--tool-dir", str(tmp_path)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "SSH_ORIGINAL_COMMAND": "state rules log:sysvmdiag"},
        capture_output=True,
        text=True,
    )
    assert state.returncode == 0, state.stderr
    answer = json.loads(state.stdout)  # no ip in the tool dir: each command says so, the document holds
    assert [run["exitStatus"] for run in answer["parts"]["rules"]] == [127, 127]
    assert answer["logs"]["sysvmdiag"]["present"] is False
