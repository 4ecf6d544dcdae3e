"""Reachability matrices: targets x destinations x tests, one job per cell, read back as one grid.

Each cell is submitted as any job is (``DiagnosticsService.submit_job`` with ``deny_as_job``): counted
toward the caller's minute, judged by the policy on its own, audited, holding an account slot while it
waits and runs, and run by the worker within the VM's limit. A cell the policy (or the minute) refuses is
a job in status denied; a cell a later step refuses (the account's concurrent jobs, a backing service)
has no job and is ``refused`` with its code. Neither sinks the matrix. The record keeps each cell's job
id; a read takes every cell's state from its job (one batch read), so the record is written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sysvmdiag.errors import ErrorCode, ServiceError
from sysvmdiag.jobs import Job
from sysvmdiag.matrix_store import MatrixRecord
from sysvmdiag.models import (
    MAX_MATRIX_CELLS,
    CellStatus,
    DiagnosticRequest,
    DiagnosticType,
    MatrixCell,
    MatrixRequest,
    MatrixView,
)
from sysvmdiag.pipeline.edge import EdgeRefusals
from sysvmdiag.pipeline.guards import dependency_errors
from sysvmdiag.pipeline.origin import RequestOrigin
from sysvmdiag.pipeline.ports import Clock, JobRepository, MatrixRepository
from sysvmdiag.pipeline.visibility import may_read
from sysvmdiag.policy import Caller
from sysvmdiag.results import (
    ArpingResult,
    MtrResult,
    NdiscResult,
    ParsedResult,
    PingResult,
    PmtuResult,
    TracerouteResult,
)

CellSubmitter = Callable[[Caller, DiagnosticRequest, RequestOrigin], Job]  # a job, denied ones included
JobExpirer = Callable[[Job], Job | None]  # fail a job past its deadline (the sweeper's move, on read)


class Matrices:
    def __init__(
        self,
        matrices: MatrixRepository,
        jobs: JobRepository,
        submit_cell: CellSubmitter,
        expire: JobExpirer,
        edge: EdgeRefusals,
        clock: Clock,
    ) -> None:
        self._matrices = matrices
        self._jobs = jobs
        self._submit_cell = submit_cell
        self._expire = expire
        self._edge = edge
        self._clock = clock

    def submit(self, caller: Caller, request: MatrixRequest, origin: RequestOrigin) -> MatrixView:
        """Submit every cell, store the record, answer the matrix as it stands. A matrix refused as a
        whole (too large, no jobs table) is counted and audited like a refusal at the edge."""
        self._check(caller, request, origin)
        matrix_id = str(uuid.uuid4())
        cells = [
            self._submitted(caller, request, origin, index, target, destination, test)
            for index, (target, test, destination) in enumerate(
                (t, k, d) for t in request.targets for k in request.tests for d in request.destinations
            )
        ]
        record = MatrixRecord(
            id=matrix_id,
            account_id=caller.account_id,
            role=caller.role.value,
            domain=caller.domain,
            created_at=self._clock(),
            targets=request.targets,
            destinations=request.destinations,
            tests=request.tests,
            cells=cells,
        )
        with dependency_errors():
            self._matrices.create(record)
        return _view(record, cells)

    def read(self, caller: Caller, matrix_id: str) -> MatrixView:
        """The caller's own matrix (admins: any; domain admins: their subtree's), each cell as its job
        stands now."""
        with dependency_errors():
            record = self._matrices.get(matrix_id)
        if record is None or not may_read(caller, record.account_id, record.domain):
            raise ServiceError(ErrorCode.MATRIX_NOT_FOUND, f"No matrix {matrix_id!r} is visible to you.")
        with dependency_errors():
            jobs = self._jobs.get_many([cell.job_id for cell in record.cells if cell.job_id])
        now = self._clock()
        for job_id, job in list(jobs.items()):
            if not job.status.final and now > job.deadline_at:
                jobs[job_id] = self._expire(job) or job
        cells = [cell_now(cell, jobs.get(cell.job_id) if cell.job_id else None) for cell in record.cells]
        return _view(record, cells)

    def _check(self, caller: Caller, request: MatrixRequest, origin: RequestOrigin) -> None:
        if not (self._matrices.available and self._jobs.available):
            raise self._edge.refuse(
                caller,
                origin,
                ServiceError(
                    ErrorCode.MATRICES_UNAVAILABLE,
                    "This deployment has no jobs table and queue, which a reachability matrix runs on.",
                ),
            )
        if request.cell_count > MAX_MATRIX_CELLS:
            raise self._edge.refuse(
                caller,
                origin,
                ServiceError(
                    ErrorCode.MATRIX_TOO_LARGE,
                    f"{len(request.targets)} targets x {len(request.destinations)} destinations x "
                    f"{len(request.tests)} tests is {request.cell_count} cells; a matrix may have at most "
                    f"{MAX_MATRIX_CELLS}. Nothing ran.",
                    field="body",
                ),
            )

    def _submitted(
        self,
        caller: Caller,
        request: MatrixRequest,
        origin: RequestOrigin,
        index: int,
        target: str,
        destination: str,
        test: DiagnosticType,
    ) -> MatrixCell:
        diagnostic = DiagnosticRequest.model_validate(
            {
                "targetId": target,
                "type": test,
                "ipAddress": destination,
                "params": request.params.get(test),
                "async": True,
            }
        )
        cell = MatrixCell(
            target=target,
            destination=destination,
            test=diagnostic.type,
            params=diagnostic.params,
            status=CellStatus.REFUSED,
        )
        # Each cell is its own request in the audit trail: the matrix request's id and the cell's index.
        cell_origin = RequestOrigin(
            request_id=f"{origin.request_id}#{index}",
            source_ip=origin.source_ip,
            user_agent=origin.user_agent,
            actor=origin.actor,
        )
        try:
            job = self._submit_cell(caller, diagnostic, cell_origin)
        except ServiceError as err:
            return cell.model_copy(update={"code": err.code.value, "message": err.message})
        return cell_now(cell.model_copy(update={"job_id": job.id}), job)


def _view(record: MatrixRecord, cells: list[MatrixCell]) -> MatrixView:
    return MatrixView(
        id=record.id,
        account_id=record.account_id,
        created_at=record.created_at,
        targets=record.targets,
        destinations=record.destinations,
        tests=record.tests,
        complete=all(cell.status.final for cell in cells),
        cells=cells,
    )


def cell_now(cell: MatrixCell, job: Job | None) -> MatrixCell:
    """The cell as its job stands (a cell without a job, or whose job is gone, as it was recorded)."""
    if job is None:
        return cell
    update: dict[str, object] = {"status": CellStatus(job.status.value)}
    if job.error is not None:
        update |= {"code": job.error.code, "message": job.error.message}
    if job.result is not None:
        update |= {
            "verdict": job.result.verdict,
            "cause": [cause.code for cause in job.result.cause],
            **key_numbers(job.result.result),
        }
    return cell.model_copy(update=update)


def key_numbers(result: ParsedResult) -> dict[str, object]:
    """The numbers a grid shows of each type of result: loss and average rtt, hops and reached, the MAC
    that answered, the path MTU."""
    if isinstance(result, PingResult):
        return {
            "loss_percent": result.packet_loss_percent,
            "avg_rtt_ms": result.rtt_ms.avg if result.rtt_ms else None,
        }
    if isinstance(result, TracerouteResult):
        return {"hops": len(result.hops), "reached": result.reached}
    if isinstance(result, MtrResult):
        last = result.hops[-1] if result.hops and result.reached else None
        return {
            "hops": len(result.hops),
            "reached": result.reached,
            "loss_percent": last.loss_percent if last else None,
        }
    if isinstance(result, PmtuResult):
        return {"pmtu": result.pmtu, "reached": result.reached, "hops": result.hop_count}
    if isinstance(result, ArpingResult):
        return {"mac": result.replies[0].mac if result.replies else None}
    if isinstance(result, NdiscResult):
        return {"mac": result.mac}
    return {}
