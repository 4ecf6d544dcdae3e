"""CloudWatch alarm state changes (as EventBridge delivers them) -> playbook runs.

Only a change *to* ALARM starts anything. The alarm's tags come from the event when CloudWatch
propagates them (``detail.alarmTags``), otherwise from ListTagsForResource on the alarm ARN; when
that call fails the alarm is matched by name only (a missing permission must not silence it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any, Literal, Protocol

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from sysvmdiag.identity import SYSTEM_ALARM_CALLER
from sysvmdiag.models import DiagnosticRequest
from sysvmdiag.observability import logger
from sysvmdiag.playbooks.model import Playbook
from sysvmdiag.playbooks.runs import PlaybookRuns, new_run_id

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
AlarmStateValue = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class AlarmState(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    value: AlarmStateValue
    reason: str = ""
    reason_data: str | None = Field(default=None, alias="reasonData")
    # CloudWatch writes "2019-10-02T17:04:40.989+0000", kept as given.
    timestamp: str | None = None


class AlarmStateChangeDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    alarm_name: str = Field(alias="alarmName", min_length=1)
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")
    configuration: dict[str, Any] = Field(default_factory=dict)
    # present when the alarm propagates its tags to events
    alarm_tags: dict[str, str] | None = Field(default=None, alias="alarmTags")


class AlarmStateChangeEvent(EventBridgeModel):
    """EventBridge's "CloudWatch Alarm State Change" event (source aws.cloudwatch)."""

    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmStateChangeDetail

    @property
    def alarm_arn(self) -> str | None:
        return next((arn for arn in self.resources if ":alarm:" in arn), None)

    @property
    def starts_runs(self) -> bool:
        return self.detail.state.value == "ALARM"


class Submitter(Protocol):
    """What the starter needs of DiagnosticsService (``submit_job``)."""

    def submit_job(self, caller: Any, request: DiagnosticRequest, origin: Any, **kwargs: Any) -> Any: ...


class PlaybookSource(Protocol):
    def playbooks_for_alarm(self, alarm_name: str, tags: dict[str, str] | None = None) -> list[Playbook]: ...


def alarm_tags(event: AlarmStateChangeEvent, cloudwatch_client: Any) -> dict[str, str] | None:
    """The alarm's tags: from the event if propagated, else ListTagsForResource; None when unknown."""
    if event.detail.alarm_tags is not None:
        return dict(event.detail.alarm_tags)
    arn = event.alarm_arn
    if arn is None:
        logger.warning("alarm event names no alarm ARN: matching by name only")
        return None
    try:
        response = cloudwatch_client.list_tags_for_resource(ResourceARN=arn)
    except Exception:
        logger.exception("alarm tags could not be read: matching by name only", extra={"alarm_arn": arn})
        return None
    return {tag["Key"]: tag["Value"] for tag in response.get("Tags", [])}


@dataclass
class RunSummary:
    """What the handler returns (and the idempotency table keeps for a repeated delivery)."""

    event_id: str
    alarm_name: str
    state: str
    playbooks: list[dict[str, Any]] = field(default_factory=list)
    tags_known: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "alarmName": self.alarm_name,
            "state": self.state,
            "tagsKnown": self.tags_known,
            "playbookRuns": self.playbooks,
        }


def start_playbook_runs(
    event: AlarmStateChangeEvent,
    *,
    service: Submitter,
    playbooks: PlaybookSource,
    runs: PlaybookRuns,
    cloudwatch_client: Any,
) -> RunSummary:
    """Start one run per matching playbook; each diagnostic a job of the system identity.

    A diagnostic the policy refuses becomes a denied job (counted as finished at once); one whose
    submission fails is recorded in the run as failed, so the run still ends and reports it, and a
    redelivered event (after an error elsewhere) is never needed to finish it.
    """
    detail = event.detail
    summary = RunSummary(event_id=event.id, alarm_name=detail.alarm_name, state=detail.state.value)
    if not event.starts_runs:
        logger.info(
            "alarm state is not ALARM: nothing runs",
            extra={"alarm": detail.alarm_name, "state": detail.state.value},
        )
        return summary
    tags = alarm_tags(event, cloudwatch_client)
    summary.tags_known = tags is not None
    matched = playbooks.playbooks_for_alarm(detail.alarm_name, tags or {})
    if not matched:
        logger.info("no playbook matches the alarm", extra={"alarm": detail.alarm_name, "tags": tags})
    sequence = count(1)
    for playbook in matched:
        summary.playbooks.append(_start_run(event, playbook, service, runs, sequence))
    return summary


def _start_run(
    event: AlarmStateChangeEvent, playbook: Playbook, service: Submitter, runs: PlaybookRuns, sequence: count
) -> dict[str, Any]:
    """One playbook's run: its record, one job per diagnostic, and what could not be submitted."""
    from sysvmdiag.pipeline.origin import RequestOrigin

    detail = event.detail
    run_id = new_run_id()
    runs.open(
        run_id=run_id,
        alarm_name=detail.alarm_name,
        alarm_state=detail.state.value,
        playbook_id=playbook.id,
        event_id=event.id,
        diagnostics=len(playbook.diagnostics),
    )
    job_ids: list[str] = []
    statuses: list[str] = []
    failures: list[dict[str, Any]] = []
    for request in playbook.diagnostics:
        origin = RequestOrigin(
            request_id=f"{event.id}:{next(sequence)}",
            actor="alarm",
            alarm_name=detail.alarm_name,
            playbook=playbook.id,
        )
        try:
            job = service.submit_job(
                SYSTEM_ALARM_CALLER, request, origin, playbook_run_id=run_id, deny_as_job=True
            )
        except Exception as err:
            logger.exception(
                "playbook diagnostic could not be submitted",
                extra={"run_id": run_id, "playbook": playbook.id},
            )
            failures.append(
                {
                    **request.model_dump(mode="json", by_alias=True, exclude={"run_async"}),
                    "summary": f"not submitted: {type(err).__name__}: {err}"[:200],
                }
            )
            statuses.append("failed")
            continue
        job_ids.append(job.id)
        statuses.append(job.status.value)
        if job.status.final:  # denied at submission: no worker will ever report it
            runs.finished(run_id, job.id)
    runs.submitted(run_id, job_ids, failures)
    logger.info(
        "playbook run started",
        extra={"run_id": run_id, "playbook": playbook.id, "job_ids": job_ids, "alarm": detail.alarm_name},
    )
    return {"playbookRunId": run_id, "playbook": playbook.id, "jobIds": job_ids, "statuses": statuses}
