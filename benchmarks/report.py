"""results.json -> results.md (the table ``make bench`` prints) and results.png (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import scale_requests
from benchmarks.common import ratio

# Issue 17's goals, as ratios sysvmdiag / OpenSSH of one run (one place for each figure).
COLD_GOAL = 1.25  # a new Lambda process (spawn to answer) vs `ssh -J bastion vm`
WARM_GOAL = 0.8  # a warm invoke vs a ControlMaster on the VM
WARM_HTTP_GOAL = 1.0  # a warm request over HTTP to the local API vs a ControlMaster on the VM
DYNAMODB_CALLS_GOAL = 4  # per warm synchronous request, the authorizer's included
LOAD_GOAL_REQUESTS = 100  # concurrent requests through one bastion (20 per VM), none failing
SCALE_GOAL = scale_requests.GOAL_RATIO  # warm request at 20,000 networks vs on the lab zone
HTTP_LOAD_LABEL = (
    "HTTP to the local API (API instance processes, one event at a time each, with their own bastion "
    "and VM connections)"
)
ENVIRONMENTS_LOAD_LABEL = "one cold Lambda-like process per request, Init done first (invoke time)"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _verdict(value: float | None, goal: float) -> str:
    if value is None:
        return "-"
    return f"<= {goal:g}x: {'met' if value <= goal else 'NOT met'}"


def goals(results: dict) -> dict:
    """Every goal of the issue with its measured value and whether it holds (``table`` in order)."""
    lat = results["latency"]["summaries"]
    med = {name: s["median"] for name, s in lat.items()}
    out = {
        "coldVsOpenSsh": ratio(med["ours_cold_total"], med["openssh_cold"]),
        "warmVsControlMasterBastion": ratio(med["ours_warm_invoke"], med["openssh_mux_bastion"]),
        "warmVsControlMasterVm": ratio(med["ours_warm_invoke"], med["openssh_mux_vm"]),
        "warmHttpVsControlMasterVm": ratio(med["ours_warm_http"], med["openssh_mux_vm"]),
    }
    calls = warm_calls(results)
    table = [
        _ratio_goal("Cold request vs `ssh -J`", out["coldVsOpenSsh"], COLD_GOAL),
        # Our warm request reuses the bastion and the VM connections (a session per run), as OpenSSH
        # does with a ControlMaster on the VM: that is the like-for-like comparison.
        _ratio_goal("Warm invoke vs ControlMaster on the VM", out["warmVsControlMasterVm"], WARM_GOAL),
        _ratio_goal(
            "Warm HTTP request vs ControlMaster on the VM", out["warmHttpVsControlMasterVm"], WARM_HTTP_GOAL
        ),
        {
            "goal": f"DynamoDB calls per warm request, authorizer included <= {DYNAMODB_CALLS_GOAL}",
            "measured": f"{calls:g}",
            "met": calls <= DYNAMODB_CALLS_GOAL,
        },
    ]
    table += [_load_goal(label, load) for label, load in _loads(results)]
    if "scaleRequests" in results:
        table.append(_scale_goal(results["scaleRequests"]))
    return {
        "ratios": out,
        "table": table,
        "dynamodbCallsPerWarmRequest": calls,
        "allMet": all(row["met"] for row in table),
    }


def _ratio_goal(label: str, value: float | None, goal: float) -> dict:
    return {
        "goal": f"{label} <= {goal:g}x",
        "measured": _ratio(value),
        "met": value is not None and value <= goal,
    }


def _load_goal(label: str, load: dict) -> dict:
    requests = load["requests"]
    return {
        "goal": f"{LOAD_GOAL_REQUESTS} concurrent requests, 0 failures: {label}",
        "measured": f"{requests} requests, {load['failed']} failed, {load['throttled429']} x 429",
        "met": requests >= LOAD_GOAL_REQUESTS and load["failed"] == 0 and load["throttled429"] == 0,
    }


def _scale_goal(scale: dict) -> dict:
    ratios = {label: series["ratio"] for label, series in scale["series"].items()}
    return {
        "goal": f"Warm request at {scale['networks']:,} networks vs the lab zone <= {SCALE_GOAL:g}x "
        "(decision contexts kept as configured / none kept)",
        "measured": " / ".join(_ratio(ratios.get(label)) for label in ("kept", "none")),
        "met": bool(ratios) and all(value <= SCALE_GOAL for value in ratios.values()),
    }


def _loads(results: dict) -> list[tuple[str, dict]]:
    loads = [(HTTP_LOAD_LABEL, results["concurrency"])]
    if "concurrencyEnvironments" in results:
        loads.append((ENVIRONMENTS_LOAD_LABEL, results["concurrencyEnvironments"]))
    return loads


def warm_calls(results: dict) -> float:
    """DynamoDB calls of a warm synchronous request: the API's median and the authorizer's last (warm)."""
    authorizer = results.get("authorizerDynamodbCalls", {}).get("requests", [])
    api = results["latency"]["dynamodbCallsPerRequest"]["warm"]["median"]
    return api + (authorizer[-1]["calls"] if authorizer else 0)


def markdown(results: dict) -> str:
    lat = results["latency"]
    s = {name: summary["median"] for name, summary in lat["summaries"].items()}
    n = {name: summary["n"] for name, summary in lat["summaries"].items()}
    g = goals(results)
    r = g["ratios"]
    target = lat["target"]
    lines = [
        "# sysvmdiag benchmarks",
        "",
        f"Run {results['startedAt']} with `{results['command']}`. Target {target['vm']}, command "
        f"`{target['commandLine']}` (the same line for OpenSSH and for the API). Medians in ms; "
        "ratios are sysvmdiag / OpenSSH.",
        "",
        "## Goals (issue 17)",
        "",
        "| Goal | measured | holds |",
        "|---|---|---|",
        *(f"| {row['goal']} | {row['measured']} | {'yes' if row['met'] else 'NO'} |" for row in g["table"]),
        "",
        "## Latency against OpenSSH",
        "",
        "| Measure | n | sysvmdiag | OpenSSH | ratio | goal |",
        "|---|---:|---:|---:|---:|---|",
        f"| Cold: new Lambda process (spawn to answer) vs `ssh -J bastion vm` | {n['ours_cold_total']} | "
        f"{_ms(s['ours_cold_total'])} | {_ms(s['openssh_cold'])} | {_ratio(r['coldVsOpenSsh'])} | "
        f"{_verdict(r['coldVsOpenSsh'], COLD_GOAL)} |",
        f"| - of which interpreter start | | {_ms(s['ours_cold_interpreter'])} | | | |",
        f"| - of which Init (import of the function) | | {_ms(s['ours_cold_init'])} | | | |",
        f"| - of which first invoke (Duration) | | {_ms(s['ours_cold_invoke'])} | | | |",
        f"| Warm: invoke in the same process (bastion and VM connections reused, a session per run) vs "
        f"ControlMaster on the VM (same design) | {n['ours_warm_invoke']} | {_ms(s['ours_warm_invoke'])} | "
        f"{_ms(s['openssh_mux_vm'])} | {_ratio(r['warmVsControlMasterVm'])} | "
        f"{_verdict(r['warmVsControlMasterVm'], WARM_GOAL)} |",
        f"| Warm: the same invoke vs ControlMaster on the bastion only (OpenSSH makes a new VM connection "
        f"per run, we do not) | {n['ours_warm_invoke']} | {_ms(s['ours_warm_invoke'])} | "
        f"{_ms(s['openssh_mux_bastion'])} | {_ratio(r['warmVsControlMasterBastion'])} | |",
        f"| Warm: HTTP to the local API (authorizer + API handler, each in a warm instance process of "
        f"its own) vs ControlMaster on the VM | {n['ours_warm_http']} | {_ms(s['ours_warm_http'])} | "
        f"{_ms(s['openssh_mux_vm'])} | {_ratio(r['warmHttpVsControlMasterVm'])} | "
        f"{_verdict(r['warmHttpVsControlMasterVm'], WARM_HTTP_GOAL)} |",
        f"| Floor: the tool alone in the VM's namespace (`ip netns exec`) | {n['floor_tool']} | "
        f"{_ms(s['floor_tool'])} | | | |",
        f"| Floor: the VM-side forced command alone (python -I -m sysvmdiag.vmside) | "
        f"{n['floor_forced_command']} | {_ms(s['floor_forced_command'])} | | | |",
        "",
    ]
    dyn = lat["dynamodbCallsPerRequest"]
    lines += [
        "## DynamoDB calls per request (botocore `before-call.dynamodb` hook, in process)",
        "",
        "| Request | calls (median) | operations |",
        "|---|---:|---|",
        f"| Cold | {dyn['cold']['median']:g} | {dyn['operations'].get('cold', {})} |",
        f"| Warm | {dyn['warm']['median']:g} | {dyn['operations'].get('warm', {})} |",
    ]
    authorizer = results.get("authorizerDynamodbCalls", {}).get("requests", [])
    if authorizer:
        lines.append(
            f"| Authorizer (its own function, warm: its answer kept by the gateway) | "
            f"{authorizer[-1]['calls']} | {authorizer[-1]['operations']} |"
        )
    calls = g["dynamodbCallsPerWarmRequest"]
    lines += [
        "",
        f"A warm request, authorizer included: {calls:g} calls (goal <= {DYNAMODB_CALLS_GOAL}: "
        f"{'met' if calls <= DYNAMODB_CALLS_GOAL else 'NOT met'}).",
        "",
        "## Policy decisions per second (in process, `decide` on the store's decision slice)",
        "",
        "| Case | allowed | decisions/s | us/decision |",
        "|---|---|---:|---:|",
    ]
    for case in results["policy"]["cases"]:
        lines.append(
            f"| {case['label']} | {case['allowed']} | {case['perSecond']:,.0f} | "
            f"{case['microsecondsPerDecision']:.0f} |"
        )
    imports = results["imports"]
    lines += [
        "",
        f"## Handler cold start: imports (median of {imports['runs']}; interpreter alone "
        f"{imports['interpreterBaselineMs']:.0f} ms; goal < 400 ms)",
        "",
        "| Function | import ms (in the new process: Lambda's Init) | wall - interpreter ms (incl. "
        "teardown) | `-X importtime` total ms | heaviest packages (self ms) | loads paramiko | loads boto3 "
        "| goal |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    for module, info in imports["functions"].items():
        heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in list(info["heaviestPackagesMs"].items())[:5])
        lines.append(
            f"| {module} | {info['importMedianMs']:.0f} | {info.get('wallMinusInterpreterMs', 0):.0f} | "
            f"{info['importtimeTotalMs']:.0f} | {heavy} | "
            f"{info['loads']['paramiko']} | {info['loads']['boto3']} | "
            f"{'met' if info['meetsGoal'] else 'NOT met'} |"
        )
    conc = results["concurrency"]
    lines += [
        "",
        f"## {conc['requests']} concurrent requests through one bastion (admin, {conc['perVm']} per VM "
        f"on {', '.join(conc['vms'])})",
        "",
        "| Load | succeeded | answered for another VM | 429 (limits) | failed | p50 ms | p95 ms | max ms "
        "| wall ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    loads = _loads(results)
    for label, load in loads:
        lines.append(
            f"| {label} | {load['succeeded']} | {load['answeredForAnotherVm']} | {load['throttled429']} | "
            f"{load['failed']} | {_ms(load['p50Ms'])} | {_ms(load['p95Ms'])} | "
            f"{_ms(load['latencyMs']['max'])} | {_ms(load['wallMs'])} |"
        )
    lines += [""]
    for label, load in loads:
        lines.append(
            f"{label}: failures by status and code: {load['failures'] or 'none'}; Retry-After seen: "
            f"{load['retryAfter'] or 'none'}."
        )
    lines += [
        "",
        f"Limits of the API server during the run: "
        f"{results['limits'] or 'the defaults (no LIMITS_JSON in its environment)'}. "
        '"no answer" failures are, over HTTP, requests the local API Gateway stand-in did not '
        "answer within the client's 35 s and, as processes, processes the run's bound closed before "
        "they answered; 504 TIMEOUT is the runner's budget (the tool's worst case + 3 s, moved back "
        "by up to 10 s when connecting was slow) spent before the tool finished. "
        "See benchmarks/README.md for the analysis.",
        "",
    ]
    if "scaleRequests" in results:
        lines += _scale_lines(results["scaleRequests"])
    m = results["machine"]
    lines += [
        "## Machine",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memoryGiB']} GiB; {m['os']}, {m['kernel']}; "
        f"Python {m['python']}; {m['openssh']}; paramiko {m['paramiko']}, boto3 {m['boto3']}, powertools "
        f"{m['awsLambdaPowertools']}. Load average at start {_load(m['loadAverageAtStart'])}, at end "
        f"{_load(results['loadAverageAtEnd'])} (the machine may be shared: compare ratios, not absolutes).",
        "",
    ]
    return "\n".join(lines)


def _scale_lines(scale: dict) -> list[str]:
    lines = [
        f"## Warm requests at {scale['networks']:,} networks (the lab zone plus a generated one: "
        f"{scale['networksInZone']:,} networks, {scale['systemVms']:,} system VMs, {scale['accounts']:,} "
        f"accounts; loaded in {scale['loadSeconds']:g} s)",
        "",
        "| Decision contexts | n | lab zone p50 ms | scale zone p50 ms | p95 lab / scale | ratio |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for label, series in scale["series"].items():
        lab, big = series["lab"], series["scale"]
        lines.append(
            f"| {label} | {lab['n']} | {_ms(lab['median'])} | {_ms(big['median'])} | "
            f"{_ms(lab['p95'])} / {_ms(big['p95'])} | {_ratio(series['ratio'])} |"
        )
    return [*lines, ""]


def _load(values: list[float] | tuple[float, ...]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def plot(results: dict, path: Path) -> None:
    """Latency medians (with p95 whiskers) side by side, and the concurrent requests' latencies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = results["latency"]["summaries"]
    bars = [
        ("cold\nsysvmdiag", "ours_cold_total", "tab:blue"),
        ("cold\nssh -J", "openssh_cold", "tab:orange"),
        ("warm\nsysvmdiag", "ours_warm_invoke", "tab:blue"),
        ("warm HTTP\nsysvmdiag", "ours_warm_http", "tab:cyan"),
        ("warm ssh\nmux bastion", "openssh_mux_bastion", "tab:orange"),
        ("warm ssh\nmux VM", "openssh_mux_vm", "tab:red"),
        ("forced\ncommand", "floor_forced_command", "tab:gray"),
        ("tool\nalone", "floor_tool", "tab:gray"),
    ]
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    medians = [lat[key]["median"] or 0 for _, key, _ in bars]
    whiskers = [max(0.0, (lat[key]["p95"] or 0) - (lat[key]["median"] or 0)) for _, key, _ in bars]
    left.bar(
        [label for label, _, _ in bars],
        medians,
        yerr=[[0] * len(bars), whiskers],
        color=[color for _, _, color in bars],
        capsize=4,
    )
    for index, (value, whisker) in enumerate(zip(medians, whiskers, strict=True)):
        left.annotate(f"{value:.0f}", (index, value + whisker), ha="center", va="bottom", fontsize=8)
    left.set_ylabel("ms (median, whisker to p95)")
    left.set_title(f"One ping on {results['latency']['target']['vm']}: sysvmdiag vs OpenSSH")

    loads = [("HTTP, local API (instance processes)", results["concurrency"], "tab:blue")]
    if "concurrencyEnvironments" in results:
        loads.append(("cold Lambda-like processes", results["concurrencyEnvironments"], "tab:purple"))
    for label, load, color in loads:
        latencies = sorted(o["ms"] for o in load["outcomes"] if o["status"] == 200 and o.get("success"))
        right.plot(
            range(1, len(latencies) + 1),
            latencies,
            marker=".",
            color=color,
            label=f"{label}: {load['succeeded']} ok, {load['throttled429']} x 429, {load['failed']} failed, "
            f"p50 {_ms(load['p50Ms'])} / p95 {_ms(load['p95Ms'])} ms",
        )
    right.set_xlabel("successful requests, fastest to slowest")
    right.set_ylabel("ms")
    right.set_yscale("log")
    right.set_title(f"{results['concurrency']['requests']} concurrent requests through one bastion")
    right.legend(fontsize=7)
    m = results["machine"]
    figure.suptitle(f"{m['cpu']}, {m['cores']} cores, {m['kernel']}, Python {m['python']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
