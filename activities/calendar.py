"""Deadline computation as an activity: holiday tables and time-zone data stay out of workflows,
and the answer is recorded in history, so a changed calendar never changes a replay."""

from __future__ import annotations

from temporalio import activity

from domain.deadlines import DeadlineRequest, Deadlines, compute_deadlines


class CalendarActivities:
    @activity.defn(name="compute_deadlines")
    async def compute_deadlines(self, req: DeadlineRequest) -> Deadlines:
        return compute_deadlines(req)
