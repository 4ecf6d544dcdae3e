"""The scheduled topology sync (functions/sync): one run of ``sync_zone`` with the deployment's settings,
timed, its failures named, its report summarised for the log, the metrics and the invocation's answer.

Nothing is written before the zone is read and mapped (``sync_zone`` loads only a mapped zone), so a
CloudStack error, an unknown zone or tables holding another zone fail the run with the tables as they were.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from sysvmdiag.cloudstack.answers import CloudStackError
from sysvmdiag.cloudstack.apikeys import ApiKeyPair, ApiKeySecretError
from sysvmdiag.cloudstack.client import CloudStackClient, ZoneNotFoundError
from sysvmdiag.cloudstack.report import MappingError
from sysvmdiag.cloudstack.sync import SyncReport, sync_zone
from sysvmdiag.topology.loader import ZoneMismatch
from sysvmdiag.topology.store import TopologyStore

IDS_SHOWN = 20  # ids (and unmapped objects, unpinned VMs) listed in the log line and the answer
NEVER_REPLACES = (
    "The scheduled sync never replaces a zone: set CLOUDSTACK_ZONE to the zone the tables hold, or replace "
    "it once on purpose with `sysvmdiag topology sync --replace`"
)
CHANGE_METRICS = {"networks": "Networks", "system_vms": "SystemVms", "vpcs": "Vpcs"}


class InvalidSyncEvent(ValueError):
    """The invocation's event is not one the sync understands (e.g. ``"dryRun": "yes"``)."""


class SyncRequest(BaseModel):
    """What an invocation asks: ``{"dryRun": true}`` (a manual invoke, or a schedule's Input), or the same
    under ``detail`` (an EventBridge event). Anything else in the event, e.g. the default notification
    EventBridge Scheduler sends, is ignored: a plain scheduled run writes."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    dry_run: StrictBool = Field(False, alias="dryRun")

    @classmethod
    def from_event(cls, event: Any) -> SyncRequest:
        if event is None or event == "":
            return cls()
        if not isinstance(event, dict):
            _invalid(f"the event is {type(event).__name__}")
        detail = event.get("detail")
        if isinstance(detail, str):
            try:
                detail = json.loads(detail) if detail.strip() else {}
            except ValueError:
                detail = {}
        source = event if "dryRun" in event or not isinstance(detail, dict) else detail
        try:
            return cls.model_validate(source)
        except ValidationError as err:
            _invalid("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()))


def _invalid(problem: str) -> NoReturn:
    raise InvalidSyncEvent(f'the sync event must be {{}} or {{"dryRun": true|false}}: {problem}')


class SyncFailed(RuntimeError):
    """A sync that did not load the zone, and why (``reason``: configuration, secret, cloudstack, zone,
    zone_mismatch, aws). The tables are as they were before the run, except after DynamoDB failed in
    the middle of the load's writes (``aws``): the next run then writes what still differs."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class SyncOutcome:
    """A sync that ran: its report, how long it took, and where it read from."""

    report: SyncReport
    seconds: float
    url: str

    def summary(self) -> dict[str, Any]:
        """Counts for one log line (the ids only as far as IDS_SHOWN)."""
        load, mapping, keys = self.report.load, self.report.mapping, self.report.keys
        return {
            "zone": self.report.zone,
            "dryRun": self.report.dry_run,
            "seconds": round(self.seconds, 3),
            "counts": {
                "systemVms": load.system_vms,
                "networks": load.networks,
                "vpcs": load.vpcs,
                "accounts": load.accounts,
            },
            "changes": {
                kind: {verb: len(getattr(changes, verb)) for verb in ("added", "changed", "removed")}
                for kind, changes in load.changes.items()
            },
            "items": {
                "written": load.items_written,
                "unchanged": load.items_unchanged,
                "removed": load.items_removed,
            },
            "unmapped": len(mapping.unmapped),
            "unmappedCounts": dict(mapping.unmapped_counts),
            "unpinnedSystemVms": len(keys.unpinned),
            "unpinned": keys.unpinned[:IDS_SHOWN],
            "hostKeyConflicts": keys.conflicts[:IDS_SHOWN],
            "clientWarnings": len(self.report.client_warnings),
        }

    def metric_values(self) -> dict[str, tuple[float, str]]:
        """Metric name -> (value, unit): NetworksAdded, ..., Unmapped, UnpinnedSystemVms, SyncSeconds."""
        values: dict[str, tuple[float, str]] = {}
        for kind, prefix in CHANGE_METRICS.items():
            changes = self.report.load.changes.get(kind)
            for verb in ("added", "changed", "removed"):
                count = len(getattr(changes, verb)) if changes else 0
                values[f"{prefix}{verb.title()}"] = (count, "Count")
        values["Unmapped"] = (len(self.report.mapping.unmapped), "Count")
        values["UnpinnedSystemVms"] = (len(self.report.keys.unpinned), "Count")
        values["SyncSeconds"] = (round(self.seconds, 3), "Seconds")
        return values

    def to_dict(self, ids_shown: int = IDS_SHOWN) -> dict[str, Any]:
        """The invocation's answer: the summary and the report, every list cut to ``ids_shown`` entries
        (a 20,000-network zone's first sync adds 20,000 ids: the counts say how many there were)."""
        report = self.report.to_dict(ids_shown=ids_shown)
        mapping = report["mapping"]
        mapping["unmapped"] = mapping["unmapped"][:ids_shown]
        mapping["notes"] = mapping["notes"][:ids_shown]
        report["hostKeys"] = {name: ids[:ids_shown] for name, ids in report["hostKeys"].items()}
        report["clientWarnings"] = report["clientWarnings"][:ids_shown]
        return {"summary": self.summary(), "report": report}


