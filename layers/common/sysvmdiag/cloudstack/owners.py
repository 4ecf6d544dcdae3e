"""Domains and accounts (listDomains, listAccounts), and who owns an object (``account`` + ``domainid``).

Pure. A domain's path is CloudStack's own (``path``, "ROOT/acme/eng"), or built from the parent chain
when absent; an account whose domain cannot be placed is left out, never guessed. Roles are read with
least privilege: what ``accounttype`` and ``roletype`` both grant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sysvmdiag.cloudstack.report import MappingReport
from sysvmdiag.cloudstack.values import Item, text
from sysvmdiag.topology.model import Account, Role

_RANK = {Role.USER: 0, Role.DOMAIN_ADMIN: 1, Role.ADMIN: 2}
_BY_ACCOUNT_TYPE = {"0": Role.USER, "1": Role.ADMIN, "2": Role.DOMAIN_ADMIN}
_BY_ROLE_TYPE = {"user": Role.USER, "admin": Role.ADMIN, "domainadmin": Role.DOMAIN_ADMIN}
_MAX_DEPTH = 64


def normalise_path(path: str | None) -> str | None:
    """ "ROOT/acme/eng" as is; CloudStack's stored form "/acme/eng/" read as "ROOT/acme/eng"."""
    if path is None:
        return None
    parts = [part for part in path.strip().split("/") if part]
    if not parts or parts[0] != "ROOT":
        parts.insert(0, "ROOT")
    return "/".join(parts)


def domain_paths(items: list[Item], report: MappingReport) -> dict[str, str]:
    """Domain id -> path, for every domain whose path is given or can be built from its parents."""
    by_id = {item_id: item for item in items if (item_id := text(item, "id"))}
    paths: dict[str, str] = {}
    for item_id, item in by_id.items():
        path = normalise_path(text(item, "path")) or _chain(item, by_id)
        if path is None:
            report.skip(
                "domain", item_id, text(item, "name"), "no path, and its parent chain does not reach ROOT"
            )
            continue
        paths[item_id] = path
    report.count("domain", len(paths))
    return paths


def _chain(item: Item, by_id: dict[str, Item]) -> str | None:
    """ROOT/.../name from parentdomainid links (a domain with no parent is ROOT itself)."""
    names: list[str] = []
    current: Item | None = item
    for _ in range(_MAX_DEPTH):
        if current is None:
            return None
        name = text(current, "name")
        parent = text(current, "parentdomainid")
        if parent is None:
            return "/".join(["ROOT", *reversed(names)]) if name == "ROOT" else None
        if name is None:
            return None
        names.append(name)
        current = by_id.get(parent)
    return None


def read_role(item: Item) -> tuple[Role, str | None]:
    """The role both fields grant (least privilege), and a note when it had to be narrowed."""
    found: list[tuple[str, Role | None]] = []
    account_type = text(item, "accounttype")
    if account_type is not None:
        found.append((f"accounttype {account_type}", _BY_ACCOUNT_TYPE.get(account_type)))
    role_type = text(item, "roletype")
    if role_type is not None:
        found.append((f"roletype {role_type}", _BY_ROLE_TYPE.get(role_type.lower())))
    if not found:
        return Role.USER, "neither accounttype nor roletype given: read as a user"
    unknown = [label for label, role in found if role is None]
    if unknown:
        return Role.USER, f"{', '.join(unknown)} has no counterpart here: read as a user"
    roles = [role for _, role in found if role is not None]
    least = min(roles, key=lambda role: _RANK[role])
    if len(set(roles)) > 1:
        return least, f"{' and '.join(label for label, _ in found)} disagree: read as {least.value}"
    return least, None


@dataclass
class Directory:
    """The accounts that could be mapped, and lookups by (domainid, account name)."""

    domains: dict[str, str]
    accounts: dict[str, Account] = field(default_factory=dict)
    by_name: dict[tuple[str, str], str] = field(default_factory=dict)

    def owner(self, item: Item) -> tuple[str | None, str | None]:
        """The owning account's id, or None and why not (a project, an unknown account...)."""
        name, domain_id = text(item, "account"), text(item, "domainid")
        if name is None:
            project = text(item, "projectid")
            return None, f"owned by project {project}, which is not mapped" if project else "names no account"
        if domain_id is None:
            return None, f"names account {name!r} but no domainid"
        account_id = self.by_name.get((domain_id, name))
        if account_id is None:
            return (
                None,
                f"names account {name!r} of domain {domain_id}, which is not among the mapped accounts",
            )
        return account_id, None

    def path(self, domain_id: str | None) -> str | None:
        return self.domains.get(domain_id) if domain_id else None


def read_accounts(items: list[Item], domains: dict[str, str], report: MappingReport) -> Directory:
    directory = Directory(domains)
    for item in items:
        item_id, name = text(item, "id"), text(item, "name")
        if item_id is None or name is None:
            report.skip("account", item_id, name, "no id or no name")
            continue
        domain_id = text(item, "domainid")
        path = domains.get(domain_id or "") or normalise_path(text(item, "domainpath"))
        if domain_id is None or path is None:
            report.skip(
                "account", item_id, name, f"its domain {domain_id} cannot be placed in the domain tree"
            )
            continue
        role, caveat = read_role(item)
        if caveat:
            report.note(f"account {name} ({item_id}): {caveat}")
        directory.accounts[item_id] = Account(id=item_id, name=name, role=role, domain=path)
        directory.by_name[(domain_id, name)] = item_id
    report.count("account", len(directory.accounts))
    return directory
