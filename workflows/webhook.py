"""WebhookDeliveryWorkflow: one webhook delivery row, retried with backoff for about three days.

Its id is `webhook-delivery-<row id>` (the dispatcher starts one per row, a second start is
refused), its input ids and numbers only. The activity settles the row (delivered, failed on a
410, refused for a forbidden target) or raises to be retried; when the retries run out, the row
is marked failed and stays in the log, where an admin or the client can redeliver it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities, WebhookAttempt
    from workflows.messages import WebhookDeliveryInput

WEBHOOK_WORKFLOW = "WebhookDeliveryWorkflow"


def delivery_workflow_id(delivery_id: int) -> str:
    return f"webhook-delivery-{delivery_id}"


@workflow.defn(name=WEBHOOK_WORKFLOW)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, inp: WebhookDeliveryInput) -> str:
        attempt = WebhookAttempt(
            inp.delivery_id, inp.retry_initial_seconds, inp.retry_max_interval_seconds
        )
        try:
            result: str = await workflow.execute_activity_method(
                WebhookActivities.deliver,
                attempt,
                start_to_close_timeout=timedelta(seconds=inp.timeout_seconds + 30),
                schedule_to_close_timeout=timedelta(seconds=inp.retry_for_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=inp.retry_initial_seconds),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=inp.retry_max_interval_seconds),
                ),
                summary="deliver webhook",
            )
            return result
        except ActivityError:
            await workflow.execute_activity_method(
                WebhookActivities.give_up,
                inp.delivery_id,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            )
            return "failed"
