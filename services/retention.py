"""The retention schedule: a Temporal Schedule that starts RetentionWorkflow once a day.

Created or brought up to date by the worker at start (`ensure_retention_schedule`): a second
worker, or a restart, finds the schedule and updates it to the same spec. What is anonymised is
each program's `retention_months` after close (domain/program.py); see the README.
"""

from __future__ import annotations

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from workflows.retention import RETENTION_WORKFLOW

log = logging.getLogger(__name__)

SCHEDULE_ID = "caseloop-retention"
# Every day at 03:15 UTC (quiet hours in Europe; any time works: the run is idempotent).
CRON = "15 3 * * *"


def retention_schedule(settings: Settings) -> Schedule:
    return Schedule(
        # By name: passing the method confuses mypy's inference of CaseWorkflow's handles.
        action=ScheduleActionStartWorkflow(
            RETENTION_WORKFLOW,
            id="retention-run",
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[CRON]),
        # A run still going when the next is due: the next is skipped, never doubled.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention_schedule(client: Client, settings: Settings) -> str:
    """Create the schedule, or update it to this spec; "created" or "updated"."""
    schedule = retention_schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        log.info("retention schedule %s created", SCHEDULE_ID)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(SCHEDULE_ID).update(replace)
    return "updated"
