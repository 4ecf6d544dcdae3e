"""Cold and warm requests of the API function against OpenSSH running the same forced command.

Ours, cold: a new process (``benchmarks.lambda_process``) imports the API function and handles one
HTTP API v2 event: new boto3 clients, new secret fetch, new bastion and VM SSH connections.
Ours, warm: the same process's later events (its bastion connection and its VM connection are
cached: one session channel per run). Also the running local API over HTTP (authorizer included,
each function in a warm instance process of its own).
OpenSSH, cold: ``ssh -J bastion <vm> <command line>`` (two connections, as ours).
OpenSSH, warm: with a ControlMaster on the VM itself (our design: everything reused, one session
channel per run), and with a ControlMaster on the bastion only (a new VM connection per run).
Floors: the tool alone in the VM's namespace, and the VM-side forced command alone.
The samples are interleaved (ours, theirs, ours, ...) so a busy neighbour hurts both sides alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import (
    LAB_SSH_CONFIG,
    REPO_ROOT,
    BenchmarkError,
    Target,
    summary,
    timed_run,
)
from sysvmdiag.identity import authorizer_context
from sysvmdiag.local.gateway import http_api_event
from sysvmdiag.topology.model import Topology

SSH = "/usr/bin/ssh"
IP = "/usr/sbin/ip"
PROCESS_TIMEOUT_SECONDS = 30.0


def diagnostic_event(topology: Topology, account_name: str, body: dict) -> dict:
    """The event API Gateway hands the API function once the authorizer accepted ``account_name``."""
    event = http_api_event(
        "POST",
        "/diagnostics",
        {"content-type": "application/json", "host": "127.0.0.1", "user-agent": "sysvmdiag-bench"},
        json.dumps(body).encode(),
        "127.0.0.1",
    )
    event["requestContext"]["authorizer"] = {"lambda": authorizer_context(topology.account(account_name))}
    return event


class LambdaProcess:
    """One fresh execution environment of the API function (a child process, see lambda_process)."""

    def __init__(
        self, announce_ready: bool = False, env: dict[str, str] | None = None, prelude: str = ""
    ) -> None:
        spawned_at = time.monotonic_ns()
        extra = ["--announce-ready"] if announce_ready else []
        extra += ["--prelude", prelude] if prelude else []
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.lambda_process", "--spawned-at-ns", str(spawned_at), *extra],
            cwd=REPO_ROOT,
            env=env,  # None: this process's environment (the functions' variables, see common)
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the function's JSON logs; not what we measure
            text=True,
        )

    def wait_ready(self) -> dict:
        """The ready line of a process started with ``announce_ready`` (its Init is done)."""
        return self._read_line()

    def invoke_raw(self, event: dict) -> dict:
        """One event in, the answer out, whatever its status."""
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(event) + "\n")
        self._process.stdin.flush()
        return self._read_line()

    def _read_line(self) -> dict:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise BenchmarkError(f"the Lambda process exited with {self._process.wait(5)} before answering")
        return json.loads(line)

    def invoke(self, event: dict) -> dict:
        """One event that must succeed (a latency sample)."""
        answer = self.invoke_raw(event)
        if answer["statusCode"] != 200 or answer["success"] is not True:
            raise BenchmarkError(f"the diagnostic did not succeed: {answer}")
        return answer

    def close(self) -> None:
        """End of input ends the child; it is ours, so wait for it (kill only this pid if it hangs)."""
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@contextmanager
def lambda_process() -> Iterator[LambdaProcess]:
    process = LambdaProcess()
    try:
        yield process
    finally:
        process.close()


class OpenSsh:
    """OpenSSH with the lab's client config, optionally through ControlMaster sockets we own."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._masters: list[tuple[Path, str, subprocess.Popen]] = []

    def config_with_control_path(self, alias: str) -> Path:
        """The lab's config plus a ControlPath for ``alias`` (an Include inside a Host block would be
        conditional on it, so the Include comes first; the lab's config sets no ControlPath)."""
        config = self.workdir / f"ssh_config.mux-{alias}"
        socket = self.workdir / f"{alias}.sock"
        config.write_text(f"Include {LAB_SSH_CONFIG}\n\nHost {alias}\n  ControlPath {socket}\n")
        return config

    def start_master(self, config: Path, alias: str) -> None:
        """A foreground master (-M -N) we hold by pid, ready once ``-O check`` answers."""
        process = subprocess.Popen(
            [SSH, "-F", str(config), "-M", "-N", "-o", "ControlPersist=no", alias],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._masters.append((config, alias, process))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            check = subprocess.run(
                [SSH, "-F", str(config), "-O", "check", alias], capture_output=True, check=False
            )
            if check.returncode == 0:
                return
            if process.poll() is not None:
                raise BenchmarkError(f"the OpenSSH master for {alias} exited with {process.returncode}")
            time.sleep(0.05)
        raise BenchmarkError(f"the OpenSSH master for {alias} did not come up in 15 s")

    def stop_masters(self) -> None:
        """``-O exit`` through each socket, then wait for (or kill) exactly the pid we started."""
        for config, alias, process in reversed(self._masters):
            subprocess.run([SSH, "-F", str(config), "-O", "exit", alias], capture_output=True, check=False)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._masters.clear()

    def run_ms(self, argv: list[str]) -> float:
        return timed_run(argv, timeout=PROCESS_TIMEOUT_SECONDS)


def ssh_jump_argv(config: Path, target: Target) -> list[str]:
    """``ssh -J bastion <vm> <command line>``: the same command line our runner sends."""
    return [SSH, "-F", str(config), "-J", "bastion", target.ssh_alias, target.command_line()]


def ssh_direct_argv(config: Path, target: Target) -> list[str]:
    """Through the VM's ControlMaster: no connection set-up at all, one session channel."""
    return [SSH, "-F", str(config), target.ssh_alias, target.command_line()]


def floor_argv(target: Target) -> list[str]:
    """The tool alone, in the VM's namespace."""
    return [IP, "netns", "exec", target.namespace, *target.argv()]


def forced_command_argv(target: Target, log: Path) -> list[str]:
    """The VM-side forced command alone (as sshd runs it, with our own log file)."""
    return [
        IP,
        "netns",
        "exec",
        target.namespace,
        "env",
        "-i",
        f"SSH_ORIGINAL_COMMAND={target.command_line()}",
        sys.executable,
        "-I",
        "-m",
        "sysvmdiag.vmside",
        "--host",
        target.vm.name,
        "--log",
        str(log),
    ]


def http_request_ms(api_url: str, api_key: str, body: dict, timeout: float = 35.0) -> tuple[float, int, dict]:
    """One POST /diagnostics to the local API: (ms, status, parsed body); HTTP errors are answers."""
    request = urllib.request.Request(  # noqa: S310 - the loopback URL from server.json
        f"{api_url}/diagnostics",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), dict(error.headers)
    elapsed = (time.perf_counter() - started) * 1000
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        parsed = {"raw": raw.decode(errors="replace")[:200]}
    parsed["_retryAfter"] = headers.get("Retry-After") or headers.get("retry-after")
    return elapsed, status, parsed


def measure(
    topology: Topology, stack: dict, target: Target, cold_runs: int, warm_runs: int, progress=print
) -> dict:
    """All latency series on ``target``; returns summaries and raw samples (ms)."""
    admin_key = next(a["apiKey"] for a in stack["accounts"] if a["name"] == "admin")
    body = target.request_body()
    samples: dict[str, list[float]] = {
        name: []
        for name in (
            "ours_cold_total",
            "ours_cold_init",
            "ours_cold_invoke",
            "ours_cold_interpreter",
            "openssh_cold",
            "ours_warm_invoke",
            "ours_warm_http",
            "openssh_mux_bastion",
            "openssh_mux_vm",
            "floor_tool",
            "floor_forced_command",
        )
    }
    dynamodb: dict[str, list[int]] = {"cold": [], "warm": []}
    operations: dict[str, dict] = {}

    with tempfile.TemporaryDirectory(prefix="sysvmdiag-bench-") as tmp:
        workdir = Path(tmp)
        openssh = OpenSsh(workdir)
        progress(f"latency: {cold_runs} cold requests vs `ssh -J bastion {target.ssh_alias}` ...")
        for _ in range(cold_runs):
            with lambda_process() as process:
                answer = process.invoke(diagnostic_event(topology, "admin", body))
            samples["ours_cold_total"].append(answer["sinceSpawnMs"])
            samples["ours_cold_init"].append(answer["initMs"])
            samples["ours_cold_invoke"].append(answer["invokeMs"])
            samples["ours_cold_interpreter"].append(answer["interpreterStartMs"])
            dynamodb["cold"].append(answer["dynamodbCalls"])
            operations["cold"] = answer["dynamodbOperations"]
            samples["openssh_cold"].append(openssh.run_ms(ssh_jump_argv(LAB_SSH_CONFIG, target)))

        progress(f"latency: {warm_runs} warm requests vs OpenSSH ControlMaster (bastion, VM) ...")
        bastion_config = openssh.config_with_control_path("bastion")
        vm_config = openssh.config_with_control_path(target.ssh_alias)
        forced_log = workdir / "vmside.jsonl"
        try:
            openssh.start_master(bastion_config, "bastion")
            openssh.start_master(vm_config, target.ssh_alias)
            with lambda_process() as process:
                process.invoke(diagnostic_event(topology, "admin", body))  # the cold one, not counted
                http_request_ms(stack["apiUrl"], admin_key, body)  # warms an API instance and its connections
                for _ in range(warm_runs):
                    answer = process.invoke(diagnostic_event(topology, "admin", body))
                    samples["ours_warm_invoke"].append(answer["invokeMs"])
                    dynamodb["warm"].append(answer["dynamodbCalls"])
                    operations["warm"] = answer["dynamodbOperations"]
                    elapsed, status, reply = http_request_ms(stack["apiUrl"], admin_key, body)
                    if status != 200 or reply.get("success") is not True:
                        raise BenchmarkError(f"the local API did not run the diagnostic: {status} {reply}")
                    samples["ours_warm_http"].append(elapsed)
                    samples["openssh_mux_bastion"].append(
                        openssh.run_ms(ssh_jump_argv(bastion_config, target))
                    )
                    samples["openssh_mux_vm"].append(openssh.run_ms(ssh_direct_argv(vm_config, target)))
                    samples["floor_tool"].append(timed_run(floor_argv(target)))
                    samples["floor_forced_command"].append(timed_run(forced_command_argv(target, forced_log)))
        finally:
            openssh.stop_masters()

    return {
        "target": {
            "vm": target.name,
            "uuid": target.vm.uuid,
            "destination": target.destination,
            "commandLine": target.command_line(),
        },
        "summaries": {name: summary(values) for name, values in samples.items()},
        "samples": samples,
        "dynamodbCallsPerRequest": {
            "cold": summary([float(n) for n in dynamodb["cold"]]),
            "warm": summary([float(n) for n in dynamodb["warm"]]),
            "operations": operations,
        },
    }
