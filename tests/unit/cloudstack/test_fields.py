"""The mapping reads only fields CloudStack's response classes have (``fields.FIELDS``, recorded from
their ``@SerializedName`` values), each of them somewhere; the lab's answers serve no other."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from simvms.cloudstack_responses import responses_for
from sysvmdiag.cloudstack.commands import LIST_COMMANDS
from sysvmdiag.cloudstack.fields import COMMAND_RESPONSES, FIELDS, NESTED
from sysvmdiag.cloudstack.mapping import map_zone
from tests.unit.cloudstack.test_messy import BASE, TABLE
from tests.unit.policy.test_zones import ZONES
from tests.unit.policy.topologies import LAB

READ: dict[str, set[str]] = defaultdict(set)


class Recorded(dict):
    """An answer's object that notes every field the mapping looks at, under its response class."""

    def __init__(self, data: dict[str, Any], response: str) -> None:
        super().__init__(data)
        self.response = response
        for (outer, field), inner in NESTED.items():
            value = data.get(field)
            if outer == response and isinstance(value, list | dict):
                nested = value if isinstance(value, list) else [value]
                wrapped = [Recorded(v, inner) if isinstance(v, dict) else v for v in nested]
                dict.__setitem__(self, field, wrapped if isinstance(value, list) else wrapped[0])

    def get(self, key: str, default: Any = None) -> Any:
        READ[self.response].add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        READ[self.response].add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        READ[self.response].add(str(key))
        return super().__contains__(key)


def _recorded(answers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for command, items in answers.items():
        response = COMMAND_RESPONSES[command]
        wrap = lambda v, r=response: Recorded(v, r) if isinstance(v, dict) else v  # noqa: E731
        out[command] = [wrap(v) for v in items] if isinstance(items, list) else items
    return out


def test_the_table_covers_every_list_command() -> None:
    assert set(COMMAND_RESPONSES) == set(LIST_COMMANDS)
    assert set(COMMAND_RESPONSES.values()) | {inner for inner in NESTED.values()} == set(FIELDS)


def test_the_mapping_reads_every_recorded_field_and_no_other() -> None:
    READ.clear()
    for messy in TABLE:
        answers = copy.deepcopy(BASE)
        messy.change(answers)
        map_zone(_recorded(answers), zone=LAB.zone.name)
    for topology in ZONES.values():
        map_zone(_recorded(responses_for(topology)))
    unknown = {
        response: sorted(keys - FIELDS[response])
        for response, keys in READ.items()
        if keys - FIELDS[response]
    }
    unread = {
        response: sorted(FIELDS[response] - READ[response])
        for response in FIELDS
        if FIELDS[response] - READ[response]
    }
    assert unknown == {}
    assert unread == {}


def _served_fields(topology: Any) -> dict[str, set[str]]:
    served: dict[str, set[str]] = defaultdict(set)
    for command, items in responses_for(topology).items():
        response = COMMAND_RESPONSES[command]
        for item in items:
            served[response] |= set(item)
            for (outer, field), inner in NESTED.items():
                if outer == response:
                    for nested in item.get(field, []):
                        served[inner] |= set(nested)
    return served


def test_the_lab_serves_only_recorded_fields() -> None:
    for topology in (LAB, *ZONES.values()):
        served = _served_fields(topology)
        assert {r: sorted(keys - FIELDS[r]) for r, keys in served.items() if keys - FIELDS[r]} == {}
