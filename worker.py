"""Temporal worker: runs CaseWorkflow and its activities. Stateless; run as many as needed."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

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
from core.settings import InsecureSecretKey, Settings, get_settings
from core.telemetry import setup_tracing, temporal_runtime
from core.temporal import connect
from models.db import make_engine
from services.reconciler import Reconciler
from services.retention import ensure_retention_schedule
from services.webhook_dispatch import WebhookDispatcher
from workflows.case import CaseWorkflow
from workflows.policy_fanout import PolicyFanoutWorkflow
from workflows.retention import RetentionWorkflow
from workflows.webhook import WebhookDeliveryWorkflow

log = logging.getLogger("worker")


def build_worker(client: Client, engine: Engine, settings: Settings) -> Worker:
    notifications = NotificationActivities(engine, settings)
    webhooks = WebhookActivities(engine, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow, RetentionWorkflow, PolicyFanoutWorkflow, WebhookDeliveryWorkflow],
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
        max_concurrent_activities=16,
        # When deadlines pass together (an escalation storm), a busy worker's sticky queue backs
        # up. Past this wait the server hands the task to the normal queue, and the worker must
        # rebuild the case from its whole history (a new sandbox, a replay): more work exactly
        # when there is no time for it. 10 s (the default) did that in bench/escalation_storm.py.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=30),
    )


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    settings.require_secret_key()  # it signs the survey links
    key_ring(settings)  # no payload key: stop here, with what to do
    setup_tracing(settings, "worker")
    client = await connect(settings, runtime=temporal_runtime(settings.worker_metrics_address))
    engine = make_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The daily retention run (created, or updated to this worker's task queue): idempotent.
    await ensure_retention_schedule(client, settings)
    async with build_worker(client, engine, settings):
        log.info(
            "worker polling task queue %r on %s (namespace %s)",
            settings.task_queue,
            client.service_client.config.target_host,
            client.namespace,
        )
        # With the worker polling (the reconciler queries workflows): at once, then on a timer.
        reconciling = asyncio.create_task(Reconciler(engine, client, settings).run_forever(stop))
        # Webhook delivery rows written by the projection: one delivery workflow each.
        dispatching = asyncio.create_task(
            WebhookDispatcher(engine, client, settings).run_forever(stop)
        )
        await stop.wait()
        await dispatching
        # Let a round in progress finish, with the worker still answering its queries: a
        # Temporal call cancelled mid-flight can call back into an interpreter shutting down.
        await reconciling
    engine.dispose()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (InsecureSecretKey, PayloadKeyError) as exc:
        sys.exit(f"worker not started: {exc}")
