"""Reconciler: the intake rows and the case workflows tell the same story, both ways.

- An intake row without a workflow (the API died, or Temporal was down, between the commit and
  the start) gets its workflow started from the input stored on the row.
- A survey response whose case was opened but never linked to it (the request died between)
  is linked.
- A merge or unmerge cut short between its steps (services/case_links.py) is finished.
- A running case workflow without its read-model row (a restored or damaged database) is
  projected from its own state (the `state` query), through the projection's upsert.

Run by every worker process at start-up and then every `reconcile_interval_seconds`. Both
repairs are idempotent (the start uses the case id with USE_EXISTING, the upsert is version
guarded), so several workers, or a live request finishing the same case, do no harm; the grace
period only saves the start of a case whose own request is still under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from activities.projection import ProjectRequest, apply_projection
from core.settings import Settings
from core.threads import in_thread
from models.case import Case, CaseIntake, case_id_for, case_number
from models.intake import SurveyResponse
from services.case_links import finish_pending
from services.case_start import input_from_json, mark_started, start_case_workflow
from services.surveys import intake_key, link_case
from workflows.case import CaseWorkflow
from workflows.messages import CaseInput

log = logging.getLogger(__name__)

BATCH = 500

_I = CaseIntake.__table__.c  # type: ignore[attr-defined]
_C = Case.__table__.c  # type: ignore[attr-defined]
_UNSTARTED = (
    select(_I.id, _I.case_input)
    .where(
        _I.workflow_started_at.is_(None)
        & _I.case_input.is_not(None)
        & (_I.created_at < bindparam("before"))
        & (_I.id > bindparam("after"))
    )
    .order_by(_I.id)
    .limit(BATCH)
)
_R = SurveyResponse.__table__.c  # type: ignore[attr-defined]
_UNLINKED = (
    select(_R.id, _R.program_id, _R.response_id)
    .where((_R.outcome == "case") & _R.case_id.is_(None) & (_R.created_at < bindparam("before")))
    .order_by(_R.id)
    .limit(BATCH)
)
_BY_KEY = select(_I.id).where((_I.client_id == "") & (_I.idempotency_key == bindparam("key")))
_KNOWN = select(_C.id).where(_C.id.in_(bindparam("ids", expanding=True)))
# What intake writes once and the projection never carries: the transaction (from the
# workflow's input) and the contact's email and phone (from the intake row, when it is there).
_SET_INTAKE_ONLY = (
    update(Case.__table__)  # type: ignore[attr-defined]
    .where(_C.id == bindparam("case_id"))
    .values(
        transaction=bindparam("transaction"),
        contact_email=bindparam("contact_email"),
        contact_phone=bindparam("contact_phone"),
    )
)
_CONTACT = select(_I.contact).where(_I.id == bindparam("number"))


@dataclass
class Report:
    started: list[str] = field(default_factory=list)
    projected: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    merges: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self.engine, self.client, self.settings = engine, client, settings

    async def run_once(self) -> Report:
        report = Report()
        await self.start_missing_workflows(report)
        await self.link_survey_responses(report)
        await self.project_missing_cases(report)
        report.merges = await finish_pending(self.client, self.engine, self.settings)
        if report.merges:
            log.info("finished %d merge(s) or unmerge(s) %s", len(report.merges), report.merges)
        if report.started or report.linked or report.projected or report.failed:
            # Case ids only: no personal data in logs.
            log.info(
                "reconciled: started %d workflow(s) %s, linked %d survey response(s) %s, "
                "projected %d case(s) %s, failed %s",
                len(report.started),
                report.started[:20],
                len(report.linked),
                report.linked[:20],
                len(report.projected),
                report.projected[:20],
                report.failed[:20],
            )
        return report

    async def run_forever(self, stop: asyncio.Event) -> None:
        """At once, then every interval until `stop` is set; a failed round is logged, not fatal."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("reconciliation round failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.reconcile_interval_seconds)

    # ------------------------------------------------------------ intake row -> workflow

    def _unstarted(self, before: datetime, after: int) -> list[tuple[int, CaseInput]]:
        with Session(self.engine) as session:
            rows = session.execute(_UNSTARTED, {"before": before, "after": after}).all()
        return [(row.id, input_from_json(row.case_input)) for row in rows]

    async def start_missing_workflows(self, report: Report) -> None:
        before = datetime.now(UTC) - timedelta(seconds=self.settings.reconcile_grace_seconds)
        after = 0
        while batch := await in_thread(self._unstarted, before, after):
            started: list[int] = []
            for number, inp in batch:
                try:
                    await start_case_workflow(self.client, self.settings, inp)
                except RPCError as exc:
                    log.warning("could not start the workflow of %s: %s", inp.case_id, exc)
                    report.failed.append(inp.case_id)
                    continue
                started.append(number)
                report.started.append(inp.case_id)
            await mark_started(self.engine, started)
            after = batch[-1][0]

    # ------------------------------------------------------------ survey response -> case

    def _unlinked(self, before: datetime) -> list[tuple[int, str]]:
        """Unlinked "case" responses whose intake row exists: (response row, case id)."""
        found = []
        with Session(self.engine) as session:
            for row in session.execute(_UNLINKED, {"before": before}).all():
                key = intake_key(row.program_id, row.response_id)
                number = session.execute(_BY_KEY, {"key": key}).scalar()
                if number is not None:
                    found.append((row.id, case_id_for(number)))
        return found

    async def link_survey_responses(self, report: Report) -> None:
        before = datetime.now(UTC) - timedelta(seconds=self.settings.reconcile_grace_seconds)
        for row_id, case_id in await in_thread(self._unlinked, before):
            await link_case(self.engine, row_id, case_id)
            report.linked.append(case_id)

    # ------------------------------------------------------------ workflow -> read model

    async def project_missing_cases(self, report: Report) -> None:
        query = (
            f"WorkflowType = 'CaseWorkflow' AND ExecutionStatus = 'Running' "
            f"AND TaskQueue = '{self.settings.task_queue}'"
        )
        ids: list[str] = []
        async for execution in self.client.list_workflows(query, page_size=BATCH):
            ids.append(execution.id)
            if len(ids) == BATCH:
                await self._project_unknown(ids, report)
                ids = []
        if ids:
            await self._project_unknown(ids, report)

    def _known(self, ids: list[str]) -> set[str]:
        with Session(self.engine) as session:
            return set(session.execute(_KNOWN, {"ids": ids}).scalars())

    async def _project_unknown(self, ids: list[str], report: Report) -> None:
        known = await in_thread(self._known, ids)
        for case_id in ids:
            if case_id in known:
                continue
            try:
                await self._project(case_id)
            except (RPCError, LookupError) as exc:
                log.warning("could not project %s from its workflow: %s", case_id, exc)
                report.failed.append(case_id)
                continue
            report.projected.append(case_id)

    async def _project(self, case_id: str) -> None:
        """The workflow's view and whole timeline, on the calendar of its own input."""
        handle = self.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
        state = await handle.query(CaseWorkflow.state)
        inp = await self._input_of(case_id)
        req = ProjectRequest(view=state.view, events=state.timeline, calendar=inp.policy.calendar)
        await in_thread(self._write, req, dict(inp.details.transaction))

    async def _input_of(self, case_id: str) -> CaseInput:
        handle = self.client.get_workflow_handle(case_id)
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [inp] = await self.client.data_converter.decode(payloads, [CaseInput])
            assert isinstance(inp, CaseInput)
            return inp
        raise LookupError(f"{case_id} has no history")

    def _write(self, req: ProjectRequest, transaction: dict[str, object]) -> None:
        apply_projection(self.engine, req)
        case_id = req.view.case_id
        with self.engine.begin() as conn:
            # Without its intake row a case has no contact address: none is guessed.
            contact = conn.execute(_CONTACT, {"number": case_number(case_id)}).scalar() or {}
            conn.execute(
                _SET_INTAKE_ONLY,
                {
                    "case_id": case_id,
                    "transaction": transaction,
                    "contact_email": contact.get("contact_email"),
                    "contact_phone": contact.get("contact_phone"),
                },
            )
