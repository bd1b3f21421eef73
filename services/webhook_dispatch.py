"""The worker's webhook dispatcher: one WebhookDeliveryWorkflow per new delivery row.

Rows are written by the projection and the erasure in their own transactions (exactly once);
this loop starts their workflows (id = `webhook-delivery-<row id>`) and marks them
dispatched. Two workers, or a crash between the start and the mark, start a row twice: a
running workflow is reused, and a finished one that runs again finds its row settled and sends
nothing (the row's status, not the workflow id, makes a delivery happen once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from core.settings import Settings
from core.threads import in_thread
from models.types import utcnow
from models.webhooks import WebhookDelivery
from workflows.messages import WebhookDeliveryInput
from workflows.webhook import WebhookDeliveryWorkflow, delivery_workflow_id

log = logging.getLogger(__name__)
BATCH = 100


class WebhookDispatcher:
    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self.engine, self.client, self.settings = engine, client, settings

    def _undispatched(self) -> list[int]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(WebhookDelivery.id)
                .where(col(WebhookDelivery.dispatched_at).is_(None))
                .order_by(col(WebhookDelivery.id))
                .limit(BATCH)
            ).all()
        return [r for r in rows if r is not None]

    def _mark(self, ids: list[int]) -> None:
        with Session(self.engine) as session:
            session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_(ids))
                .values(dispatched_at=utcnow())
            )
            session.commit()

    def _input(self, delivery_id: int) -> WebhookDeliveryInput:
        s = self.settings
        return WebhookDeliveryInput(
            delivery_id=delivery_id,
            retry_initial_seconds=s.webhook_retry_initial_seconds,
            retry_max_interval_seconds=s.webhook_retry_max_interval_seconds,
            retry_for_seconds=s.webhook_retry_for_seconds,
            timeout_seconds=s.webhook_timeout_seconds,
        )

    async def run_once(self) -> int:
        started = 0
        while ids := await in_thread(self._undispatched):
            for delivery_id in ids:
                await self.client.start_workflow(
                    WebhookDeliveryWorkflow.run,
                    self._input(delivery_id),
                    id=delivery_workflow_id(delivery_id),
                    task_queue=self.settings.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    static_summary="webhook delivery",
                )
                started += 1
            await in_thread(self._mark, ids)
        return started

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("webhook dispatch failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.webhook_dispatch_interval_seconds)
