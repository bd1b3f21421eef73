"""Merged cases in the workflow (PATCH_MERGE), on the time-skipping server with real
activities and SQLite: the duplicate closes as merged with no survey and no closing mail and
its run completes; the primary's timeline tells of the merge and of its undoing; refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.vocabulary import CaseStatus, ClosingStatus, EventKind, RemeasureStatus
from services.case_reopen import reopen_case
from tests.factories import start_case
from tests.test_case_workflow import OLE, kinds, new_case, new_id, outbox, view
from workflows.case import CaseWorkflow
from workflows.messages import MergedFrom, MergeInto


async def test_a_duplicate_merged_into_its_primary_and_taken_out_again(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as primary:
        dup = await start_case(ts_env, engine, settings, new_id())
        mails_before = len(outbox(engine, dup.id))
        ack = await dup.execute_update(CaseWorkflow.merge_into, MergeInto(OLE, primary.id))
        assert ack.status == CaseStatus.CLOSED
        result = await dup.result()  # the run completes: no survey waits
        assert result.closing_status == ClosingStatus.MERGED
        v = await view(dup)
        assert v.remeasure_status == RemeasureStatus.NOT_APPLICABLE
        assert len(outbox(engine, dup.id)) == mails_before  # no closing mail for a duplicate
        assert kinds(engine, dup.id)[-1] == EventKind.MERGED

        await primary.execute_update(CaseWorkflow.merged_from, MergedFrom(OLE, dup.id))
        # Unmerge: the completed duplicate reopens in a new run; the primary says so.
        await reopen_case(ts_env.client, settings, dup.id, OLE, f"Unmerged from {primary.id}")
        assert (await view(dup)).status == CaseStatus.IN_PROGRESS
        undone = MergedFrom(OLE, dup.id, undone=True)
        await primary.execute_update(CaseWorkflow.merged_from, undone)
        assert kinds(engine, primary.id)[-2:] == [EventKind.MERGED_FROM, EventKind.UNMERGED]


@pytest.mark.parametrize(
    ("actor", "into", "message"),
    [
        (OLE, "self", "cannot be merged into itself"),
        (Actor("alex"), "C-000001", "neither the owner nor a watcher"),
        (OLE, "", "Name the case to merge into"),
    ],
)
async def test_refused_merges_change_nothing(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    actor: Actor,
    into: str,
    message: str,
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        before = (await view(h)).version
        target = h.id if into == "self" else into
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(CaseWorkflow.merge_into, MergeInto(actor, target))
        assert message in str(err.value.cause)
        v = await view(h)
        assert v.version == before and v.status != CaseStatus.CLOSED
