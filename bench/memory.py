"""Worker memory per open case, and what a bounded workflow cache costs when a case comes back.

On a real Temporal dev server, a worker process (`worker.build_worker`, as `python worker.py`
runs it) with `max_cached_workflows` = --cache. N cases are opened and projected; the worker's
RSS is read before and after. The floor, in the same run: a worker process of the same cache
size holding N bare workflows (a signal wait and a query, nothing else).

Then the cost of an eviction: p50 of a query (`CaseWorkflow.state`) on cases the cache evicted
(the worker replays the case's history first) next to the same query on cases still cached
(the floor of that line); the bare workflow's two figures alike.

    python bench/memory.py                         # 10,000 cases, cache 1000
    python bench/memory.py --cases 2000 --cache 500
    python bench/memory.py --cases 300 --cache 100 --unsandboxed   # what the sandbox costs

The bench's case worker compiles workflows/ and domain/ to bytecode first, as `python worker.py`
does (and the image's build): without it every sandboxed instance compiles workflows/case.py
from source (figures up to 2026-12-03 19:00 were taken so).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = 40  # queries timed per kind
QUERY_TIMEOUT = timedelta(seconds=60)
# BENCH_TRACEMALLOC=1: the case worker also says what its Python code holds (slow: diagnostic).
TRACE = os.environ.get("BENCH_TRACEMALLOC") == "1"


@workflow.defn(name="BareOpen", sandboxed=False)
class BareOpen:
    """The floor: an open workflow waiting for a signal, with a query."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def state(self) -> bool:
        return self.done


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def settled_rss(pid: int, seconds: float = 5.0) -> float:
    """RSS once the worker is idle a moment (the last tasks and their garbage gone)."""
    await asyncio.sleep(seconds)
    return rss_mib(pid)


async def spawn_worker(kind: str, address: str, url: str, queue: str, cache: int) -> Any:
    """The worker process, once it polls (it says "worker ready")."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--worker",
        kind,
        address,
        url,
        queue,
        str(cache),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    await proc.stdout.readline()
    return proc


async def run_worker(kind: str, address: str, url: str, queue: str, cache: str) -> None:
    """The bench's worker process: the app's worker, or one for the bare workflow only."""
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    import worker as worker_module
    from core.settings import Settings
    from core.temporal import connect
    from models.db import make_engine
    from worker import _compile_sandboxed, build_worker

    settings = Settings(
        database_url=url,
        task_queue=queue,
        temporal_address=address,
        max_cached_workflows=int(cache),
        demo_mode=True,
    )
    client = await connect(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    baseline: list[tracemalloc.Snapshot] = []
    if TRACE and kind != "bare":  # SIGUSR1: the baseline of what the worker's Python code holds
        tracemalloc.start()
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGUSR1, lambda: baseline.append(tracemalloc.take_snapshot())
        )
    if kind == "bare":
        worker = Worker(
            client, task_queue=queue, workflows=[BareOpen], max_cached_workflows=int(cache)
        )
    else:
        # As `python worker.py` starts: the sandbox's modules compiled to bytecode first.
        _compile_sandboxed()
        if kind == "unsandboxed":  # diagnostic only: what the sandbox's own copies cost
            unsandboxed = functools.partial(Worker, workflow_runner=UnsandboxedWorkflowRunner())
            setattr(worker_module, "Worker", unsandboxed)  # noqa: B010
        worker = build_worker(client, make_engine(url), settings)
    async with worker:
        print("worker ready", flush=True)
        await stop.wait()
        if baseline:
            traced(baseline[0], tracemalloc.take_snapshot())


def traced(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> None:
    """What the worker's Python code allocated since the baseline and still holds, by file."""
    stats = after.compare_to(before, "filename")
    total = sum(s.size_diff for s in stats)
    print(f"  traced by Python since the baseline: {total / 2**20:.1f} MiB", file=sys.stderr)
    for stat in stats[:15]:
        name = stat.traceback[0].filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        print(f"    {stat.size_diff / 1024:9.0f} KB  {name}", file=sys.stderr)


