"""Record CaseWorkflow histories for the replay test (tests/histories/*.json).

Run after a deliberate, versioned workflow change (ARCHITECTURE.md, "Changing CaseWorkflow"):
record the histories of the new path by name and keep the ones recorded before it, so both the
old and the new code paths replay in CI. Never re-record to make a failing replay pass.
    python scripts/record_histories.py one_change_at_a_time  # only the ones named
    python scripts/record_histories.py                       # every history (a new repository)

`poisoned_projection` needs PostgreSQL (SQLite stores NUL): it makes a throw-away database
through TEST_DATABASE_URL_PG (default: the local server, as the tests do).
`deadline_after_outage` starts a PostgreSQL cluster and a Temporal dev server of its own: the
open deadline passes while the database is down, and fires once it is back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT, Settings
from core.temporal import PLAIN_DATA_CONVERTER, ensure_search_attributes
from domain.case import Actor
from domain.policy import CasePolicy
from domain.vocabulary import ClosingStatus, Priority
from services.case_reopen import reopen_case
from workflows.case import CaseWorkflow
from workflows.messages import (
    AddNote,
    AddTask,
    CloseCase,
    CompleteTask,
    CustomerReplied,
    LogContactAttempt,
    MergedFrom,
    MergeInto,
    PauseCase,
    PolicyChanged,
    Reassign,
    Reclassify,
    RemeasureAnswer,
    ReopenCase,
    ReopenTask,
    ReplyDocument,
    ResumeCase,
    SendReply,
)
from workflows.search_attributes import SEARCH_ATTRIBUTES

OUT = ROOT / "tests" / "histories"
POISONED = "poisoned_projection"
OUTAGE = "deadline_after_outage"
DECIDED_FIRST = "deadlines_computed_by_the_case"
SMALL = "small_history_first_run"
SMALL_NEXT = "small_history_continued"
PAUSED = "paused_and_resumed"
INBOUND = "customer_replied_by_mail"
FOLLOWED = "deadlines_followed_the_program"
MERGED = "merged_into_primary"
MERGED_PRIMARY = "merged_from_duplicate"
TASKS = "tasks_and_mentions"


async def record(names: set[str]) -> None:
    sys.path.insert(0, str(ROOT))  # the test factories live in tests/
    from alembic import command
    from alembic.config import Config

    from models.db import make_engine
    from tests.factories import running_worker, seed, start_case

    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'rec.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    seed(engine, remeasure={"reopen_on_failure": True})
    # A local SMTP sink, so the histories hold the `deliver` activities too.
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    settings = Settings(
        database_url=url, task_queue="record", smtp_host="127.0.0.1", smtp_port=smtp_port
    )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=shutil.which("temporal-test-server"),
        data_converter=PLAIN_DATA_CONVERTER,
    )
    await ensure_search_attributes(env.client, env.client.namespace, SEARCH_ATTRIBUTES)
    ole, mia, dora = Actor("ole"), Actor("mia"), Actor("dora")
    if OUTAGE in names:
        await record_deadline_after_outage(settings)
    if DECIDED_FIRST in names:
        await record_decided_first(engine, settings)
    if SMALL in names or SMALL_NEXT in names:
        await record_small(engine, settings)
    async with running_worker(env.client, engine, settings):
        if POISONED in names:
            await record_poisoned(env, settings)
        # 1. escalation ladder to the top, closed unresolved
        h = await start_case(env, engine, settings, "R-ladder")
        await env.sleep(timedelta(days=3, minutes=5))
        await h.execute_update(
            CaseWorkflow.close, CloseCase(dora, ClosingStatus.UNRESOLVED, ["staff"], "No reply")
        )
        await h.result()
        await save(h, "escalation_ladder", names)
        # 2. worked, reassigned, resolved, failed recovery reopens, closed again
        h = await start_case(env, engine, settings, "R-reopen")
        await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called"))
        await h.execute_update(
            CaseWorkflow.log_contact_attempt, LogContactAttempt(ole, "phone", "reached")
        )
        await h.execute_update(CaseWorkflow.reassign, Reassign(mia, "alex", "billing"))
        await h.execute_update(
            CaseWorkflow.send_reply,
            SendReply(Actor("alex"), "apology", "Our apologies", "Dear guest, we are sorry."),
        )
        await h.execute_update(
            CaseWorkflow.close,
            CloseCase(Actor("alex"), ClosingStatus.RESOLVED, ["billing"], "Refunded", ["refund"]),
        )
        await env.sleep(timedelta(minutes=5))
        await h.signal(CaseWorkflow.remeasure_answer, RemeasureAnswer(1, False, "Still wrong"))
        await env.sleep(timedelta(minutes=5))
        await h.execute_update(
            CaseWorkflow.close,
            CloseCase(Actor("alex"), ClosingStatus.UNRESOLVED, ["billing"], "Gave up"),
        )
        await h.result()
        await save(h, "reopened_after_failed_recovery", names)
        # 3. resolved and the survey expires
        h = await start_case(env, engine, settings, "R-expire")
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.RESOLVED, ["staff"], "Apologised")
        )
        for _ in range(8):  # day by day past the 3-day reminder and the 7-day expiry
            await env.sleep(timedelta(days=1))
        await h.result()
        await save(h, "remeasure_expired", names)
        # 4. one change at a time (the case lock): worked, reassigned, closed unresolved
        h = await start_case(env, engine, settings, "R-locked")
        await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called"))
        await h.execute_update(CaseWorkflow.reassign, Reassign(mia, "alex", "billing"))
        await h.execute_update(
            CaseWorkflow.close,
            CloseCase(Actor("alex"), ClosingStatus.UNRESOLVED, ["billing"], "Unreachable"),
        )
        await h.result()
        await save(h, "one_change_at_a_time", names)
        # 5. reclassified: a new category and priority (the deadlines move), then closed
        h = await start_case(env, engine, settings, "R-reclassified")
        await h.execute_update(
            CaseWorkflow.reclassify,
            Reclassify(mia, "VIP guest", category="Housekeeping", priority=Priority.URGENT),
        )
        await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called"))
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Unreachable")
        )
        await h.result()
        await save(h, "reclassified", names)
        # 6. reopened by hand while the survey is out, closed again
        h = await start_case(env, engine, settings, "R-reopen-hand")
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.RESOLVED, ["staff"], "Apologised")
        )
        await env.sleep(timedelta(minutes=5))
        await h.execute_update(
            CaseWorkflow.reopen, ReopenCase(mia, "Guest called back", manages_unit=True)
        )
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Unreachable")
        )
        await h.result()
        await save(h, "reopened_by_hand", names)
        # 7. closed (the run completes), reopened by hand: a new run carries the case on
        h = await start_case(env, engine, settings, "R-reopen-run")
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Unreachable")
        )
        await h.result()
        await reopen_case(env.client, settings, h.id, ole, "The guest wrote again")
        await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Sorted"))
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Done")
        )
        await h.result()
        await save(h, "reopened_in_a_new_run", names)
        # 8. waiting on the customer (PATCH_PAUSE): paused and resumed by the owner, paused
        # past the program's longest pause (resumes by itself, reminds the owner), paused and
        # the customer answers; closed while waiting once more
        h = await start_case(env, engine, settings, "R-paused")
        await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called"))
        await h.execute_update(CaseWorkflow.pause, PauseCase(ole, "Asked for the receipt"))
        await env.sleep(timedelta(hours=3))
        await h.execute_update(CaseWorkflow.resume, ResumeCase(ole, "Receipt arrived"))
        await h.execute_update(CaseWorkflow.pause, PauseCase(ole, "Asked for photos"))
        await env.sleep(timedelta(days=5, hours=1))
        await h.execute_update(CaseWorkflow.pause, PauseCase(ole, "Asked again"))
        await h.signal(CaseWorkflow.customer_replied, CustomerReplied("email"))
        await env.sleep(timedelta(minutes=5))
        await h.execute_update(CaseWorkflow.pause, PauseCase(ole, "Waiting for the refund form"))
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "No form")
        )
        await h.result()
        await save(h, PAUSED, names)
        # 10. customers answer by email (PATCH_INBOUND): opened by the customer (confirmed,
        # the opening mail's attachment on the timeline),
        # an answer while working, paused, an out-of-office (changes nothing), an answer with
        # an attachment (resumes); closed
        h = await start_inbound_case(env, engine, settings, "R-inbound")
        photo = ReplyDocument("cd34", "photo.png", "image/png", 2345)
        await h.signal(
            CaseWorkflow.customer_replied,
            CustomerReplied("email", "0", documents=[photo], opening=True),
        )
        await h.signal(
            CaseWorkflow.customer_replied, CustomerReplied("email", "1", "Here is more detail")
        )
        await env.sleep(timedelta(minutes=5))
        await h.execute_update(CaseWorkflow.pause, PauseCase(ole, "Asked for the receipt"))
        await h.signal(CaseWorkflow.customer_replied, CustomerReplied("email", "2", automatic=True))
        await env.sleep(timedelta(minutes=5))
        receipt = ReplyDocument("ab12", "receipt.pdf", "application/pdf", 1234)
        await h.signal(
            CaseWorkflow.customer_replied,
            CustomerReplied("email", "3", "The receipt", documents=[receipt]),
        )
        await env.sleep(timedelta(minutes=5))
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Done")
        )
        await h.result()
        await save(h, INBOUND, names)
        if FOLLOWED in names:
            await record_followed(env, engine, settings)
        # 11. merged cases (PATCH_MERGE): a duplicate merged into its primary (its run completes);
        # the primary's timeline says so; unmerged (a new run reopens the duplicate), both closed
        if MERGED in names or MERGED_PRIMARY in names:
            p = await start_case(env, engine, settings, "R-primary")
            d = await start_case(env, engine, settings, "R-duplicate")
            await d.execute_update(CaseWorkflow.add_note, AddNote(ole, "The guest called twice"))
            await d.execute_update(CaseWorkflow.merge_into, MergeInto(ole, p.id))
            await p.execute_update(CaseWorkflow.merged_from, MergedFrom(ole, d.id))
            await d.result()
            await save(d, MERGED, names)  # its first run, before the unmerge starts another
            await reopen_case(env.client, settings, d.id, ole, f"Unmerged from {p.id}")
            await p.execute_update(CaseWorkflow.merged_from, MergedFrom(ole, d.id, undone=True))
            for case in (p, d):
                await case.execute_update(
                    CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Done")
                )
            await p.result()
            await save(p, MERGED_PRIMARY, names)
        # 12. tasks and mentions (PATCH_TASKS): two tasks, a note mentioning a colleague, one
        # task done before its reminder, the other reminded and overdue (timers of the main
        # loop), unticked and ticked again; closed
        h = await start_case(env, engine, settings, "R-tasks")
        await h.execute_update(CaseWorkflow.add_task, AddTask(ole, "Call back", "mia", "PT2H"))
        await h.execute_update(CaseWorkflow.add_task, AddTask(ole, "Refund", "fred", "PT3H"))
        await h.execute_update(
            CaseWorkflow.add_note,
            AddNote(ole, "@fred please refund, @alex FYI", mentioned=["fred", "alex"]),
        )
        await h.execute_update(CaseWorkflow.complete_task, CompleteTask(Actor("fred"), "2"))
        await env.sleep(timedelta(hours=2, minutes=5))
        await h.execute_update(CaseWorkflow.reopen_task, ReopenTask(ole, "2"))
        await h.execute_update(CaseWorkflow.complete_task, CompleteTask(mia, "1"))
        await h.execute_update(CaseWorkflow.complete_task, CompleteTask(ole, "2"))
        await h.execute_update(
            CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Done")
        )
        await h.result()
        await save(h, TASKS, names)
    await env.shutdown()
    smtp.stop()
    engine.dispose()
    shutil.rmtree(tmp)


async def start_inbound_case(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, case_id: str
) -> Any:
    """A case the customer opened (acknowledge), as the web form and the intake mailbox do."""
    import dataclasses

    from services.case_start import start_case_workflow
    from tests.factories import case_input

    inp = case_input(engine, case_id, await env.get_current_time(), channel="email")
    await start_case_workflow(env.client, settings, dataclasses.replace(inp, acknowledge=True))
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    await env.sleep(timedelta(minutes=1))
    return handle


async def record_followed(env: WorkflowEnvironment, engine: Engine, settings: Settings) -> None:
    """9. deadlines follow the program (PATCH_FOLLOW_POLICY): a longer SLA moves the resolve
    deadline, the same change again is ignored, a shorter one while paused, resumed; the
    deadline passes at its new time (escalated), closed."""
    import dataclasses

    from tests.factories import start_case

    ole = Actor("ole")
    h = await start_case(env, engine, settings, "R-followed")
    await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called"))
    policy = _policy_of(engine)
    longer = dataclasses.replace(policy, sla=dataclasses.replace(policy.sla, resolve_within="P2D"))
    change = PolicyChanged(longer, "audit-1", "program SLA changed (resolve within P1D → P2D)")
    await h.signal(CaseWorkflow.policy_changed, change)
    await h.signal(CaseWorkflow.policy_changed, change)
    await env.sleep(timedelta(hours=1))
    await h.execute_update(CaseWorkflow.pause, PauseCase(ole, "Asked for the receipt"))
    shorter = dataclasses.replace(
        policy, sla=dataclasses.replace(policy.sla, resolve_within="PT30H")
    )
    await h.signal(
        CaseWorkflow.policy_changed,
        PolicyChanged(shorter, "audit-2", "program SLA changed (resolve within P2D → PT30H)"),
    )
    await env.sleep(timedelta(hours=1))
    await h.execute_update(CaseWorkflow.resume, ResumeCase(ole, "Receipt arrived"))
    await env.sleep(timedelta(days=1, hours=6))
    await h.execute_update(
        CaseWorkflow.close,
        CloseCase(Actor("mia"), ClosingStatus.UNRESOLVED, ["staff"], "Unreachable"),
    )
    await h.result()
    await save(h, FOLLOWED, {FOLLOWED})


def _policy_of(engine: Engine) -> CasePolicy:
    from sqlmodel import Session

    from models.config import Program, Unit
    from services.configuration import policy_for

    with Session(engine) as session:
        program, unit = session.get(Program, "recovery"), session.get(Unit, "4723")
        assert program and unit
        return policy_for(program, unit)


async def record_decided_first(engine: Engine, settings: Settings) -> None:
    """6. a case without intake's deadlines computes them itself (PATCH_DECIDE_FIRST: every patch
    decided before that local activity), queried while it opens; the worker restarts (nothing
    cached), a note, closed unresolved. On a dev server: the new worker takes the case over."""
    from tests.factories import start_case
    from worker import build_worker

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"),
        data_converter=PLAIN_DATA_CONVERTER,
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
    )
    try:
        async with build_worker(env.client, engine, settings):
            h = await start_case(env, engine, settings, "R-decided")
        async with build_worker(env.client, engine, settings):
            await h.execute_update(CaseWorkflow.add_note, AddNote(Actor("ole"), "Called"))
            await h.execute_update(
                CaseWorkflow.close,
                CloseCase(Actor("ole"), ClosingStatus.UNRESOLVED, ["staff"], "Unreachable"),
            )
            await h.result()
        await save(h, DECIDED_FIRST, {DECIDED_FIRST})
    finally:
        await env.shutdown()


async def record_small(engine: Engine, settings: Settings) -> None:
    """7. small histories (PATCH_SMALL_HISTORY): notes answered with acknowledgements, the case
    continues as new when Temporal suggests it (a dev server told to suggest it at 150 events),
    more notes, a reassignment, closed unresolved. Both runs are recorded."""
    from tests.factories import start_case
    from worker import build_worker

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"),
        data_converter=PLAIN_DATA_CONVERTER,
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=150",
        ],
    )
    ole = Actor("ole")
    try:
        async with build_worker(env.client, engine, settings):
            h = await start_case(env, engine, settings, "R-small")
            first_run = (await h.describe()).run_id
            for n in range(40):
                await h.execute_update(CaseWorkflow.add_note, AddNote(ole, f"Note {n}"))
            await h.execute_update(CaseWorkflow.reassign, Reassign(Actor("mia"), "alex", "billing"))
            await h.execute_update(
                CaseWorkflow.close,
                CloseCase(Actor("alex"), ClosingStatus.UNRESOLVED, ["billing"], "Unreachable"),
            )
            await h.result()
            first = env.client.get_workflow_handle(h.id, run_id=first_run)
            await save(first, SMALL, {SMALL})
            await save(h, SMALL_NEXT, {SMALL_NEXT})
    finally:
        await env.shutdown()


async def record_poisoned(env: WorkflowEnvironment, settings: Settings) -> None:
    """4. a note PostgreSQL refuses (the projection fails for good, the case is flagged), a
    later note clears the flag, closed unresolved."""
    from sqlalchemy import create_engine, text

    from models.db import make_engine
    from tests.factories import running_worker, seed, start_case

    admin_url = os.environ.get(
        "TEST_DATABASE_URL_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"caseloop_record_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    migrate(url)
    engine = make_engine(url)
    seed(engine)
    pg = settings.model_copy(update={"database_url": url, "task_queue": "record-pg"})
    ole = Actor("ole")
    try:
        async with running_worker(env.client, engine, pg):
            h = await start_case(env, engine, pg, "R-poison")
            await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called\x00"))
            await h.execute_update(CaseWorkflow.add_note, AddNote(ole, "Called again"))
            await h.execute_update(
                CaseWorkflow.close, CloseCase(ole, ClosingStatus.UNRESOLVED, ["staff"], "Done")
            )
            await h.result()
            await save(h, POISONED, {POISONED})
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def record_deadline_after_outage(settings: Settings) -> None:
    """5. the database goes down, the open deadline passes, the projection of "overdue" is
    retried (PATCH_PROMPT_RECOVERY) until the database is back; closed unresolved. Real time, on
    a dev server: the retries happen on the wall clock."""
    from datetime import UTC, datetime

    from sqlmodel import Session

    from domain.deadlines import Deadlines
    from models.case import Case
    from models.db import make_engine
    from services.case_start import start_case_workflow
    from tests.factories import case_input, running_worker, seed
    from tests.live import eventually
    from tests.pg_cluster import PgCluster
    from workflows.search_attributes import SEARCH_ATTRIBUTES

    def status(engine: Engine, case_id: str) -> str | None:
        with Session(engine) as session:
            case = session.get(Case, case_id)
            return None if case is None else str(case.status)

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"),
        data_converter=PLAIN_DATA_CONVERTER,
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
    )
    with PgCluster() as pg:
        url = pg.create_database("record")
        migrate(url)
        engine = make_engine(url)
        seed(engine)
        pg_settings = settings.model_copy(
            update={"database_url": url, "task_queue": "record-outage"}
        )
        try:
            async with running_worker(env.client, engine, pg_settings):
                now = datetime.now(UTC)
                inp = case_input(engine, "R-outage", now)
                due = now + timedelta(seconds=6)
                inp.initial_deadlines = Deadlines(due, None, due + timedelta(days=1), None)
                await start_case_workflow(env.client, pg_settings, inp)
                h = env.client.get_workflow_handle_for(CaseWorkflow.run, inp.case_id)
                await eventually(lambda: status(engine, inp.case_id) == "new", 30, "projected")
                pg.stop()
                await asyncio.sleep(12)  # the deadline passes; the projection keeps failing
                pg.start()
                await eventually(lambda: status(engine, inp.case_id) == "overdue", 30, "overdue")
                await h.execute_update(
                    CaseWorkflow.close,
                    CloseCase(Actor("ole"), ClosingStatus.UNRESOLVED, ["staff"], "After outage"),
                )
                await h.result()
                await save(h, OUTAGE, {OUTAGE})
        finally:
            engine.dispose()
            await env.shutdown()


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")


async def save(handle: object, name: str, names: set[str]) -> None:
    if name not in names:
        return
    history = await handle.fetch_history()  # type: ignore[attr-defined]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


ALL = {
    "escalation_ladder",
    "reopened_after_failed_recovery",
    "remeasure_expired",
    "one_change_at_a_time",
    "reclassified",
    "reopened_by_hand",
    "reopened_in_a_new_run",
    POISONED,
    OUTAGE,
    DECIDED_FIRST,
    SMALL,
    SMALL_NEXT,
    PAUSED,
    INBOUND,
    FOLLOWED,
    MERGED,
    MERGED_PRIMARY,
}

if __name__ == "__main__":
    asyncio.run(record(set(sys.argv[1:]) or ALL))