@dataclass
class ScheduledSync:
    """The sync of this deployment's zone, its parts built by the composition root (bootstrap)."""

    store: TopologyStore
    url: str | None
    secret: str | None
    zone: str | None
    keys: Callable[[bool], ApiKeyPair]  # force_fetch -> the key pair (powertools-cached)
    client_for: Callable[[ApiKeyPair], CloudStackClient]
    clock: Callable[[], float] = field(default=time.monotonic)

    def run(self, *, dry_run: bool = False) -> SyncOutcome:
        """Read, map and load the zone (``dry_run``: say what would change); SyncFailed says why not."""
        missing = [
            var
            for var, value in (("CLOUDSTACK_URL", self.url), ("CLOUDSTACK_SECRET_NAME", self.secret))
            if not value
        ]
        if missing:
            raise SyncFailed("configuration", f"topology sync is not configured: set {', '.join(missing)}")
        started = self.clock()
        try:
            report = self._sync(dry_run)
        except ApiKeySecretError as err:
            raise SyncFailed("secret", str(err)) from err
        except CloudStackError as err:
            raise SyncFailed("cloudstack", f"reading the zone from {self.url} failed: {err}") from err
        except (ZoneNotFoundError, MappingError) as err:
            raise SyncFailed("zone", f"zone {self.zone or '(the only one)'} at {self.url}: {err}") from err
        except ZoneMismatch as err:
            raise SyncFailed("zone_mismatch", f"{err}. {NEVER_REPLACES}") from err
        except (ClientError, BotoCoreError) as err:
            raise SyncFailed("aws", f"DynamoDB failed during the sync: {err}") from err
        return SyncOutcome(report=report, seconds=self.clock() - started, url=str(self.url))

    def _sync(self, dry_run: bool) -> SyncReport:
        """One sync; after a 401 once more with the secret fetched afresh, when it changed (keys rotated
        while a warm function held the old ones in powertools' cache)."""
        keys = self.keys(False)
        try:
            return sync_zone(self.client_for(keys), self.store, zone=self.zone, dry_run=dry_run)
        except CloudStackError as err:
            if err.http_status != 401:
                raise
            fresh = self.keys(True)
            if fresh == keys:
                raise
        return sync_zone(self.client_for(fresh), self.store, zone=self.zone, dry_run=dry_run)
