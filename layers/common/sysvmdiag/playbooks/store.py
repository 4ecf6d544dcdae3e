"""Playbooks in the topology table, laid out so an alarm costs one Query for its name and one per tag.

Items (``pk``/``sk``; none carries ``zone_id`` or ``list_pk``, so the topology loader and the
``listing`` index never see them):

* ``PLAYBOOKS`` / ``<playbook id>``: the playbook as JSON, plus ``match_keys`` (the keys of its
  match items), so ``playbooks list`` is one Query and a reload knows what to prune without a Scan.
* ``PLAYBOOK_ALARM#<alarm name>`` / ``PLAYBOOK#<id>``: a copy of the playbook per alarm name it
  matches; the playbooks of an alarm are one Query on that partition.
* ``PLAYBOOK_TAG#<["key","value"]>`` / ``PLAYBOOK#<id>``: a copy under the first of its tags (all
  of them must match, so one is enough to find it); one Query per tag the alarm carries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Key

from sysvmdiag.playbooks.model import Playbook, PlaybookFile, load_playbook_file

PLAYBOOKS_PK = "PLAYBOOKS"
ALARM_PK_PREFIX = "PLAYBOOK_ALARM#"
TAG_PK_PREFIX = "PLAYBOOK_TAG#"
MATCH_SK_PREFIX = "PLAYBOOK#"


def definition_key(playbook_id: str) -> dict[str, str]:
    return {"pk": PLAYBOOKS_PK, "sk": playbook_id}


def alarm_match_pk(alarm_name: str) -> str:
    return f"{ALARM_PK_PREFIX}{alarm_name}"


def tag_match_pk(key: str, value: str) -> str:
    """JSON keeps any key or value (``=``, ``#``, ``:`` included) unambiguous."""
    return TAG_PK_PREFIX + json.dumps([key, value], separators=(",", ":"), ensure_ascii=False)


def _playbook_json(playbook: Playbook) -> str:
    return playbook.model_dump_json(by_alias=True, exclude_defaults=True)


def playbook_items(playbooks: Iterable[Playbook]) -> list[dict[str, Any]]:
    """Every item of a playbook set; a pure function of it, so a reload rewrites identical items."""
    items: list[dict[str, Any]] = []
    for playbook in playbooks:
        document = _playbook_json(playbook)
        sk = f"{MATCH_SK_PREFIX}{playbook.id}"
        match_pks = [alarm_match_pk(name) for name in dict.fromkeys(playbook.match.alarm_names)]
        if playbook.match.tags:
            first_key = sorted(playbook.match.tags)[0]
            match_pks.append(tag_match_pk(first_key, playbook.match.tags[first_key]))
        items.append(
            {
                **definition_key(playbook.id),
                "item_type": "PLAYBOOK",
                "playbook_id": playbook.id,
                "description": playbook.description,
                "playbook": document,
                "match_keys": [json.dumps([pk, sk]) for pk in match_pks],
            }
        )
        items.extend(
            {
                "pk": pk,
                "sk": sk,
                "item_type": "PLAYBOOK_MATCH",
                "playbook_id": playbook.id,
                "playbook": document,
            }
            for pk in match_pks
        )
    return items


@dataclass(frozen=True)
class PlaybookLoadReport:
    """What a load wrote and removed, for the CLI's output."""

    playbooks: int
    match_items: int
    removed_items: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PlaybookStore:
    """Reads and the (idempotent) load of the playbook items, given the topology table resource."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def _query(self, pk: str) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(pk)}
        while True:
            response = self.table.query(**query)
            yield from response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list_playbooks(self) -> list[Playbook]:
        """Every loaded playbook, by id: one Query."""
        return [Playbook.model_validate_json(item["playbook"]) for item in self._query(PLAYBOOKS_PK)]

    def playbooks_for_alarm(self, alarm_name: str, tags: Mapping[str, str] | None = None) -> list[Playbook]:
        """Playbooks an alarm starts: one Query for its name, one per tag; each playbook once.

        Tag candidates are checked against all of their tags (they are stored under one of them).
        """
        tags = dict(tags or {})
        found: dict[str, Playbook] = {}
        pks = [alarm_match_pk(alarm_name)] + [tag_match_pk(key, value) for key, value in sorted(tags.items())]
        for pk in pks:
            for item in self._query(pk):
                playbook = Playbook.model_validate_json(item["playbook"])
                if playbook.id not in found and playbook.match.matches(alarm_name, tags):
                    found[playbook.id] = playbook
        return sorted(found.values(), key=lambda playbook: playbook.id)

    def load(self, playbook_file: PlaybookFile) -> PlaybookLoadReport:
        """Write the file's playbooks and delete items of playbooks or matches no longer in it."""
        items = playbook_items(playbook_file.playbooks)
        wanted = {(item["pk"], item["sk"]) for item in items}
        existing: set[tuple[str, str]] = set()
        for item in self._query(PLAYBOOKS_PK):
            existing.add((item["pk"], item["sk"]))
            existing |= {tuple(json.loads(key)) for key in item.get("match_keys", [])}
        stale = sorted(existing - wanted)
        with self.table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
            for pk, sk in stale:
                batch.delete_item(Key={"pk": pk, "sk": sk})
        return PlaybookLoadReport(
            playbooks=len(playbook_file.playbooks),
            match_items=len(items) - len(playbook_file.playbooks),
            removed_items=len(stale),
        )


def load_playbooks(path: str | Path, table: Any) -> PlaybookLoadReport:
    """Validate a playbook file and load it into ``table`` (the topology table), pruning what left it.

    For the local stack's start and ``sysvmdiag playbooks load``; raises PlaybookFileError (naming
    the file and item) before writing anything when the file is invalid.
    """
    return PlaybookStore(table).load(load_playbook_file(path))
