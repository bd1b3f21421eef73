"""Deadlines that pass during an outage: how late do they fire once it is over?

On a PostgreSQL cluster and a Temporal dev server started here, with `python worker.py` as its
own process, N cases get open deadlines spread over an outage window; C control cases get theirs
after it. The outage is one of:

- `database`: the read model's PostgreSQL is stopped (pg_ctl -m fast) and started again;
- `worker`: the worker process is killed (SIGKILL) and a new one started;
- `temporal`: the Temporal dev server (persisted to a file) is stopped and started again.

Lateness of a case is the time from its deadline (or from the end of the outage, if later) until
its read-model row says `overdue`. Printed: p50/p95/max for the outage cases, the same for the
control cases (the floor: a deadline with nothing in the way) and the ratio of the p95s.

    python bench/deadline_outage.py --outage database --cases 40 --down 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 10.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def main(outage: str, n: int, control: int, down_s: float) -> None:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text
    from temporalio.testing import WorkflowEnvironment

    from core.settings import Settings
    from core.temporal import data_converter
    from domain.deadlines import Deadlines
    from models.db import make_engine
    from services.case_start import start_case_workflow
    from tests.conftest import migrate
    from tests.factories import case_input, seed
    from tests.live import free_port
    from tests.pg_cluster import PgCluster
    from workflows.search_attributes import SEARCH_ATTRIBUTES

    temporal_bin = shutil.which("temporal")
    if temporal_bin is None:
        sys.exit("the `temporal` binary is not on PATH: run through make, or put .venv/bin on PATH")
    pg = PgCluster()
    pg.start()
    temporal_port = free_port()

    async def temporal() -> WorkflowEnvironment:
        return await WorkflowEnvironment.start_local(
            port=temporal_port,
            dev_server_existing_path=temporal_bin,
            dev_server_extra_args=["--db-filename", str(pg.dir / "temporal.db")],
            data_converter=data_converter(Settings(demo_mode=True)),
            search_attributes=list(SEARCH_ATTRIBUTES),
            dev_server_log_level="error",
        )

    env = await temporal()
    worker: subprocess.Popen[bytes] | None = None
    try:
        url = pg.create_database("bench")
        migrate(url)
        engine = make_engine(url)
        seed(engine)
        queue = f"outage-{uuid.uuid4().hex[:6]}"
        settings = Settings(database_url=url, task_queue=queue)
        environ = {
            **os.environ,
            "DATABASE_URL": url,
            "TASK_QUEUE": queue,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "RECONCILE_INTERVAL_SECONDS": "3600",
        }
        log = Path(tempfile.mkdtemp(prefix="deadline-outage-")) / "worker.log"  # kept
        worker = worker_process(environ, log)

        now = datetime.now(UTC)
        setup_s = 15 + n / 10
        down_at = now + timedelta(seconds=setup_s)
        up_at = down_at + timedelta(seconds=down_s)
        # Outage cases: deadlines spread over the window; control cases: after the recovery.
        margin = min(5.0, down_s / 4)
        span = down_s - 2 * margin
        dues = {
            f"O-{i:05d}": down_at + timedelta(seconds=margin + span * i / max(1, n - 1))
            for i in range(n)
        }
        floor_start = up_at + timedelta(seconds=30)
        dues |= {
            f"F-{i:05d}": floor_start + timedelta(seconds=10 * i / max(1, control))
            for i in range(control)
        }
        for case_id, due in dues.items():
            inp = case_input(engine, case_id, now)
            inp.initial_deadlines = Deadlines(due, None, due + timedelta(days=1), None)
            await start_case_workflow(env.client, settings, inp)

        def overdue() -> set[str]:
            with engine.connect() as conn:
                rows = conn.execute(text("select id from \"case\" where status = 'overdue'"))
                return {r[0] for r in rows}

        started = time.monotonic()
        while True:  # every case projected (version >= 1) before the outage
            with engine.connect() as conn:
                projected = conn.execute(text('select count(*) from "case" where version >= 1'))
                if projected.scalar() == len(dues):
                    break
            if time.monotonic() - started > setup_s:
                sys.exit("the cases were not projected before the outage: raise the setup time")
            await asyncio.sleep(0.2)

        await asyncio.sleep(max(0.0, (down_at - datetime.now(UTC)).total_seconds()))
        print(f"{outage} down for {down_s:.0f} s; {n} deadlines pass meanwhile")
        if outage == "database":
            pg.stop()
        elif outage == "temporal":
            await env.shutdown()
        else:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        await asyncio.sleep(max(0.0, (up_at - datetime.now(UTC)).total_seconds()))
        if outage == "database":
            pg.start()
        elif outage == "temporal":
            env = await temporal()
        else:
            worker = worker_process(environ, log)
        recovered = datetime.now(UTC)
        print("recovered; waiting for the deadlines")

        seen: dict[str, datetime] = {}
        give_up = max(dues.values()) + timedelta(seconds=240)
        while len(seen) < len(dues) and datetime.now(UTC) < give_up:
            try:
                found = await asyncio.to_thread(overdue)
            except Exception:  # the pool's connections from before the restart
                found = set()
            at = datetime.now(UTC)
            for case_id in found - seen.keys():
                seen[case_id] = at
            await asyncio.sleep(0.1)

        late = [
            (seen[c] - max(due, recovered)).total_seconds()
            for c, due in dues.items()
            if c.startswith("O-") and c in seen
        ]
        floor = [
            (seen[c] - due).total_seconds()
            for c, due in dues.items()
            if c.startswith("F-") and c in seen
        ]
        missing = len(dues) - len(seen)
        print()
        print(f"deadlines after a {outage} outage of {down_s:.0f} s ({n} cases, PostgreSQL)")
        if late:
            print(
                f"  lateness after recovery: p50 {statistics.median(late):6.1f} s  "
                f"p95 {pct(late, 0.95):6.1f} s  max {max(late):6.1f} s"
            )
        if floor:
            print(
                f"  floor (no outage):       p50 {statistics.median(floor):6.1f} s  "
                f"p95 {pct(floor, 0.95):6.1f} s  max {max(floor):6.1f} s"
            )
        if late and floor:
            print(f"  ratio p95 / floor p95:   {pct(late, 0.95) / max(pct(floor, 0.95), 0.1):6.1f}")
            verdict = "met" if pct(late, 0.95) <= TARGET_S else "MISSED"
            print(f"  target: p95 <= {TARGET_S:.0f} s after recovery -> {verdict}")
        if missing:
            print(f"  {missing} deadline(s) never showed as overdue (see {log})")
        engine.dispose()
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
        await env.shutdown()
        pg.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outage", choices=["database", "worker", "temporal"], default="database")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--control", type=int, default=10)
    parser.add_argument("--down", type=float, default=60.0, help="outage length in seconds")
    args = parser.parse_args()
    asyncio.run(main(args.outage, args.cases, args.control, args.down))
