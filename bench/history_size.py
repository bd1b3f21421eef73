"""The history of one case with N notes: how many events and bytes Temporal stores.

Starts a Temporal dev server, a worker and a scratch SQLite read model, opens a case (its
deadlines computed by the workflow, as the factories do) and adds N notes, then prints the
history's size: events, bytes (the protobuf Temporal stores and limits) and the runs it took.

    python bench/history_size.py             # 100 notes
    python bench/history_size.py --notes 1000 --verbatim 20000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def measure(notes: int, verbatim: int) -> None:
    from alembic import command
    from alembic.config import Config
    from temporalio.testing import WorkflowEnvironment

    from core.payload_crypto import new_key_entry
    from core.settings import Settings
    from core.temporal import data_converter
    from domain.case import Actor
    from models.db import make_engine
    from services.case_start import start_case_workflow
    from tests.factories import case_input, seed
    from worker import build_worker
    from workflows.case import CaseWorkflow
    from workflows.messages import AddNote
    from workflows.search_attributes import SEARCH_ATTRIBUTES

    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    seed(engine)
    # Encrypted as in production: the bytes are what Temporal stores.
    settings = Settings(
        database_url=url,
        task_queue="history-size",
        payload_keys=new_key_entry("bench"),  # type: ignore[arg-type]
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"),
        data_converter=data_converter(settings),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
    )
    try:
        async with build_worker(env.client, engine, settings):
            inp = case_input(engine, "B-1", datetime.now(UTC), verbatim="v" * verbatim)
            await start_case_workflow(env.client, settings, inp)
            handle = env.client.get_workflow_handle_for(CaseWorkflow.run, inp.case_id)
            for n in range(notes):
                await handle.execute_update(
                    CaseWorkflow.add_note, AddNote(Actor("ole"), f"Note {n}: called the guest")
                )
            # From the current run back through the runs it continued.
            runs, events, size = 0, 0, 0
            run_id: str | None = (await handle.describe()).run_id
            while run_id:
                runs += 1
                history = await env.client.get_workflow_handle(
                    inp.case_id, run_id=run_id
                ).fetch_history()
                events += len(history.events)
                size += sum(e.ByteSize() for e in history.events)
                started = history.events[0].workflow_execution_started_event_attributes
                run_id = started.continued_execution_run_id or None
            print(
                f"{notes} notes, verbatim {verbatim} chars: {events} events, {size:,} bytes, "
                f"{runs} run(s)"
            )
            await handle.terminate("measured")
    finally:
        await env.shutdown()
        engine.dispose()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=100)
    parser.add_argument("--verbatim", type=int, default=0, help="characters of verbatim")
    args = parser.parse_args()
    asyncio.run(measure(args.notes, args.verbatim))
