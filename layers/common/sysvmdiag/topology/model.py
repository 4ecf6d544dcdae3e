"""The zone topology: accounts, networks, system VMs and the hosts around them.

One pydantic model reads the lab's topology file (``simvms/topology.yaml``), is what the
DynamoDB store serialises, and is what the pure policy reasons about.
"""

from __future__ import annotations

import hashlib
import ipaddress
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, StrictInt, model_validator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Role(StrEnum):
    ADMIN = "admin"
    DOMAIN_ADMIN = "domain_admin"
    USER = "user"


class NetworkKind(StrEnum):
    PUBLIC = "public"
    MANAGEMENT = "management"
    CONTROL = "control"
    STORAGE = "storage"
    ISOLATED = "isolated"
    SHARED = "shared"
    VPC_TIER = "vpc_tier"
    PRIVATE_GATEWAY = "private_gateway"
    VPN_GATEWAY = "vpn_gateway"
    VPN_PEER = "vpn_peer"
    TRANSIT = "transit"
    EXTERNAL = "external"


class HostKind(StrEnum):
    VR = "vr"
    VPCVR = "vpcvr"
    SSVM = "ssvm"
    CPVM = "cpvm"
    ROUTER = "router"
    GUEST = "guest"
    BASTION = "bastion"
    EXTERNAL = "external"


SYSTEM_VM_KINDS = frozenset({HostKind.VR, HostKind.VPCVR, HostKind.SSVM, HostKind.CPVM})
ROUTER_VM_KINDS = frozenset({HostKind.VR, HostKind.VPCVR})

# A network's MTU, the one place for its bounds. Without one, a network has Linux's default.
DEFAULT_MTU = 1500  # what Linux gives an Ethernet or veth link
MTU_MIN_IPV4 = 576  # every IPv4 host must accept 576-byte datagrams (RFC 791)
MTU_MIN_IPV6 = 1280  # IPv6 needs links of at least 1280 bytes (RFC 8200); Linux drops IPv6 below it
MTU_MAX = 9000  # jumbo frames


def mtu_bounds(*, ipv6: bool) -> tuple[int, int]:
    """The lowest and highest MTU a network may have (a network with IPv6 needs 1280)."""
    return (MTU_MIN_IPV6 if ipv6 else MTU_MIN_IPV4), MTU_MAX


def mtu_problem(mtu: int, *, ipv6: bool) -> str | None:
    """Why ``mtu`` cannot be a network's MTU (None when it can)."""
    low, high = mtu_bounds(ipv6=ipv6)
    if low <= mtu <= high:
        return None
    scope = "a network with IPv6" if ipv6 else "an IPv4-only network"
    return f"mtu {mtu} is outside {low}..{high}, the range for {scope}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def domain_contains(ancestor: str, domain: str) -> bool:
    """True when ``domain`` is ``ancestor`` or below it in the domain tree (paths like ROOT/acme)."""
    ancestor = ancestor.strip("/")
    domain = domain.strip("/")
    return domain == ancestor or domain.startswith(ancestor + "/")


