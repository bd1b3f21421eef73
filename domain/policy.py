"""A program's rules as each case carries them: calendar, SLA, escalation, remeasurement.

Plain dataclasses: they travel inside Temporal payloads (the case snapshots its program's policy
when it opens), so they stay import-light and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class DayHours:
    """Opening hours of one weekday, local "HH:MM" strings; closed when `open` is None."""

    open: str | None = "09:00"
    close: str | None = "17:00"


def _default_week() -> list[DayHours]:
    return [DayHours() for _ in range(5)] + [DayHours(None, None), DayHours(None, None)]


@dataclass
class CalendarSpec:
    """A business calendar: time zone, weekly hours (Monday first), holidays.

    `always_open` is the 24x7 calendar used by wall-clock durations.
    """

    timezone: str = "UTC"
    week: list[DayHours] = field(default_factory=_default_week)
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    extra_holidays: list[date] = field(default_factory=list)
    always_open: bool = False


@dataclass
class SlaPolicy:
    """Durations are "N business days|hours|minutes" or ISO-8601 wall-clock ("PT30M", "P2D")."""

    open_within: str = "1 business day"
    resolve_within: str = "3 business days"
    warn_before: str | None = "4 business hours"
    # Priority -> factor applied to every duration (e.g. urgent = half the time).
    priority_factors: dict[str, float] = field(default_factory=lambda: {"urgent": 0.5})
    # Waiting on the customer (issue 16): the deadlines ("open", "resolve") that stop while a
    # case is paused, and the longest pause before the case resumes by itself (None: no limit).
    pause_metrics: list[str] = field(default_factory=lambda: ["open", "resolve"])
    max_pause: str | None = "5 business days"


@dataclass
class EscalationPolicy:
    max_level: int = 2
    # Used when the late owner has no manager.
    program_designee_id: str | None = None
    # Resolve deadline granted to a new owner after reassignment or escalation.
    reassign_resolve_within: str | None = None


@dataclass
class RemeasurePolicy:
    enabled: bool = True
    reminder_after: str = "P3D"
    expire_after: str = "P7D"
    low_score_threshold: int = 2
    reopen_on_failure: bool = False


@dataclass
class CasePolicy:
    """The program's rules, snapshotted into each case when it opens.

    A snapshot keeps running cases deterministic and auditable when an admin edits the program.
    """

    program_id: str
    program_name: str
    calendar: CalendarSpec
    sla: SlaPolicy
    escalation: EscalationPolicy
    remeasure: RemeasurePolicy
    root_causes: list[str]
    resolution_methods: list[str]
    # The closing summary goes to the case's watchers (program setting `notifications`).
    notify_watchers_on_close: bool = True
    # What closing asks for (the program's taxonomy); cases opened before it: the old rule.
    root_causes_required: bool = True
    resolution_methods_required: bool = False
    # A resolved close waits for every task on the case to be done (issue 18).
    require_tasks_done_to_resolve: bool = False
