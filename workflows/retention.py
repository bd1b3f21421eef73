"""RetentionWorkflow: started by a Temporal Schedule (services/retention.py), it anonymises the
cases closed longer ago than their program's retention, in batches, through one activity
(activities/erasure.py). It holds no personal data: its input is nothing, its result counts.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.erasure import RetentionActivities, RetentionRequest, RetentionResult
    from workflows.messages import RetentionRunResult

# Batches per run: a backlog larger than this waits for the next run (the schedule's next day).
MAX_BATCHES = 50


RETENTION_WORKFLOW = "RetentionWorkflow"


@workflow.defn(name=RETENTION_WORKFLOW)
class RetentionWorkflow:
    @workflow.run
    async def run(self) -> RetentionRunResult:
        done = RetentionRunResult()
        while done.batches < MAX_BATCHES:
            result: RetentionResult = await workflow.execute_activity_method(
                RetentionActivities.anonymise_expired,
                RetentionRequest(now=workflow.now()),
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
                summary="anonymise expired cases",
            )
            done.batches += 1
            done.anonymised += result.anonymised
            if not result.more:
                break
        return done
