"""Temporal worker: runs CaseWorkflow and its activities. Stateless; run as many as needed.

    python worker.py                  # WORKER_PROCESSES processes (default 1)
    python worker.py --processes 4    # four, each its own Temporal worker on the task queue

One Python process does CPU work on one core (the interpreter lock); more processes use more.
The first process starts the others, and runs the singletons (the retention schedule, the
reconciler); if one of the others dies, all stop, so the supervisor restarts the set whole.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.directory import DirectoryActivities
from activities.erasure import RetentionActivities
from activities.failures import FailureActivities
from activities.mail import MailActivities
from activities.notifications import NotificationActivities
from activities.open_cases import OpenCaseActivities
from activities.projection import ProjectionActivities
from activities.remeasurement import RemeasurementActivities
from activities.webhooks import WebhookActivities
from core.logging import configure_logging
from core.payload_crypto import PayloadKeyError, key_ring
from core.sandbox import share_workflow_code
from core.settings import InsecureSecretKey, Settings, get_settings
from core.telemetry import setup_tracing, temporal_runtime
from core.temporal import connect
from core.workflow_runner import WorkflowRunner
from models.db import make_engine
from services.reconciler import Reconciler
from services.retention import ensure_retention_schedule
from services.webhook_dispatch import WebhookDispatcher
from workflows.case import CaseWorkflow
from workflows.policy_fanout import PolicyFanoutWorkflow
from workflows.retention import RetentionWorkflow
from workflows.webhook import WebhookDeliveryWorkflow

log = logging.getLogger("worker")
PROGRAM = str(Path(__file__).resolve())


WORKFLOWS = [CaseWorkflow, RetentionWorkflow, PolicyFanoutWorkflow, WebhookDeliveryWorkflow]


def build_worker(client: Client, engine: Engine, settings: Settings) -> Worker:
    _compile_sandboxed()
    notifications = NotificationActivities(engine, settings)
    webhooks = WebhookActivities(engine, settings)
    # Each sandboxed instance executes its workflow's module afresh, from one copy of its code
    # per process (core/sandbox.py; bench/sandbox_cost.py: ~137 KB less per cached case).
    share_workflow_code(*(w.__module__ for w in WORKFLOWS))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        # The stock sandbox, minus a compile and two restriction switches per payload group
        # (core/workflow_runner.py).
        workflow_runner=WorkflowRunner(),
        activities=[
            CalendarActivities().compute_deadlines,
            CalendarActivities().pause_limit,
            CalendarActivities().shift_deadlines,
            CalendarActivities().follow_policy,
            OpenCaseActivities(engine).open_cases,
            CalendarActivities().task_schedule,
            ProjectionActivities(engine).project_case,
            DirectoryActivities(engine).find_designee,
            notifications.notify,
            MailActivities(engine, settings).deliver,
            RemeasurementActivities(engine, settings).send_remeasurement,
            FailureActivities(engine).record_failure,
            RetentionActivities(engine, settings).anonymise_expired,
            webhooks.deliver,
            webhooks.give_up,
        ],
        # Projection, notification and SMTP activities are sync (DB, smtplib): run them in threads.
        activity_executor=ThreadPoolExecutor(max_workers=48),
        # Regular activities (SMTP delivery, the survey) hold at most 16 of those threads, so a
        # hanging mail server never starves the local activities that move the cases on.
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        # Bounds memory: an evicted case replays its history at its next task (bench/memory.py).
        max_cached_workflows=settings.max_cached_workflows,
        # When deadlines pass together (an escalation storm), a busy worker's sticky queue backs
        # up. Past this wait the server hands the task to the normal queue, and the worker must
        # rebuild the case from its whole history (a new sandbox, a replay): more work exactly
        # when there is no time for it. 10 s (the default) did that in bench/escalation_storm.py.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=30),
    )


async def _others(processes: int) -> list[asyncio.subprocess.Process]:
    """The other worker processes: the same program, the same environment, no singletons."""
    count = str(processes)
    return [
        await asyncio.create_subprocess_exec(
            sys.executable, PROGRAM, "--processes", count, "--index", str(i)
        )
        for i in range(1, processes)
    ]


def _metrics_address(address: str, index: int) -> str:
    """Process K serves its metrics on the address's port + K (each process has its own)."""
    if not address or not index:
        return address
    host, port = address.rsplit(":", 1)
    return f"{host}:{int(port) + index}"