def stable_mac(host: str, interface: str) -> str:
    """A locally administered MAC derived from host and interface names, so every run agrees."""
    digest = hashlib.sha256(f"{host}/{interface}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


class Account(_Model):
    id: str
    name: str
    role: Role
    domain: str = "ROOT"
    api_key_hashes: tuple[str, ...] = ()


class Zone(_Model):
    id: str
    name: str
    management_ranges: tuple[IPNetwork, ...] = ()


class Vpc(_Model):
    id: str
    name: str
    owner: str
    cidr4: ipaddress.IPv4Network | None = None


class Network(_Model):
    """A network of the zone. Who may use a shared one is either a list of accounts (``shared_with``)
    or, as CloudStack's domain-wide shared networks, a domain (``shared_domain``, with its subdomains
    when ``subdomain_access``); a domain can gain accounts at any time, so such a network is never
    dedicated to one account. ``mtu`` is the MTU of every link of the network (see ``mtu_bounds``);
    unset, the links have Linux's default 1500."""

    id: str
    name: str
    kind: NetworkKind
    owner: str | None = None
    shared_with: tuple[str, ...] = ()
    shared_domain: str | None = None
    subdomain_access: bool = False
    vpc: str | None = None
    cidr4: ipaddress.IPv4Network | None = None
    cidr6: ipaddress.IPv6Network | None = None
    gateway4: ipaddress.IPv4Address | None = None
    gateway6: ipaddress.IPv6Address | None = None
    routes4: tuple[ipaddress.IPv4Network, ...] = ()
    remote_cidrs: tuple[IPNetwork, ...] = ()
    mtu: StrictInt | None = None  # None: Linux's default, DEFAULT_MTU

    @model_validator(mode="after")
    def _check_mtu(self) -> Network:
        if self.mtu is not None:
            problem = mtu_problem(self.mtu, ipv6=self.cidr6 is not None)
            if problem is not None:
                raise ValueError(f"network {self.id}: {problem}")
        return self

    @property
    def link_mtu(self) -> int:
        """The MTU its links have: the one set, else Linux's default."""
        return self.mtu if self.mtu is not None else DEFAULT_MTU

    @property
    def cidrs(self) -> tuple[IPNetwork, ...]:
        return tuple(c for c in (self.cidr4, self.cidr6) if c is not None)

    def contains(self, address: IPAddress) -> bool:
        return any(address.version == c.version and address in c for c in self.cidrs)


class Interface(_Model):
    name: str
    network: str
    ipv4: ipaddress.IPv4Interface | None = None
    ipv6: ipaddress.IPv6Interface | None = None
    mac: str | None = None

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        return tuple(i.ip for i in (self.ipv4, self.ipv6) if i is not None)


class Route(_Model):
    to: str
    via: IPAddress | None = None
    dev: str | None = None

    @property
    def destination(self) -> IPNetwork:
        if self.to == "default":
            return ipaddress.IPv4Network("0.0.0.0/0")
        if self.to == "default6":
            return ipaddress.IPv6Network("::/0")
        return ipaddress.ip_network(self.to)


class SshEndpoint(_Model):
    interface: str | None = None
    address: IPAddress | None = None
    port: int = 3922
    user: str = "root"
    host_key: str | None = None  # "ssh-ed25519 AAAA...", pinned; filled from the lab's state


class Host(_Model):
    name: str
    kind: HostKind
    uuid: str | None = None
    vm_name: str | None = None
    state: str = "Running"
    vpc: str | None = None
    owner: str | None = None
    interfaces: tuple[Interface, ...] = ()
    routes: tuple[Route, ...] = ()
    ssh: SshEndpoint | None = None

    @property
    def is_system_vm(self) -> bool:
        return self.kind in SYSTEM_VM_KINDS

    def interface(self, name: str) -> Interface:
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        raise KeyError(f"{self.name} has no interface {name}")


class HostLink(_Model):
    host: ipaddress.IPv4Interface
    bastion: ipaddress.IPv4Interface


class LabSettings(_Model):
    prefix: str = "svd"
    host_link: HostLink


class Topology(_Model):
    version: int = 1
    lab: LabSettings | None = None
    zone: Zone
    accounts: tuple[Account, ...] = ()
    vpcs: tuple[Vpc, ...] = ()
    networks: tuple[Network, ...] = ()
    hosts: tuple[Host, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _fill_derived(cls, data: Any) -> Any:
        """Give every interface its stable MAC and every system VM its SSH address."""
        if not isinstance(data, dict):
            return data
        hosts = []
        for host in data.get("hosts", ()):
            if not isinstance(host, dict):
                hosts.append(host)
                continue
            host = dict(host)
            interfaces = []
            for iface in host.get("interfaces", ()):
                if isinstance(iface, dict) and not iface.get("mac"):
                    iface = {**iface, "mac": stable_mac(host["name"], iface["name"])}
                interfaces.append(iface)
            host["interfaces"] = interfaces
            ssh = host.get("ssh")
            if isinstance(ssh, dict) and not ssh.get("address") and ssh.get("interface"):
                iface = next((i for i in interfaces if i.get("name") == ssh["interface"]), None)
                if iface and iface.get("ipv4"):
                    ssh = {**ssh, "address": str(iface["ipv4"]).split("/")[0]}
                host["ssh"] = ssh
            hosts.append(host)
        return {**data, "hosts": hosts}

    @model_validator(mode="after")
    def _check_references(self) -> Topology:
        def unique(kind: str, keys: list[str]) -> None:
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise ValueError(f"duplicate {kind} {key!r}")
                seen.add(key)

        unique("account id", [a.id for a in self.accounts])
        unique("network id", [n.id for n in self.networks])
        unique("host name", [h.name for h in self.hosts])
        unique("vm uuid", [h.uuid for h in self.hosts if h.uuid])
        account_ids = {a.id for a in self.accounts}
        vpc_ids = {v.id for v in self.vpcs}
        for net in self.networks:
            for ref in (net.owner, *net.shared_with):
                if ref is not None and ref not in account_ids:
                    raise ValueError(f"network {net.id} names unknown account {ref!r}")
            if net.vpc is not None and net.vpc not in vpc_ids:
                raise ValueError(f"network {net.id} names unknown vpc {net.vpc!r}")
        networks = {n.id: n for n in self.networks}
        for host in self.hosts:
            if host.is_system_vm and (not host.uuid or host.ssh is None):
                raise ValueError(f"system VM {host.name} needs a uuid and an ssh endpoint")
            for iface in host.interfaces:
                net = networks.get(iface.network)
                if net is None:
                    raise ValueError(f"{host.name}/{iface.name} names unknown network {iface.network!r}")
                for addr in iface.addresses:
                    if not net.contains(addr):
                        raise ValueError(f"{host.name}/{iface.name} address {addr} is outside {net.id}")
        return self

    # -- lookups -------------------------------------------------------------------------

    @cached_property
    def _networks_by_id(self) -> dict[str, Network]:
        return {n.id: n for n in self.networks}

    @cached_property
    def _accounts_by_id(self) -> dict[str, Account]:
        return {a.id: a for a in self.accounts}

    def network(self, network_id: str) -> Network:
        return self._networks_by_id[network_id]

    def account(self, account_id_or_name: str) -> Account:
        """An account by id, or by name as a convenience for CLIs."""
        if account_id_or_name in self._accounts_by_id:
            return self._accounts_by_id[account_id_or_name]
        for account in self.accounts:
            if account.name == account_id_or_name:
                return account
        raise KeyError(account_id_or_name)

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def system_vms(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.is_system_vm)

    def system_vm(self, ref: str) -> Host:
        """A system VM by uuid, CloudStack name (r-4-VM) or lab host name."""
        for host in self.system_vms():
            if ref in (host.uuid, host.vm_name, host.name):
                return host
        raise KeyError(ref)

    def bastion(self) -> Host:
        for host in self.hosts:
            if host.kind is HostKind.BASTION:
                return host
        raise KeyError("bastion")


def load_topology(path: str | Path) -> Topology:
    """Read a topology file (YAML or JSON) into a validated Topology."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return Topology.model_validate(data)


DEFAULT_TOPOLOGY_FILE = Path(__file__).resolve().parents[4] / "simvms" / "topology.yaml"
