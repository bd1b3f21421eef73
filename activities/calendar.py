"""Deadline computation as an activity: holiday tables and time-zone data stay out of workflows,
and the answer is recorded in history, so a changed calendar never changes a replay."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from domain.deadline_follow import FollowRequest, follow_deadlines
from domain.deadlines import (
    DeadlineRequest,
    Deadlines,
    PauseLimitRequest,
    Shifted,
    ShiftRequest,
    compute_deadlines,
    pause_limit,
    shift_deadlines,
)
from domain.tasks import TaskSchedule, TaskScheduleRequest, task_schedule


class CalendarActivities:
    @activity.defn(name="compute_deadlines")
    async def compute_deadlines(self, req: DeadlineRequest) -> Deadlines:
        return compute_deadlines(req)

    @activity.defn(name="pause_limit")
    async def pause_limit(self, req: PauseLimitRequest) -> datetime:
        return pause_limit(req)

    @activity.defn(name="shift_deadlines")
    async def shift_deadlines(self, req: ShiftRequest) -> Shifted:
        return shift_deadlines(req)

    @activity.defn(name="follow_policy")
    async def follow_policy(self, req: FollowRequest) -> Deadlines:
        return follow_deadlines(req)

    @activity.defn(name="task_schedule")
    async def task_schedule(self, req: TaskScheduleRequest) -> TaskSchedule:
        return task_schedule(req)