async def _watch(children: list[asyncio.subprocess.Process], stop: asyncio.Event) -> None:
    """One process gone: stop all (a set with a hole would look alive to its supervisor)."""
    waits = [asyncio.create_task(child.wait()) for child in children]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if not stop.is_set():
        log.error("a worker process exited; stopping the others")
        stop.set()
    for wait in waits:
        wait.cancel()


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    """A second process whose first is gone (killed hard) stops too: no stray workers."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.error("the first worker process is gone; stopping")
            stop.set()
        await asyncio.sleep(1)


def _compile_sandboxed() -> None:
    """Write the bytecode of the modules the workflow sandbox re-imports for every case it loads
    (with PYTHONDONTWRITEBYTECODE nothing else writes it, and each case then compiles
    workflows/case.py from source: a third of the worker's CPU in an escalation storm,
    bench/README.md). A read-only checkout just goes without. Every entry point that builds a
    worker (worker.py, the benches' and tests' worker processes) does it: already compiled
    files cost a stat each."""
    root = Path(__file__).resolve().parent
    for package in ("workflows", "domain"):
        with contextlib.suppress(OSError):
            compileall.compile_dir(root / package, quiet=2)


async def main(processes: int = 1, index: int = 0) -> int:
    primary = index == 0
    settings = get_settings()
    configure_logging(settings)
    settings.require_secret_key()  # it signs the survey links
    key_ring(settings)  # no payload key: stop here, with what to do
    setup_tracing(settings, "worker")
    metrics = _metrics_address(settings.worker_metrics_address, index)
    client = await connect(settings, runtime=temporal_runtime(metrics))
    engine = make_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    children = await _others(processes) if primary else []
    if children:
        watching = asyncio.create_task(_watch(children, stop))
    elif not primary:
        watching = asyncio.create_task(_orphaned(os.getppid(), stop))
    else:
        watching = None
    try:
        if primary:
            # The daily retention run (created, or updated to this task queue): idempotent.
            await ensure_retention_schedule(client, settings)
        async with build_worker(client, engine, settings):
            log.info(
                "worker polling task queue %r on %s (namespace %s), process %d of %d",
                settings.task_queue,
                client.service_client.config.target_host,
                client.namespace,
                index + 1,
                processes,
            )
            reconciling = dispatching = None
            if primary:
                # With the worker polling (the reconciler queries workflows): at once, then on
                # a timer. In the first process only: it is a singleton of the set.
                reconciler = Reconciler(engine, client, settings)
                reconciling = asyncio.create_task(reconciler.run_forever(stop))
                # Webhook delivery rows written by the projection: one delivery workflow each.
                dispatching = asyncio.create_task(
                    WebhookDispatcher(engine, client, settings).run_forever(stop)
                )
            await stop.wait()
            if dispatching is not None:
                await dispatching
            # Let a round in progress finish, with the worker still answering its queries: a
            # Temporal call cancelled mid-flight can call back into an interpreter shutting
            # down.
            if reconciling is not None:
                await reconciling
    finally:
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            await child.wait()
        if watching is not None:
            watching.cancel()
        engine.dispose()
    return 1 if any(child.returncode not in (0, -signal.SIGTERM) for child in children) else 0


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--processes", type=int, default=None, help="worker processes (default WORKER_PROCESSES)"
    )
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _args(sys.argv[1:])
    processes = args.processes or get_settings().worker_processes
    if processes < 1:
        sys.exit("worker not started: --processes must be at least 1")
    try:
        sys.exit(asyncio.run(main(processes, args.index)))
    except (InsecureSecretKey, PayloadKeyError) as exc:
        sys.exit(f"worker not started: {exc}")
