"""The case as the workflow keeps it: its view, its people and its timeline events.

Plain dataclasses (they cross the Temporal boundary inside updates, queries and activity inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.vocabulary import Access, CaseStatus, ClosingStatus, Priority, RemeasureStatus, Role


@dataclass
class Watcher:
    user_id: str
    access: Access = Access.FULL


@dataclass
class Actor:
    """Who asks; authenticated by the API before it reaches the workflow.

    `via`: the API client acting on the user's behalf (a delegating service client), recorded
    with each timeline event the action makes; "" for the user themselves (and for every
    recorded history from before it existed).
    """

    user_id: str
    role: Role = Role.AGENT
    name: str = ""
    via: str = ""


@dataclass
class CaseDetails:
    """What intake knows about the complaint (customer data stays out of search attributes)."""

    channel: str
    unit_id: str
    customer_id: int | None = None
    customer_name: str = ""
    category: str = ""
    subcategory: str = ""
    priority: Priority = Priority.NORMAL
    reason: str = ""
    verbatim: str = ""
    external_ref: str | None = None
    transaction: dict[str, str] = field(default_factory=dict)


@dataclass
class TimelineEvent:
    seq: int
    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, object] = field(default_factory=dict)


@dataclass
class CaseTask:
    """A to-do on a case (issue 18): who does it by when, and whether it is done.

    `remind_at` is when the assignee is reminded (80 % of the business time to `due_at`);
    `reminded` and `overdue` say those notices went out (a task reopened keeps them).
    """

    task_id: str
    title: str
    assignee_id: str
    created_by: str
    created_at: datetime
    due_at: datetime | None = None
    remind_at: datetime | None = None
    done_at: datetime | None = None
    done_by: str = ""
    reminded: bool = False
    overdue: bool = False

    @property
    def is_open(self) -> bool:
        return self.done_at is None


@dataclass
class CaseView:
    """The case as the workflow knows it; also the projection's row content."""

    case_id: str
    version: int
    program_id: str
    unit_id: str
    channel: str
    customer_id: int | None
    status: CaseStatus
    owner_id: str
    watchers: list[Watcher]
    priority: Priority
    category: str
    reason: str
    verbatim: str
    external_ref: str | None
    created_at: datetime
    open_due_at: datetime | None
    resolve_due_at: datetime | None
    escalation_level: int = 0
    went_overdue: bool = False
    open_breached: bool = False
    resolve_breached: bool = False
    first_action_at: datetime | None = None
    closed_at: datetime | None = None
    closing_status: ClosingStatus | None = None
    root_causes: list[str] = field(default_factory=list)
    resolution_methods: list[str] = field(default_factory=list)
    final_note: str = ""
    reopened_count: int = 0
    remeasure_status: RemeasureStatus = RemeasureStatus.NOT_APPLICABLE
    remeasure_score: int | None = None
    remeasure_resolved: bool | None = None
    remeasure_comment: str = ""
    recovery_failed: bool = False
    customer_name: str = ""
    subcategory: str = ""
    # Waiting on the customer (issue 16): since when, when it resumes by itself, and the
    # business seconds of every finished pause (deadlines moved by as much).
    paused_since: datetime | None = None
    pause_resumes_at: datetime | None = None
    paused_seconds: int = 0
    # The case's tasks (issue 18), open and done, in the order they were added.
    tasks: list[CaseTask] = field(default_factory=list)


@dataclass
class PauseInterval:
    """One pause of a case's clock, in the workflow's ledger: from, to, its business seconds
    on the case's calendar, and what ended it (an owner, "customer (...)", "limit", "closed")."""

    start: datetime
    end: datetime
    business_seconds: int
    ended_by: str
