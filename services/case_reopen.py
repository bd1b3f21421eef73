"""Reopening a closed case by hand, with a reason (its owner, a manager of its unit, an admin).

While the case's workflow still runs after the close (the resolution survey is out, mails are
being delivered) the reopen is a Temporal Update of that run. Once the run has completed, the
reopen starts a new run under the same workflow id that carries the case on: its view and
timeline (the completed run's state query) and the input of the run before (the policy the case
snapshotted when it opened). Either way the timeline says who reopened it, when and why, and the
resolve deadline starts again per the program's policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from core.threads import in_thread
from domain.case import Actor
from domain.permissions import reopen_refusal
from domain.vocabulary import CaseStatus, EventKind
from models.case import Case
from services.case_actions import ActionRejected, run_update
from services.case_start import start_case_workflow
from services.outages import Unavailable
from workflows.case import FINISHED, CaseWorkflow
from workflows.messages import ActionAck, CaseInput, ReopenCase, Resumed

# How long a run that refused the reopen as finished may take to complete.
FINISH_WAIT_SECONDS = 10.0


async def reopen_case(
    client: Client,
    settings: Settings,
    case_id: str,
    actor: Actor,
    reason: str,
    *,
    idempotency_key: str | None = None,
    wait_seconds: float = 4.0,
    engine: Engine | None = None,
    manages_unit: bool = False,
) -> ActionAck:
    """Reopen the closed case; its acknowledgement (with `engine`: once the read model has that
    version too). ActionRejected when refused."""
    reason = reason.strip()
    if not reason:
        raise ActionRejected(422, "Give a reason for reopening the case", field="reason")
    cmd = ReopenCase(actor, reason, manages_unit, idempotency_key or "")
    try:
        # Bounded: queries wait for a worker, and without one they would hang the request.
        async with asyncio.timeout(3 * wait_seconds + FINISH_WAIT_SECONDS):
            return await _reopen(client, settings, case_id, cmd, wait_seconds, engine)
    except RPCError as err:  # Temporal unreachable or refusing: an outage, not a bug
        raise Unavailable("temporal", f"Temporal could not reopen {case_id}") from err
    except TimeoutError as err:
        raise Unavailable("temporal", f"Temporal did not answer for {case_id} in time") from err


async def _reopen(
    client: Client,
    settings: Settings,
    case_id: str,
    cmd: ReopenCase,
    wait_seconds: float,
    engine: Engine | None,
) -> ActionAck:
    idempotency_key = cmd.action_id or None
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    running = await _running(client, case_id)
    if idempotency_key:  # sent before (a retry, a second click): the case as it is
        state = await handle.query(CaseWorkflow.state)
        if any(
            e.kind == EventKind.REOPENED and e.data.get("action") == idempotency_key
            for e in state.timeline
        ):
            return _ack(state.view.case_id, state.view.version, state.view.status)
    if running:
        try:
            return await run_update(
                client,
                case_id,
                CaseWorkflow.reopen,
                cmd,
                idempotency_key=idempotency_key,
                wait_seconds=wait_seconds,
            )
        except ActionRejected as exc:
            if exc.kind != FINISHED:
                raise
            try:  # the run is about to complete: a new one takes the reopen
                async with asyncio.timeout(FINISH_WAIT_SECONDS):
                    await handle.result()
            except TimeoutError:
                raise exc from None
    ack = await _new_run(client, settings, handle, cmd, wait_seconds)
    if engine is not None:
        await _projected(engine, ack, wait_seconds)
    return ack


def _ack(case_id: str, version: int, status: CaseStatus) -> ActionAck:
    return ActionAck(case_id, version, status)


async def _projected(engine: Engine, view: ActionAck, wait_seconds: float) -> None:
    """Wait (bounded) until the read model holds this version of the case."""

    def version() -> int:
        with Session(engine) as session:
            row = session.get(Case, view.case_id)
            return row.version if row is not None else -1

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_seconds):
            while True:
                if await in_thread(version) >= view.version:
                    return
                await asyncio.sleep(0.05)


async def _running(client: Client, case_id: str) -> bool:
    # The raw call: only the status is needed (no search attributes to decode).
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=case_id)
    )
    try:
        described = await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ActionRejected(404, f"Case {case_id} has no workflow") from err
        raise
    status = described.workflow_execution_info.status
    return status == WorkflowExecutionStatus.RUNNING.value


async def _new_run(
    client: Client,
    settings: Settings,
    handle: WorkflowHandle[CaseWorkflow, object],
    cmd: ReopenCase,
    wait_seconds: float,
) -> ActionAck:
    state = await handle.query(CaseWorkflow.state)
    from_ = state.view
    # The workflow's rule, before a new run starts.
    refused = reopen_refusal(cmd.actor, from_, cmd.manages_unit)
    if refused is not None:
        raise ActionRejected(409 if refused.conflict else 403, refused.message)
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [before] = await client.data_converter.decode(started.input.payloads, [CaseInput])
    inp = dataclasses.replace(
        before,
        resumed=Resumed(state.view, state.timeline, cmd.actor, cmd.reason, cmd.action_id),
        initial_deadlines=None,
        carried=None,  # the completed run may itself have continued as new
    )
    await start_case_workflow(client, settings, inp)
    new = client.get_workflow_handle_for(CaseWorkflow.run, handle.id)
    # Answer once the new run has reopened the case, as an update would.
    view = from_
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_seconds):
            while True:
                view = (await new.query(CaseWorkflow.state)).view
                if view.version > from_.version:
                    break
                await asyncio.sleep(0.1)
    return _ack(view.case_id, view.version, view.status)
