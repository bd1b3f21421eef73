"""DTOs exchanged between the API, the CaseWorkflow and its activities.

Everything here crosses the Temporal boundary, so it is plain dataclasses (serialised by the one
data converter in `core.temporal`) and must stay import-light: the workflow sandbox re-imports it.
One dataclass per workflow input, update, signal, query result and activity input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from temporalio.common import SearchAttributeKey

from domain.vocabulary import (
    Access,
    CaseStatus,
    ClosingStatus,
    Priority,
    RemeasureStatus,
    Role,
)

# ---------------------------------------------------------------- typed search attributes
# No customer personal data in any of these (DESIGN §9).

SA_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
SA_OWNER = SearchAttributeKey.for_keyword("CaseOwner")
SA_UNIT = SearchAttributeKey.for_keyword("CaseUnit")
SA_PROGRAM = SearchAttributeKey.for_keyword("CaseProgram")
SA_CHANNEL = SearchAttributeKey.for_keyword("CaseChannel")
SA_PRIORITY = SearchAttributeKey.for_keyword("CasePriority")
SA_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")
SA_ESCALATION = SearchAttributeKey.for_int("CaseEscalationLevel")
SA_RESOLVE_DUE = SearchAttributeKey.for_datetime("CaseResolveDue")

SEARCH_ATTRIBUTES = (
    SA_STATUS,
    SA_OWNER,
    SA_UNIT,
    SA_PROGRAM,
    SA_CHANNEL,
    SA_PRIORITY,
    SA_OVERDUE,
    SA_ESCALATION,
    SA_RESOLVE_DUE,
)


# ---------------------------------------------------------------- calendar and policy


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


# ---------------------------------------------------------------- the case


@dataclass
class Watcher:
    user_id: str
    access: Access = Access.FULL


@dataclass
class Actor:
    """Who asks; authenticated by the API before it reaches the workflow."""

    user_id: str
    role: Role = Role.AGENT
    name: str = ""


@dataclass
class CaseDetails:
    """What intake knows about the complaint (customer data stays out of search attributes)."""

    channel: str
    unit_id: str
    customer_id: int | None = None
    customer_name: str = ""
    category: str = ""
    priority: Priority = Priority.NORMAL
    reason: str = ""
    verbatim: str = ""
    external_ref: str | None = None
    transaction: dict[str, str] = field(default_factory=dict)


@dataclass
class CaseInput:
    case_id: str
    policy: CasePolicy
    details: CaseDetails
    owner_id: str
    watchers: list[Watcher]
    created_at: datetime
    # Why the owner was chosen (routing rule), for the timeline.
    routing_reason: str = ""
    opened_by: str = "intake"
    # Computed at intake by the same calendar code, so the API can answer with them at once.
    initial_deadlines: Deadlines | None = None


@dataclass
class TimelineEvent:
    seq: int
    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, object] = field(default_factory=dict)


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


def initial_view(inp: CaseInput) -> CaseView:
    """The case before anything happened: what intake knows, plus its first deadlines."""
    d = inp.details
    dl = inp.initial_deadlines
    return CaseView(
        case_id=inp.case_id,
        version=0,
        program_id=inp.policy.program_id,
        unit_id=d.unit_id,
        channel=d.channel,
        customer_id=d.customer_id,
        customer_name=d.customer_name,
        status=CaseStatus.NEW,
        owner_id=inp.owner_id,
        watchers=list(inp.watchers),
        priority=d.priority,
        category=d.category,
        reason=d.reason,
        verbatim=d.verbatim,
        external_ref=d.external_ref,
        created_at=inp.created_at,
        open_due_at=dl.open_due_at if dl else None,
        resolve_due_at=dl.resolve_due_at if dl else None,
    )


# ---------------------------------------------------------------- updates (one DTO each)


@dataclass
class AddNote:
    actor: Actor
    text: str


@dataclass
class LogContactAttempt:
    actor: Actor
    method: str  # phone, email, sms, in_person, other
    outcome: str  # reached, no_answer, left_message, wrong_number, other
    note: str = ""


@dataclass
class AttachDocument:
    actor: Actor
    document_id: str
    filename: str
    content_type: str
    size: int


@dataclass
class Reassign:
    actor: Actor
    new_owner_id: str
    reason: str


@dataclass
class AddWatcher:
    actor: Actor
    watcher: Watcher


@dataclass
class RemoveWatcher:
    actor: Actor
    user_id: str


@dataclass
class SendReply:
    """A message to the customer, from a scripted reply the owner may have edited.

    `text` is final: placeholders such as [[CUSTOMER NAME]] were filled in (and reviewed) before
    it was sent; one left unfilled is refused.
    """

    actor: Actor
    template_key: str
    subject: str
    text: str


@dataclass
class CloseCase:
    actor: Actor
    closing_status: ClosingStatus
    root_causes: list[str]
    final_note: str
    resolution_methods: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- signals and queries


@dataclass
class RemeasureAnswer:
    """Arrives from the public survey page or another survey platform; nobody waits on it."""

    satisfaction: int  # 1..5
    resolved: bool
    comment: str = ""
    source: str = "survey"


@dataclass
class CaseState:
    """Result of the live-state query: the view plus the full timeline."""

    view: CaseView
    timeline: list[TimelineEvent]


@dataclass
class CaseResult:
    case_id: str
    closing_status: ClosingStatus | None
    remeasure_status: RemeasureStatus
    events: int


# ---------------------------------------------------------------- activity inputs / outputs


@dataclass
class DeadlineRequest:
    start: datetime
    policy: CasePolicy
    priority: Priority
    # Which deadlines to compute: "open" and/or "resolve" (resolve may use the reassign duration).
    open: bool = True
    resolve: bool = True
    after_reassignment: bool = False


@dataclass
class Deadlines:
    open_due_at: datetime | None
    open_warn_at: datetime | None
    resolve_due_at: datetime | None
    resolve_warn_at: datetime | None


@dataclass
class ProjectRequest:
    view: CaseView
    events: list[TimelineEvent]
    # The case's business calendar: the projection measures business time with it.
    calendar: CalendarSpec | None = None
    # The case is flagged for a failed projection: this one, when it succeeds, clears the flag.
    clear_failure: bool = False


@dataclass
class DesigneeRequest:
    owner_id: str
    program_designee_id: str | None


@dataclass
class Notification:
    """A message to put in the outbox; `event_key` makes it unique per case.

    The activity renders it from the read model, which the workflow projects first, and answers
    with the row's id when the row still has to go out over SMTP (else None: no SMTP configured,
    already sent, or nobody to send it to); the workflow then starts the `deliver` activity.
    """

    case_id: str
    event_key: str
    kind: str  # alert, warning, overdue, escalation, reassignment, closing, remeasure, ...
    to_user_ids: list[str]
    cc_user_ids: list[str] = field(default_factory=list)
    to_customer: bool = False
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class RemeasureRequest:
    case_id: str
    sent_at: datetime
    policy: RemeasurePolicy
    calendar: CalendarSpec
    reminder: bool = False
    # Which survey of the case (a reopened case is asked again): links of an earlier round die.
    round: int = 0


@dataclass
class RemeasureSchedule:
    reminder_at: datetime
    expire_at: datetime
    # The survey's outbox row when it must be delivered over SMTP (see `Notification`).
    outbox_id: int | None = None


@dataclass
class DeliveryRequest:
    """Send one outbox row over SMTP; the row's status makes a repeat a no-op."""

    outbox_id: int
    case_id: str
    kind: str


@dataclass
class StepFailure:
    """A step that failed for good, for the flag and the admins' notice: ids and the error's
    type only (never the text that poisoned the step)."""

    case_id: str
    step: str  # projection | notification
    version: int
    error_type: str


class ActivityName:
    """Activity names: the workflow refers to activities by name only (sandbox stays light)."""

    COMPUTE_DEADLINES = "compute_deadlines"
    PROJECT_CASE = "project_case"
    FIND_DESIGNEE = "find_designee"
    NOTIFY = "notify"
    DELIVER = "deliver"
    SEND_REMEASUREMENT = "send_remeasurement"
    RECORD_FAILURE = "record_failure"
