"""``sysvmdiag topology pin-host-keys``: pin system VMs' SSH host keys by a scan an operator confirms.

CloudStack does not know host keys, so a synced VM may have none pinned, and the runner refuses to
connect to it. This command scans each chosen VM's key through the bastion (the bastion's own pinned
key is checked, as for every run; the VM sees a key exchange and nothing else), prints its
fingerprint, asks on the terminal, and writes only the confirmed keys (``--yes``: all scanned keys,
trusting the network path from the bastion to the VMs at that moment). Never a silent trust on first use.

Exit status: 0 when every scan worked (declined keys included), 1 when a scan or the bastion failed
(confirmed keys are still written), 2 for a usage or configuration problem.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sysvmdiag.topology.hostkeys import Pin, choose_vms, with_pins
from sysvmdiag.topology.model import Host, SshEndpoint

if TYPE_CHECKING:
    from sysvmdiag.runner.hostscan import HostKeyScanner, ScannedKey
    from sysvmdiag.topology.store import TopologyStore

COMMAND = "sysvmdiag topology pin-host-keys"
YES_HELP = (
    "pin every scanned key without asking: you trust the network path from the bastion to the VMs right "
    "now (the bastion's own key is still checked); a changed key is still reported loudly"
)


class UsageProblem(Exception):
    """Nothing can be done as asked (exit 2); the message says why."""


@dataclass
class Outcome:
    """What the scans gave and what the operator decided."""

    pins: list[Pin] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # uuid -> label, of pins
    fingerprints: dict[str, str] = field(default_factory=dict)  # uuid -> "ssh-ed25519 SHA256:..."
    unchanged: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def label(vm: Host) -> str:
    return vm.vm_name or vm.name


def where(vm: Host) -> str:
    assert vm.ssh is not None
    return f"{vm.ssh.address}:{vm.ssh.port}"


def run(args: argparse.Namespace) -> int:
    """The command: choose, scan, confirm, write."""
    try:
        store, settings, secrets = _stores(args)
        targets = _targets(store, args)
        if targets and not args.yes and not sys.stdin.isatty():
            raise UsageProblem(
                "stdin is not a terminal, so nobody can confirm the scanned keys; run this in a terminal, or "
                "pass --yes to pin whatever the scan shows (trusting the network path to the VMs right now)"
            )
    except UsageProblem as err:
        print(f"{COMMAND}: {err}", file=sys.stderr)
        return 2
    if not targets:
        print("nothing to scan: every running system VM has a pinned host key (--vm REF or --all re-pins)")
        return 0
    outcome = _scan_and_confirm(store, settings, secrets, targets, args)
    if outcome.pins:
        _write(store, outcome)
    _summary(outcome)
    return 1 if outcome.failed else 0


def _targets(store: TopologyStore, args: argparse.Namespace) -> list[Host]:
    """The VMs to scan, from the stored zone; stopped VMs left out by default are named on stderr."""
    topology = store.read_topology()
    if topology is None:
        raise UsageProblem("the tables hold no zone: run `sysvmdiag topology load` or `topology sync` first")
    try:
        targets, stopped = choose_vms(topology, args.vm or [], args.all)
    except KeyError as err:
        raise UsageProblem(f"no system VM {err.args[0]} in the stored zone (give a uuid or name)") from None
    for vm in stopped:
        print(
            f"skipped {label(vm)} {where(vm)}: no pinned key, but it is {vm.state}; "
            "name it with --vm once it runs",
            file=sys.stderr,
        )
    return targets


def _stores(args: argparse.Namespace) -> tuple[TopologyStore, Any, Any]:
    """The topology store, the settings and a Secrets Manager client (``--endpoint-url`` for both)."""
    import boto3

    from sysvmdiag import bootstrap
    from sysvmdiag.config import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as err:
        raise UsageProblem(str(err)) from None
    dynamodb = boto3.resource("dynamodb", endpoint_url=args.endpoint_url)
    secrets = boto3.client("secretsmanager", endpoint_url=args.endpoint_url) if args.endpoint_url else None
    return bootstrap.topology_store(settings, dynamodb), settings, secrets


def _scan_and_confirm(
    store: TopologyStore, settings: Any, secrets: Any, targets: list[Host], args: argparse.Namespace
) -> Outcome:
    """Connect to the bastion once, then scan each target and ask; a dead bastion fails them all."""
    from sysvmdiag import bootstrap
    from sysvmdiag.runner.errors import RunnerError
    from sysvmdiag.runner.hostscan import HostKeyScanner
    from sysvmdiag.runner.keys import obtain_private_key

    outcome = Outcome()
    try:
        bastion = store.bastion().ssh
        if bastion is None or bastion.address is None:
            raise LookupError("the stored bastion has no SSH endpoint")
        key = obtain_private_key(lambda: bootstrap.ssh_private_key(settings, secrets))
        with HostKeyScanner(bastion, key) as scanner:
            scanner.connect_bastion(timeout=args.timeout)
            for vm in targets:
                _scan_one(scanner, vm, args, outcome)
    except (RunnerError, LookupError) as err:
        print(f"{COMMAND}: cannot scan through the bastion: {err}", file=sys.stderr)
        done = set(outcome.unchanged + outcome.declined + outcome.failed + list(outcome.labels.values()))
        outcome.failed += [label(vm) for vm in targets if label(vm) not in done]
    return outcome


def _scan_one(scanner: HostKeyScanner, vm: Host, args: argparse.Namespace, outcome: Outcome) -> None:
    from sysvmdiag.runner.errors import RunnerError, RunnerErrorCode

    assert vm.ssh is not None
    name = label(vm)
    try:
        scanned = scanner.scan(vm.ssh, timeout=args.timeout, vm_label=name)
    except RunnerError as err:
        if err.code in (RunnerErrorCode.BASTION_UNREACHABLE, RunnerErrorCode.AUTH_FAILED):
            raise  # the bastion went away: the other VMs cannot be scanned either
        print(f"{name} {where(vm)}: scan failed: {err.code.value}: {err}", file=sys.stderr)
        outcome.failed.append(name)
        return
    print(f"{name} {where(vm)} {scanned.key_type} {scanned.fingerprint_sha256}", flush=True)
    if scanned.is_pinned_as(vm.ssh.host_key):
        print(f"  {name}: already pinned, unchanged")
        outcome.unchanged.append(name)
        return
    if vm.ssh.host_key:
        _warn_changed(name, vm.ssh, scanned)
    if args.yes or _confirmed():
        outcome.pins.append(Pin(vm.uuid or "", str(vm.ssh.address), vm.ssh.port, scanned.host_key))
        outcome.labels[vm.uuid or ""] = name
        outcome.fingerprints[vm.uuid or ""] = f"{scanned.key_type} {scanned.fingerprint_sha256}"
    else:
        print(f"  {name}: not pinned")
        outcome.declined.append(name)


def _warn_changed(name: str, ssh: SshEndpoint, scanned: ScannedKey) -> None:
    from sysvmdiag.runner.hostscan import pinned_fingerprint

    banner = "@" * 70
    print(
        f"{banner}\n"
        f"WARNING: THE HOST KEY OF {name} ({ssh.address}:{ssh.port}) HAS CHANGED!\n"
        f"  pinned now: {pinned_fingerprint(ssh.host_key)}\n"
        f"  scanned:    {scanned.key_type} {scanned.fingerprint_sha256}\n"
        "The VM may have been rebuilt or rekeyed, or something between the bastion and it may be\n"
        "impersonating it. Pin the new key only if you know why it changed.\n"
        f"{banner}",
        file=sys.stderr,
        flush=True,
    )


def _confirmed() -> bool:
    """Ask on the terminal; anything but y/yes (end of input included) is no."""
    print("pin this key? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _write(store: TopologyStore, outcome: Outcome) -> None:
    """Read the zone again (it may have been synced meanwhile), set the keys, load what changed."""
    from sysvmdiag.topology.loader import load_topology_into_tables

    stored = store.read_topology()
    if stored is None:
        print(f"{COMMAND}: the tables were emptied meanwhile; nothing pinned", file=sys.stderr)
        outcome.failed += list(outcome.labels.values())
        outcome.pins = []
        return
    topology, left = with_pins(stored, outcome.pins)
    for pin in left:
        print(
            f"{COMMAND}: {outcome.labels[pin.uuid]} is gone or no longer at {pin.address}:{pin.port} "
            "(the zone changed during the scan); its key was not pinned, scan it again",
            file=sys.stderr,
        )
        outcome.failed.append(outcome.labels[pin.uuid])
    outcome.pins = [pin for pin in outcome.pins if pin not in left]
    if outcome.pins:
        report = load_topology_into_tables(topology, store)
        print(f"wrote {report.items_written} item(s), removed {report.items_removed}")


def _summary(outcome: Outcome) -> None:
    for pin in outcome.pins:
        print(f"pinned {outcome.labels[pin.uuid]} {pin.address}:{pin.port} {outcome.fingerprints[pin.uuid]}")
    if outcome.declined:
        print(f"not pinned (declined): {', '.join(outcome.declined)}")
    if outcome.failed:
        print(f"{COMMAND}: could not pin: {', '.join(outcome.failed)}", file=sys.stderr)


def register(verbs: argparse._SubParsersAction) -> None:
    """Add ``topology pin-host-keys``."""
    pin = verbs.add_parser(
        "pin-host-keys",
        help="scan system VMs' SSH host keys through the bastion and pin the ones you confirm",
        description="Scan the SSH host key of system VMs through the bastion (key exchange only, no login "
        "on the VM), show each fingerprint and pin it in the topology table once you confirm it. By default "
        "the running system VMs with no pinned key. The bastion login key is the runner's "
        "(Secrets Manager, SSH_KEY_SECRET_ID).",
    )
    which = pin.add_mutually_exclusive_group()
    which.add_argument(
        "--vm", action="append", metavar="REF", help="a VM to (re)pin: uuid or CloudStack name (repeatable)"
    )
    which.add_argument("--all", action="store_true", help="every system VM of the zone")
    pin.add_argument("--yes", action="store_true", help=YES_HELP)
    pin.add_argument("--timeout", type=float, default=10.0, help="seconds per VM scan (default 10)")
    pin.add_argument(
        "--endpoint-url",
        help="DynamoDB and Secrets Manager endpoint (default: boto3's, e.g. $AWS_ENDPOINT_URL)",
    )
    pin.set_defaults(func=run)
