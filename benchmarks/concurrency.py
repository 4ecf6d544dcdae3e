"""N concurrent requests through one bastion: the running local API, as admin, spread over the VMs.

The local API runs its handler in instance processes, one event at a time each (up to its
concurrency, 10 for the API), like Lambda environments: each instance keeps its own bastion
connection and one VM connection per VM, so requests queue for a free instance and warm ones reuse
its connections. Requests start together (a barrier); each is bounded by
its own HTTP timeout, so the whole run is bounded too. 429s (our limits) are counted apart from
failures (anything else that is not a successful run).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from benchmarks.common import BenchmarkError, Target, percentile, summary
from benchmarks.latency import LambdaProcess, diagnostic_event, http_request_ms
from sysvmdiag.topology.model import Topology

REQUEST_TIMEOUT_SECONDS = 35.0


def measure(stack: dict, targets: list[Target], per_vm: int, progress=print) -> dict:
    admin_key = next(a["apiKey"] for a in stack["accounts"] if a["name"] == "admin")
    plan = [target for target in targets for _ in range(per_vm)]
    barrier = threading.Barrier(len(plan))
    progress(f"concurrency: {len(plan)} requests at once ({per_vm} on each of {len(targets)} VMs) ...")

    def one(target: Target) -> dict:
        barrier.wait(timeout=30)
        try:
            elapsed, status, body = http_request_ms(
                stack["apiUrl"], admin_key, target.request_body(), timeout=REQUEST_TIMEOUT_SECONDS
            )
        except OSError as exc:  # timeouts and resets are failures with a latency we did not see
            return {"vm": target.name, "status": None, "error": str(exc), "ms": None}
        return {
            "vm": target.name,
            "status": status,
            "success": body.get("success"),
            "code": body.get("code"),
            "answeredFor": body.get("targetName"),
            "retryAfter": body.get("_retryAfter"),
            "ms": elapsed,
        }

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(plan), thread_name_prefix="bench-load") as pool:
        outcomes = list(pool.map(one, plan))
    wall = (time.perf_counter() - started) * 1000

    result = _summarise(outcomes, wall, plan, per_vm, targets)
    result["mode"] = "HTTP to the running local API (instance processes, one event at a time each)"
    return result


def _summarise(
    outcomes: list[dict], wall: float, plan: list[Target], per_vm: int, targets: list[Target]
) -> dict:
    succeeded = [o for o in outcomes if o["status"] == 200 and o.get("success") is True]
    throttled = [o for o in outcomes if o["status"] == 429]
    failed = [o for o in outcomes if o not in succeeded and o not in throttled]
    latencies = [o["ms"] for o in succeeded]
    codes: dict[str, int] = {}
    for outcome in failed:
        if outcome["status"] is None:  # no HTTP answer at all: the connection failed
            key = f"no answer: {outcome['error']}"
        else:
            key = f"{outcome['status']} {outcome.get('code') or ''}".strip()
        codes[key] = codes.get(key, 0) + 1
    return {
        "requests": len(plan),
        "perVm": per_vm,
        "vms": [target.name for target in targets],
        "succeeded": len(succeeded),
        "throttled429": len(throttled),
        "retryAfter": sorted({o["retryAfter"] for o in throttled if o["retryAfter"]}),
        "failed": len(failed),
        # An answer about another VM than the one asked: the request was handled with another
        # request's event (state shared between concurrent invocations).
        "answeredForAnotherVm": sum(
            1 for o in outcomes if o["status"] == 200 and o["answeredFor"] != o["vm"]
        ),
        "failures": codes,
        "latencyMs": summary(latencies),
        "p50Ms": percentile(latencies, 50) if latencies else None,
        "p95Ms": percentile(latencies, 95) if latencies else None,
        "wallMs": wall,
        "outcomes": outcomes,
    }


ENVIRONMENT_INIT_TIMEOUT_SECONDS = 180.0


def measure_environments(topology: Topology, targets: list[Target], per_vm: int, progress=print) -> dict:
    """The same load as AWS would run it: one Lambda-like process per request, all cold.

    Every process finishes its Init first (imports), then all get their event at once: 50 new
    bastion connections at the same moment (the bastion's MaxStartups), 10 new connections per VM,
    50 Secrets Manager reads and the DynamoDB calls of 50 requests. On a 2-core machine the
    processes also compete for the CPU that 50 Lambda environments would each have of their own.
    """
    plan = [target for target in targets for _ in range(per_vm)]
    progress(f"concurrency: {len(plan)} Lambda-like processes, Init first, then one request each ...")
    processes: list[LambdaProcess] = []
    try:
        for _ in plan:
            processes.append(LambdaProcess(announce_ready=True))
        with ThreadPoolExecutor(max_workers=len(plan), thread_name_prefix="bench-init") as pool:
            ready = pool.map(LambdaProcess.wait_ready, processes, timeout=ENVIRONMENT_INIT_TIMEOUT_SECONDS)
            init_ms = [answer["initMs"] for answer in ready]
        events = [diagnostic_event(topology, "admin", target.request_body()) for target in plan]
        barrier = threading.Barrier(len(plan))

        def one(index: int) -> dict:
            barrier.wait(timeout=30)
            started = time.perf_counter()
            try:
                answer = processes[index].invoke_raw(events[index])
            except BenchmarkError as exc:
                return {"vm": plan[index].name, "status": None, "error": str(exc), "ms": None}
            return {
                "vm": plan[index].name,
                "status": answer["statusCode"],
                "success": answer["success"],
                "code": answer["code"],
                "answeredFor": plan[index].name,  # one event per process: no other to mix with
                "retryAfter": None,
                "ms": (time.perf_counter() - started) * 1000,
            }

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(plan), thread_name_prefix="bench-env") as pool:
            futures = [pool.submit(one, index) for index in range(len(plan))]
            _done, late = wait(futures, timeout=REQUEST_TIMEOUT_SECONDS + 30)
            for future in late:  # bounded: a process that never answers is closed (EOF ends its read)
                processes[futures.index(future)].close()
            outcomes = [future.result() for future in futures]
        wall = (time.perf_counter() - started) * 1000
    finally:
        for process in processes:
            process.close()
    result = _summarise(outcomes, wall, plan, per_vm, targets)
    result["mode"] = "one Lambda-like process per request (cold connections), invoke time"
    result["initMs"] = summary(init_ms)
    return result
