"""What a zone mapping could not map, and why: the sync shows it rather than guessing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class MappingError(ValueError):
    """The answers cannot be mapped at all (no zone, or an ambiguous choice of zone)."""


class Skip(Exception):
    """Raised while mapping one object that has to be left out; caught per object and reported."""


@dataclass(frozen=True)
class Unmapped:
    """One object left out of the topology (or one part of it), and the reason."""

    kind: str  # account, domain, pod, network, vpc, private_gateway, static_route, vpn, router, system_vm...
    id: str | None
    name: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "reason": self.reason}


@dataclass
class MappingReport:
    """Everything left out, counts of what was mapped per kind, and notes on what was mapped with a
    caveat (a role read with least privilege, an isolated network shared by permissions...)."""

    unmapped: list[Unmapped] = field(default_factory=list)
    mapped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def skip(self, kind: str, item_id: str | None, name: str | None, reason: str) -> None:
        self.unmapped.append(Unmapped(kind, item_id, name, reason))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def count(self, kind: str, n: int = 1) -> None:
        self.mapped[kind] += n

    @property
    def unmapped_counts(self) -> Counter[str]:
        return Counter(entry.kind for entry in self.unmapped)

    def reasons(self, kind: str | None = None) -> list[str]:
        return [entry.reason for entry in self.unmapped if kind is None or entry.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapped": dict(self.mapped),
            "unmapped_counts": dict(self.unmapped_counts),
            "unmapped": [entry.to_dict() for entry in self.unmapped],
            "notes": list(self.notes),
        }
