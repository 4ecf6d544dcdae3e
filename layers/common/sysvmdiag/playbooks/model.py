"""Playbooks: which diagnostics an alarm starts, read from a YAML file (``simvms/playbooks.yaml``).

A playbook matches an alarm by name, by tags, or both (either is enough), and lists diagnostics in
the shape of an API request, validated by the same :class:`~sysvmdiag.models.DiagnosticRequest`
the API uses, so a playbook can never hold a request the API would refuse to parse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from sysvmdiag.models import DiagnosticRequest

DEFAULT_PLAYBOOKS_FILE = Path(__file__).resolve().parents[4] / "simvms" / "playbooks.yaml"

# A playbook id is part of DynamoDB keys and SNS subjects: short, no separators of our own ("#").
PlaybookId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
# CloudWatch limits: alarm names 1-255 characters, tag keys 1-128, tag values 0-256.
AlarmName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class PlaybookMatch(_Model):
    """An alarm matches when its name is listed, or when it carries every tag listed (or both)."""

    alarm_names: tuple[AlarmName, ...] = ()
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _matches_something(self) -> PlaybookMatch:
        if not self.alarm_names and not self.tags:
            raise ValueError("match needs alarmNames, tags, or both")
        return self

    def matches(self, alarm_name: str, alarm_tags: dict[str, str]) -> bool:
        """True when the alarm is named here or carries all of this match's tags."""
        if alarm_name in self.alarm_names:
            return True
        return bool(self.tags) and all(alarm_tags.get(key) == value for key, value in self.tags.items())


class Playbook(_Model):
    """Diagnostics to run, as the system identity, when a matching alarm goes to ALARM."""

    id: PlaybookId
    description: str = ""
    match: PlaybookMatch
    diagnostics: tuple[DiagnosticRequest, ...] = Field(min_length=1, max_length=20)


class PlaybookFile(_Model):
    version: int = 1
    playbooks: tuple[Playbook, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> PlaybookFile:
        seen: set[str] = set()
        for playbook in self.playbooks:
            if playbook.id in seen:
                raise ValueError(f"playbook id {playbook.id!r} is used twice")
            seen.add(playbook.id)
        return self


class PlaybookFileError(ValueError):
    """A playbook file that cannot be used, with the file and the item at fault in the message."""


def _location(data: object, loc: tuple[int | str, ...]) -> str:
    """``playbooks[1] (id 'vpn-check').diagnostics[0].ipAddress``: where an error is, for a person."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{step}]"]
        else:
            parts.append(str(step))
        try:
            node = node[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(step, int) and isinstance(node, dict) and isinstance(node.get("id"), str):
            parts[-1] += f" (id {node['id']!r})"
    return ".".join(parts) or "(top level)"


def parse_playbooks(data: object, source: str = "<data>") -> PlaybookFile:
    """Validate already-read file content; errors name ``source`` and each item at fault."""
    if data is None:
        data = {}
    try:
        return PlaybookFile.model_validate(data)
    except ValidationError as err:
        lines = [f"{source}: {err.error_count()} problem(s) in the playbook file:"]
        for error in err.errors(include_url=False):
            lines.append(f"  {_location(data, tuple(error['loc']))}: {error['msg']}")
        raise PlaybookFileError("\n".join(lines)) from err


def load_playbook_file(path: str | Path) -> PlaybookFile:
    """Read and validate a playbook file (YAML or JSON)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PlaybookFileError(f"{path}: cannot read the playbook file: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise PlaybookFileError(f"{path}: not valid YAML: {err}") from err
    return parse_playbooks(data, str(path))
