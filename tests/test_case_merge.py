"""Merged cases in the workflow (PATCH_MERGE), on the time-skipping server with real
activities and SQLite: the duplicate closes as merged with no survey and no closing mail and
its run completes; the primary's timeline tells of the merge and of its undoing; refusals; a
merge or unmerge cut short between its steps is kept and finished once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.permissions import Viewer
from domain.vocabulary import CaseLinkState, CaseStatus, ClosingStatus, EventKind, RemeasureStatus
from models.case import Case
from models.config import User
from models.kb import CaseLink
from services.access import viewer_for
from services.case_links import finish_pending, links_of, merge
from services.case_reopen import reopen_case
from tests.factories import case_row, running_worker, seed, start_case
from tests.test_case_workflow import OLE, Handle, kinds, new_case, new_id, outbox, view
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


@asynccontextmanager
async def two_cases(
    env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[tuple[Handle, Handle]]:
    """A primary and a duplicate, with ids as the pages write them (upper case)."""
    seed(engine)
    async with running_worker(env.client, engine, settings):
        primary = await start_case(env, engine, settings, new_id().upper())
        yield primary, await start_case(env, engine, settings, new_id().upper())


def viewer(engine: Engine, user_id: str = "ole") -> Viewer:
    with Session(engine) as s:
        user = s.get(User, user_id)
        assert user is not None
        return viewer_for(s, user)


def merge_link(engine: Engine, dup_id: str) -> CaseLink | None:
    with Session(engine) as s:
        return s.exec(
            select(CaseLink).where(col(CaseLink.kind) == "merged", col(CaseLink.case_id) == dup_id)
        ).first()


def set_state(engine: Engine, dup_id: str, state: str) -> None:
    """The row as a process that died between the last update and the mark leaves it."""
    with Session(engine) as s:
        row = s.exec(select(CaseLink).where(col(CaseLink.case_id) == dup_id)).one()
        row.state, row.acted_by = state, "ole"
        s.add(row)
        s.commit()


async def test_a_merge_whose_primary_cannot_be_told_stays_pending_not_lost(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with two_cases(ts_env, engine, settings) as (primary, dup):
        # The primary's workflow is gone (its read-model row still says open): its update fails
        # after the duplicate has been closed.
        await primary.terminate("lost")
        with pytest.raises(Exception) as err:
            await merge(ts_env.client, engine, settings, viewer(engine), OLE, dup.id, primary.id)
        assert case_row(engine, dup.id).closing_status == ClosingStatus.MERGED, repr(err.value)
        link = merge_link(engine, dup.id)
        assert link is not None and link.state == CaseLinkState.MERGING
        assert link.acted_by == "ole"
        with Session(engine) as s:
            dup_row = s.get(Case, dup.id)
            assert dup_row is not None
            assert links_of(s, viewer(engine), dup_row).pending
        # The reconciler tries again, fails again, and keeps it for the next round.
        assert await finish_pending(ts_env.client, engine, settings) == []
        link = merge_link(engine, dup.id)
        assert link is not None and link.state == CaseLinkState.MERGING


async def test_a_merge_and_unmerge_cut_short_are_finished_once(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with two_cases(ts_env, engine, settings) as (primary, dup):
        await merge(ts_env.client, engine, settings, viewer(engine), OLE, dup.id, primary.id)
        link = merge_link(engine, dup.id)
        assert link is not None and link.state == CaseLinkState.DONE and link.acted_by is None

        # Died after both updates, before the mark: finishing repeats nothing.
        set_state(engine, dup.id, CaseLinkState.MERGING)
        client = ts_env.client
        assert await finish_pending(client, engine, settings) == [dup.id]
        assert kinds(engine, primary.id).count(EventKind.MERGED_FROM) == 1
        assert kinds(engine, dup.id).count(EventKind.MERGED) == 1
        link = merge_link(engine, dup.id)
        assert link is not None and link.state == CaseLinkState.DONE
        # Asked again (a retried request): the same merge, nothing new.
        await merge(ts_env.client, engine, settings, viewer(engine), OLE, dup.id, primary.id)
        assert kinds(engine, primary.id).count(EventKind.MERGED_FROM) == 1

        # An unmerge recorded but not carried out: the reconciler reopens and tells the primary.
        set_state(engine, dup.id, CaseLinkState.UNMERGING)
        assert await finish_pending(client, engine, settings) == [dup.id]
        assert case_row(engine, dup.id).is_open
        assert merge_link(engine, dup.id) is None
        assert kinds(engine, primary.id)[-1] == EventKind.UNMERGED
        assert await finish_pending(client, engine, settings) == []
        assert kinds(engine, primary.id).count(EventKind.UNMERGED) == 1