async def timed(n: int, fn: Callable[[int], Awaitable[object]]) -> list[float]:
    """Each call's seconds; a call that failed (a query timing out on a starved worker) counts
    as its time to fail and is said so."""
    from temporalio.service import RPCError

    out, failed = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        try:
            await fn(i)
        except RPCError:
            failed += 1
        out.append(time.perf_counter() - t0)
    if failed:
        print(f"  ({failed} of {n} queries failed; counted at their time to fail)")
    return out


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def main(n: int, cache: int, concurrency: int, kind: str = "cases") -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func
    from sqlmodel import Session, col, select
    from temporalio.testing import WorkflowEnvironment
    from tqdm import tqdm

    from core.settings import Settings
    from core.temporal import data_converter
    from domain.deadlines import Deadlines
    from models.case import Case
    from models.db import make_engine
    from services.case_start import start_case_workflow
    from tests.factories import case_input, seed
    from workflows.case import CaseWorkflow
    from workflows.search_attributes import SEARCH_ATTRIBUTES

    tmp = Path(tempfile.mkdtemp(prefix="memory-"))
    url = f"sqlite:///{tmp / 'memory.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    seed(engine)
    temporal_bin = shutil.which("temporal")
    if temporal_bin is None:
        sys.exit("the `temporal` binary is not on PATH: run through make, or put .venv/bin on PATH")
    print("starting the Temporal dev server")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_bin,
        data_converter=data_converter(Settings(demo_mode=True)),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        ui=False,
    )
    client = env.client
    address = client.service_client.config.target_host
    sem = asyncio.Semaphore(concurrency)
    tag = uuid.uuid4().hex[:6]

    async def fill(desc: str, start: Callable[[int], Awaitable[object]]) -> None:
        bar = tqdm(total=n, desc=desc, unit="wf")

        async def one(i: int) -> None:
            async with sem:
                await start(i)
            bar.update()

        await asyncio.gather(*(one(i) for i in range(n)))
        bar.close()

    figures: dict[str, float] = {}
    try:
        # ---- the floor: N bare open workflows
        queue = f"bare-{tag}"
        worker = await spawn_worker("bare", address, url, queue, cache)
        warm_bare = await client.start_workflow("BareOpen", id=f"warm-{tag}", task_queue=queue)
        await warm_bare.signal("finish")
        await warm_bare.result()
        before = await settled_rss(worker.pid)

        async def start_bare(i: int) -> None:
            await client.start_workflow("BareOpen", id=f"bare-{tag}-{i}", task_queue=queue)

        await fill("bare workflows", start_bare)
        after = await settled_rss(worker.pid)
        figures["bare_before"], figures["bare_after"] = before, after
        print(f"bare worker RSS {before:.0f} -> {after:.0f} MiB")

        async def bare_query(i: int) -> object:
            handle = client.get_workflow_handle(f"bare-{tag}-{i}")
            return await handle.query("state", rpc_timeout=QUERY_TIMEOUT)

        newest = n - 1
        hits = await timed(SAMPLES, lambda i: bare_query(newest - (i % max(cache // 2, 1))))
        misses = await timed(SAMPLES, lambda i: bare_query(i))
        figures["bare_hit"], figures["bare_miss"] = ms(hits), ms(misses)
        worker.terminate()
        await worker.wait()

        # ---- ours: N open cases, projected
        queue = f"cases-{tag}"
        settings = Settings(database_url=url, task_queue=queue, demo_mode=True)
        worker = await spawn_worker(kind, address, url, queue, cache)
        warm = case_input(engine, "W-000001", datetime.now(UTC))
        await start_case_workflow(client, settings, warm)
        await client.get_workflow_handle(warm.case_id).query(CaseWorkflow.state)
        before = await settled_rss(worker.pid)
        if TRACE:
            worker.send_signal(signal.SIGUSR1)
        created = datetime.now(UTC)

        async def start_case(i: int) -> None:
            inp = case_input(engine, f"M-{i:06d}", created)
            inp.initial_deadlines = Deadlines(
                created + timedelta(days=1), None, created + timedelta(days=2), None
            )
            await start_case_workflow(client, settings, inp)

        await fill("cases", start_case)
        bar = tqdm(total=n, desc="cases projected", unit="case")
        done = 0
        while done < n:
            with Session(engine) as s:
                now_done = s.exec(
                    select(func.count())
                    .select_from(Case)
                    .where(col(Case.id).startswith("M-"), col(Case.version) >= 1)
                ).one()
            bar.update(now_done - done)
            done = now_done
            await asyncio.sleep(0.5)
        bar.close()
        after = await settled_rss(worker.pid)
        figures["case_before"], figures["case_after"] = before, after
        print(f"case worker RSS {before:.0f} -> {after:.0f} MiB")

        async def case_query(i: int) -> object:
            handle = client.get_workflow_handle(f"M-{i:06d}")
            return await handle.query(CaseWorkflow.state, rpc_timeout=QUERY_TIMEOUT)

        # The projection touched every case in start order: the newest are cached.
        hits = await timed(SAMPLES, lambda i: case_query(newest - (i % max(cache // 2, 1))))
        misses = await timed(SAMPLES, lambda i: case_query(i))
        figures["case_hit"], figures["case_miss"] = ms(hits), ms(misses)
        history = await client.get_workflow_handle("M-000000").fetch_history()
        figures["events"] = len(history.events)
        worker.terminate()
        await worker.wait()
        await asyncio.sleep(0.5)  # the worker's traced figures, if any, before ours
    finally:
        await env.shutdown()
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)

    f = figures
    held = min(n, cache) if cache else 0
    case_kb = (f["case_after"] - f["case_before"]) * 1024 / n
    bare_kb = (f["bare_after"] - f["bare_before"]) * 1024 / n
    print()
    print(f"memory: {n} open workflows, max_cached_workflows {cache} ({held} held in memory)")
    if kind == "unsandboxed":
        print("  (diagnostic: the case worker WITHOUT the workflow sandbox)")
    print(
        f"  worker RSS, cases: {f['case_before']:6.0f} -> {f['case_after']:6.0f} MiB   "
        f"{case_kb:7.1f} KB per open case   (goal <= 50 KB)"
    )
    print(
        f"  floor, bare wfs:   {f['bare_before']:6.0f} -> {f['bare_after']:6.0f} MiB   "
        f"{bare_kb:7.1f} KB per open workflow"
    )
    if held:
        print(
            f"  per cached case:   {(f['case_after'] - f['case_before']) * 1024 / held:7.1f} KB"
            f"   bare: {(f['bare_after'] - f['bare_before']) * 1024 / held:7.1f} KB"
        )
    print(f"  ratio per open case ours / bare: {case_kb / max(bare_kb, 0.1):6.2f}")
    print(f"  query p50 on a case, {f['events']:.0f} history events ({SAMPLES} samples each):")
    print(
        f"    evicted (replayed) {f['case_miss']:7.1f} ms   cached (floor) {f['case_hit']:7.1f} ms"
        f"   ratio {f['case_miss'] / f['case_hit']:5.2f}"
    )
    print(
        f"  bare workflow:       evicted {f['bare_miss']:7.1f} ms   cached {f['bare_hit']:7.1f} ms"
        f"   ratio {f['bare_miss'] / f['bare_hit']:5.2f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        asyncio.run(run_worker(*sys.argv[2:7]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--cache", type=int, default=1000, help="max_cached_workflows")
    parser.add_argument("--concurrency", type=int, default=32, help="starts in flight")
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="diagnostic: the case worker without the workflow sandbox (what the sandbox costs)",
    )
    args = parser.parse_args()
    kind = "unsandboxed" if args.unsandboxed else "cases"
    asyncio.run(main(args.cases, args.cache, args.concurrency, kind))
