"""Intake throughput: cases/s through the API against raw `start_workflow`/s on the same server.

Starts a real Temporal dev server, a worker (`worker.build_worker`) and the app (served over
httpx's ASGI transport, in this process), with a SQLite read model in a temporary directory
loaded with the demo configuration. Then, each with N requests and C in flight:

  (a) raw     `client.start_workflow(CaseWorkflow.run, ...)` with the input intake builds;
  (b) api     `POST /api/v1/cases` (auth, validation, case number, customer, routing,
              deadlines, version-0 row, start, the answer read back);
  (c) surveys `POST /api/v1/survey-responses` whose alert rules open a case.

It prints requests/s, p50/p95 latency, the API/raw ratio (target >= 0.7), the time the worker
needed afterwards to project every case, and the process RSS.

    python bench/intake.py --cases 500 --concurrency 32
    python bench/intake.py --cases 500 --processes 2     # two worker processes
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    name: str
    n: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu: float = 0.0  # CPU seconds of this process (bench client + app) during the phase
    busy: float = 0.0  # machine CPU busy jiffies during the phase (all processes)
    jiffies: float = 0.0  # machine CPU jiffies during the phase (busy + idle)

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<8} {self.rate:8.1f}/s   p50 {self.pct(0.5):7.1f} ms   "
            f"p95 {self.pct(0.95):7.1f} ms   cpu {self.cpu / self.n * 1000:5.1f} ms/req   "
            f"errors {self.errors}   machine busy {100 * self.busy / max(self.jiffies, 1):3.0f} %"
        )


def rss_of(pid: int | str = "self") -> float:
    """Current resident set size of a process, MiB (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MiB."""
    return rss_of(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_phase(
    name: str, n: int, concurrency: int, one: Callable[[int], Awaitable[bool]]
) -> Result:
    from tqdm import tqdm

    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0
    bar = tqdm(total=n, desc=name, unit="req", leave=False)

    async def go(i: int) -> None:
        nonlocal errors
        async with sem:
            t0 = time.perf_counter()
            ok = await one(i)
            latencies.append(time.perf_counter() - t0)
            errors += not ok
            bar.update()

    t0, c0, (b0, j0) = time.perf_counter(), time.process_time(), machine_busy()
    await asyncio.gather(*(go(i) for i in range(n)))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    b1, j1 = machine_busy()
    bar.close()
    return Result(name, n, seconds, latencies, errors, cpu, b1 - b0, j1 - j0)


def _shifted(fn: Callable[[int], Awaitable[bool]], offset: int) -> Callable[[int], Awaitable[bool]]:
    return lambda i: fn(offset + i)


async def drained(engine: Any, prefix: str, n: int, limit: float = 600) -> float:
    """Seconds until the worker has projected all `n` cases whose id starts with `prefix`."""
    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from models.case import Case

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        with Session(engine) as session:
            done = session.exec(
                select(func.count())
                .select_from(Case)
                .where(col(Case.id).startswith(prefix), col(Case.version) >= 1)
            ).one()
        if done >= n:
            break
        await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def main(
    n: int, concurrency: int, rounds: int, db_url: str | None, processes: int = 1
) -> None:
    sys.path.insert(0, str(ROOT))
    import httpx
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func
    from sqlmodel import Session, select
    from temporalio.testing import WorkflowEnvironment

    from api import create_app
    from core.settings import Settings
    from core.temporal import data_converter
    from domain.vocabulary import Scope
    from models.case import Case
    from models.config import Program, Unit
    from models.db import make_engine
    from services.case_start import start_case_workflow
    from services.config_file import load_config_file
    from services.configuration import apply_config
    from services.tokens import create_client
    from workflows.search_attributes import SEARCH_ATTRIBUTES

    tmp = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    url = db_url or f"sqlite:///{tmp / 'bench.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    apply_config(engine, load_config_file(ROOT / "config" / "demo.yaml"))
    token = create_client(engine, "bench", [Scope.CASES_WRITE, Scope.CASES_READ]).token
    settings = Settings(
        database_url=url, task_queue=f"bench-{uuid.uuid4().hex[:6]}", demo_mode=True
    )

    temporal_bin = shutil.which("temporal")
    if temporal_bin is None:
        sys.exit("the `temporal` binary is not on PATH: run through make, or put .venv/bin on PATH")
    print(f"starting the Temporal dev server; read model {engine.dialect.name}")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_bin,
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=data_converter(Settings(demo_mode=True)),
        dev_server_log_level="error",
        ui=False,
    )
    client = env.client
    app = create_app(settings, temporal=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    http = httpx.AsyncClient(
        transport=transport,
        base_url="http://bench",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    body: dict[str, Any] = {
        "program_id": "guest-recovery",
        "unit_id": "4723",
        "channel": "contact_center",
        "customer": {"name": "Kari Nordmann", "email": "kari@example.com"},
        "transaction": {"date": "2026-11-20", "type": "stay", "room": "412"},
        "category": "Housekeeping",
        "reason": "Room not cleaned on arrival",
        "verbatim": "The room smelled of smoke and nobody came.",
    }

    # The raw phase starts what intake would: the same CaseInput, built the same way.
    from domain.case import CaseDetails
    from domain.deadlines import DeadlineRequest, compute_deadlines
    from domain.routing import RoutingRequest
    from domain.vocabulary import Priority
    from services.configuration import policy_for
    from services.routing import route
    from workflows.messages import CaseInput

    with Session(engine) as session:
        program, unit = session.get(Program, "guest-recovery"), session.get(Unit, "4723")
        assert program and unit
        routing = route(session, program, unit, RoutingRequest("contact_center"))
        policy = policy_for(program, unit)

    def raw_input(i: int) -> CaseInput:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        return CaseInput(
            case_id=f"R-{i:06d}",
            policy=policy,
            details=CaseDetails(
                channel="contact_center",
                unit_id="4723",
                customer_id=1,
                customer_name="Kari Nordmann",
                category="Housekeeping",
                priority=Priority.NORMAL,
                reason="Room not cleaned on arrival",
                verbatim="The room smelled of smoke and nobody came.",
                transaction={"date": "2026-11-20", "type": "stay", "room": "412"},
            ),
            owner_id=routing.owner_id,
            watchers=routing.watchers,
            created_at=now,
            routing_reason=routing.reason,
            initial_deadlines=compute_deadlines(DeadlineRequest(now, policy, Priority.NORMAL)),
        )

    async def raw(i: int) -> bool:
        await start_case_workflow(client, settings, raw_input(i))
        return True

    async def api_case(i: int) -> bool:
        r = await http.post("/api/v1/cases", json={**body, "external_ref": f"bench-{i}"})
        return r.status_code == 201

    async def survey(i: int) -> bool:
        r = await http.post(
            "/api/v1/survey-responses",
            json={
                "program_id": "guest-recovery",
                "unit_id": "4723",
                "response_id": f"SV-{i}",
                "customer": {"name": f"Guest {i}", "email": f"guest{i}@example.com"},
                "answers": {"concern": "yes", "concern_details": "Broken shower", "recommend": 3},
            },
        )
        return r.status_code == 201 and r.json()["outcome"] == "case"

    worker_rss = 0.0
    results: list[Result] = []
    drains: dict[str, float] = {}
    # The worker runs in its own process, as in production (`python worker.py`): it does not
    # share this process's interpreter lock with the API.
    address = client.service_client.config.target_host
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            address,
            url,
            settings.task_queue,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    try:
        # Warm-up: imports, connection pools, the first workflow tasks.
        await run_phase("warm-up", 20, 4, lambda i: api_case(10_000_000 + i))
        await drained(engine, "C-", 20)
        # The phases take turns in rounds, so that they see the same background load (this box
        # may be busy with other work); each waits for the worker to catch up first.
        per_round = [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]
        phases = {"raw": raw, "api": api_case, "surveys": survey}
        totals = {name: Result(name, 0, 0.0, [], 0) for name in phases}
        done = {"raw": 0, "api": 0, "surveys": 0}
        for size in per_round:
            for name, fn in phases.items():
                offset = done[name]
                r = await run_phase(name, size, concurrency, _shifted(fn, offset))
                t = totals[name]
                t.n, t.seconds, t.errors = t.n + r.n, t.seconds + r.seconds, t.errors + r.errors
                t.cpu += r.cpu
                t.busy, t.jiffies = t.busy + r.busy, t.jiffies + r.jiffies
                t.latencies += r.latencies
                done[name] += size
                t0 = time.perf_counter()
                await drained(engine, "R-", done["raw"])
                await drained(engine, "C-", 20 + done["api"] + done["surveys"])
                drains[name] = drains.get(name, 0.0) + time.perf_counter() - t0
        results = list(totals.values())
        worker_rss = sum(rss_of(w.pid) for w in workers)
    finally:
        for w in workers:
            w.terminate()
            await w.wait()
    await http.aclose()
    with Session(engine) as session:
        cases = session.exec(select(func.count()).select_from(Case)).one()
    dialect = engine.dialect.name
    await env.shutdown()
    engine.dispose()

    raw_r, api_r, survey_r = results
    current, peak = rss_mb()
    print()
    print(
        f"intake: {n} requests per phase, {concurrency} in flight; "
        f"{cases} cases in the {dialect} read model; {processes} worker process(es)"
    )
    for r in results:
        print(f"  {r.line()}   worker caught up in {drains[r.name]:5.1f} s more")
    print(f"  api/raw     {api_r.rate / raw_r.rate:5.2f}   (target >= 0.70)")
    print(f"  surveys/raw {survey_r.rate / raw_r.rate:5.2f}")
    print(
        f"  RSS: bench + app {current:.0f} MiB ({peak:.0f} MiB peak), "
        f"worker(s) {worker_rss:.0f} MiB"
    )


async def run_worker(address: str, url: str, task_queue: str) -> None:
    """The bench's worker process: `worker.build_worker` on the bench's server and database."""
    import signal

    sys.path.insert(0, str(ROOT))
    from core.settings import Settings
    from core.temporal import connect
    from models.db import make_engine
    from worker import build_worker

    # DEMO_MODE as the app's settings above: the same payload key (derived), or none at all.
    settings = Settings(
        database_url=url, task_queue=task_queue, temporal_address=address, demo_mode=True
    )
    engine = make_engine(url)
    client = await connect(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with build_worker(client, engine, settings):
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        asyncio.run(run_worker(*sys.argv[2:5]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=5, help="turns the phases take")
    parser.add_argument(
        "--db", default=None, help="an empty read-model database URL (default: a temp SQLite file)"
    )
    parser.add_argument("--processes", type=int, default=1, help="worker OS processes")
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.concurrency, args.rounds, args.db, args.processes))
