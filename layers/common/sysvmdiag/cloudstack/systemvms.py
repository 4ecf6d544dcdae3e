"""Secondary storage and console proxy VMs (listSystemVms) as SSVM / CPVM hosts.

Pure. SystemVmResponse lists no nics, only addresses, so interfaces follow the system VM layout: eth0
link-local control, eth1 management (private), eth2 public. It carries no storage address and no IPv6
address, so an SSVM's storage interface and both VMs' public IPv6 cannot be mapped from it.
"""

from __future__ import annotations

from sysvmdiag.cloudstack.context import Context, default_route, on_link, read_each, ssh_endpoint
from sysvmdiag.cloudstack.report import Skip
from sysvmdiag.cloudstack.values import Item, address, address_with_mask, text
from sysvmdiag.topology.model import Host, HostKind, Interface, NetworkKind, SshEndpoint

_KINDS = {"secondarystoragevm": HostKind.SSVM, "consoleproxy": HostKind.CPVM}
_LAYOUT = (
    ("eth0", NetworkKind.CONTROL, "linklocalip", "linklocalnetmask"),
    ("eth1", NetworkKind.MANAGEMENT, "privateip", "privatenetmask"),
    ("eth2", NetworkKind.PUBLIC, "publicip", "publicnetmask"),
)


def read_system_vms(items: list[Item], ctx: Context) -> list[Host]:
    return read_each(items, "system_vm", _system_vm, ctx)


def _system_vm(item: Item, ctx: Context) -> Host:
    uuid, vm_name = text(item, "id"), text(item, "name")
    if uuid is None or vm_name is None:
        raise Skip("no id or no name")
    kind = _KINDS.get((text(item, "systemvmtype") or "").lower())
    if kind is None:
        raise Skip(
            f"systemvmtype {text(item, 'systemvmtype')!r} is neither secondarystoragevm nor consoleproxy"
        )
    gateway = address(text(item, "gateway"))
    interfaces = []
    for name, network_kind, ip_field, mask_field in _LAYOUT:
        prefix, problem = address_with_mask(
            text(item, ip_field),
            text(item, mask_field),
            link_local_default=network_kind is NetworkKind.CONTROL,
        )
        if problem:
            raise Skip(f"{ip_field}: {problem}")
        if prefix is None:
            continue
        network_id = ctx.system.attach(network_kind, None, prefix, gateways=(gateway,))
        interfaces.append(Interface(name=name, network=network_id or "", ipv4=prefix))
    state = text(item, "state") or "Unknown"
    routes = [default_route(gateway)] if any(on_link(gateway, i.ipv4) for i in interfaces) and gateway else []
    return Host(
        name=vm_name,
        kind=kind,
        uuid=uuid,
        vm_name=vm_name,
        state=state,
        interfaces=tuple(interfaces),
        routes=tuple(routes),
        ssh=_ssh(vm_name, state, interfaces, ctx),
    )


def _ssh(vm_name: str, state: str, interfaces: list[Interface], ctx: Context) -> SshEndpoint:
    control = next((i for i in interfaces if i.name == "eth0"), None)
    if control is not None:
        return ssh_endpoint(control.name, control.ipv4)
    if state == "Running":
        raise Skip("no link-local (control) address; it cannot be reached")
    ctx.report.note(
        f"system VM {vm_name}: {state} and without a control address; mapped without an SSH address"
    )
    return ssh_endpoint(None, None)
