"""`simvms`: bring the namespace lab up or down, inspect it, run commands in it."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from simvms.lab import DEFAULT_STATE_DIR, Lab, LabError, check_prerequisites


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simvms", description=__doc__)
    parser.add_argument(
        "--topology",
        type=Path,
        default=None,
        help="topology file (default: the packaged simvms/topology.yaml)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help=f"state folder (default: $SIMVMS_STATE_DIR or {DEFAULT_STATE_DIR})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="create the lab (idempotent)")
    down = sub.add_parser("down", help="remove the lab (keeps generated keys)")
    down.add_argument("--purge", action="store_true", help="also remove the whole state folder")
    status = sub.add_parser("status", help="show the lab; exit 0 when up and healthy")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    exec_ = sub.add_parser("exec", help="run a command in a host's namespace: exec HOST -- CMD...")
    exec_.add_argument("host")
    exec_.add_argument("argv", nargs=argparse.REMAINDER)
    sshd_cmd = sub.add_parser("sshd", help="stop or start one system VM's (or the bastion's) sshd")
    sshd_cmd.add_argument("action", choices=["stop", "start"])
    sshd_cmd.add_argument("host")
    rekey = sub.add_parser("rekey", help="give one host a new ssh host key and restart its sshd")
    rekey.add_argument("host")
    compose = sub.add_parser("compose", help="write the docker-compose file generated from the topology")
    compose.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write (default: simvms/docker-compose.yml next to the topology)",
    )
    compose_lab = sub.add_parser(
        "compose-lab", help="the same zone in Docker containers: up | down [--purge] | status [--json] | base"
    )
    compose_lab.add_argument("action", choices=["up", "down", "status", "base"])
    compose_lab.add_argument("--purge", action="store_true", help="down: also remove the state folder")
    compose_lab.add_argument("--json", action="store_true", help="status: print the status as JSON")
    cloudstack = sub.add_parser(
        "cloudstack-api",
        help="serve the zone as CloudStack's list commands answer them (signed, read-only, 127.0.0.1)",
    )
    cloudstack.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 3080; 0: any)")
    cloudstack.add_argument(
        "--credentials",
        type=Path,
        default=None,
        help="key pair file, made 0600 when missing (default: cloudstack-api.json in the state folder)",
    )
    return parser


def _cloudstack_api(args: argparse.Namespace) -> int:
    """`simvms cloudstack-api`: in the foreground until SIGTERM or Ctrl-C."""
    import logging

    from simvms.cloudstack_api import DEFAULT_PORT, run
    from sysvmdiag.topology.model import DEFAULT_TOPOLOGY_FILE

    # Why a request was refused (401s) and data failures (530s) go to stderr: the stack's log file.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    state_dir = Path(args.state or os.environ.get("SIMVMS_STATE_DIR") or DEFAULT_STATE_DIR)
    credentials = args.credentials or state_dir / "cloudstack-api.json"
    port = DEFAULT_PORT if args.port is None else args.port
    return run(
        port,
        credentials,
        Path(args.topology or DEFAULT_TOPOLOGY_FILE),
        announce=lambda line: print(line, flush=True),
    )


def _compose_lab(args: argparse.Namespace) -> int:
    """`simvms compose-lab ...` (state: --state, $SIMVMS_COMPOSE_STATE_DIR or /run/simvms-compose)."""
    from simvms.baseimage import ensure_base_image
    from simvms.composelab import ComposeLab, ComposeLabError
    from simvms.engine import EngineError

    lab = ComposeLab(args.topology, args.state)
    try:
        if args.action == "base":
            print(ensure_base_image())
            return 0
        if args.action == "up":
            status = lab.up(progress=lambda line: print(line, file=sys.stderr))
            lab.write_status(status)
            bastion = status["bastion"]
            print(f"simvms: compose lab {status['project']} up; bastion on 127.0.0.1:{bastion['port']}")
            return 0
        if args.action == "down":
            lab.down(purge=args.purge)
            print(f"simvms: compose lab {lab.plan.project} down")
            return 0
        status = lab.status()
        if args.json:
            json.dump(status, sys.stdout, indent=2)
            print()
        else:
            print(f"compose lab {status['project']}: {'up' if status['up'] else 'DOWN/DEGRADED'}")
            for problem in status["problems"]:
                print(f"  problem: {problem}")
        return 0 if status["up"] else 1
    except (ComposeLabError, EngineError) as err:
        print(str(err), file=sys.stderr)
        return 1


def _print_table(status: dict[str, Any]) -> None:
    state = "up" if status["up"] else "DOWN/DEGRADED"
    print(f"lab {status['prefix']}: {state}  (state {status['state_dir']})")
    bastion = status["bastion"]
    print(f"bastion  {bastion['address']}:{bastion['port']}  ns {bastion['namespace']}")
    for name, host in status["hosts"].items():
        addrs = ", ".join(f"{i['name']}={i['ipv4'] or i['ipv6']}" for i in host["interfaces"])
        ssh = host.get("ssh")
        ssh_text = ""
        if ssh:
            state = f"pid {ssh['pid']}" if ssh["running"] else "STOPPED"
            ssh_text = f"  sshd {ssh['address']}:{ssh['port']} {state}"
        print(f"  {name:<12} {host['kind']:<8} {addrs}{ssh_text}")
    for problem in status.get("problems", []):
        print(f"  problem: {problem}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compose":
            from simvms.compose import write_compose_file

            path = write_compose_file(args.topology, args.output)
            print(f"wrote {path}")
            return 0
        if args.command == "compose-lab":
            return _compose_lab(args)
        if args.command == "cloudstack-api":
            return _cloudstack_api(args)
        check_prerequisites()
        lab = Lab(args.topology, args.state)
        if args.command == "up":
            started = time.monotonic()
            status = lab.up()
            print(
                f"simvms: lab {status['prefix']} up in {time.monotonic() - started:.1f}s; "
                f"ssh -F {status['ssh_config']} vr ping -c 1 198.51.100.80"
            )
            return 0
        if args.command == "down":
            lab.down(purge=args.purge)
            print(f"simvms: lab {lab.plan.prefix} down")
            return 0
        if args.command == "status":
            status = lab.status()
            if args.json:
                json.dump(status, sys.stdout, indent=2)
                print()
            else:
                _print_table(status)
            return 0 if status["up"] else 1
        if args.command == "exec":
            command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not command:
                print("simvms: exec HOST -- CMD...", file=sys.stderr)
                return 2
            return lab.exec(args.host, command).returncode
        if args.command == "sshd":
            (lab.stop_sshd if args.action == "stop" else lab.start_sshd)(args.host)
            return 0
        if args.command == "rekey":
            status = lab.rekey(args.host)
            entry = status["bastion"] if args.host == lab.plan.bastion else status["hosts"][args.host]["ssh"]
            print(f"simvms: {args.host} host key is now {entry['host_key']}")
            return 0
    except LabError as err:
        print(str(err), file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as err:
        print(f"simvms: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `simvms status --json | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
