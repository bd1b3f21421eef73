"""The messages of CaseWorkflow: its input, one dataclass per update, signal, query and result.

They cross the Temporal boundary (serialised by the one data converter in `core.temporal`) and
the workflow sandbox re-imports this module, so it stays import-light: dataclasses over the
domain's types only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from domain.case import Actor, CaseDetails, CaseView, PauseInterval, TimelineEvent, Watcher
from domain.deadlines import Deadlines
from domain.policy import CasePolicy
from domain.vocabulary import CaseStatus, ClosingStatus, Priority, RemeasureStatus

# ---------------------------------------------------------------- the workflow's input


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
    # A closed case reopened after its workflow completed: the new run goes on from here.
    resumed: Resumed | None = None
    # What a run that continued as new hands to the next one (PATCH_SMALL_HISTORY); None for
    # the case's first run.
    carried: CarriedState | None = None
    # The customer opened the case (web form, email): they get a confirmation with its
    # reference (PATCH_INBOUND).
    acknowledge: bool = False


@dataclass
class Resumed:
    """The case as the completed run left it, and who reopens it why (services/case_reopen.py)."""

    view: CaseView
    timeline: list[TimelineEvent]
    actor: Actor
    reason: str
    action_id: str = ""


@dataclass
class CarriedState:
    """The state a case's next run needs: the case, its deadline timers, what is not projected.

    Projected timeline events stay behind: the read model has them, no decision needs them.
    """

    view: CaseView
    open_warn_at: datetime | None
    resolve_warn_at: datetime | None
    deadline_gen: int
    fired: list[str]
    # Timeline events recorded by every run so far.
    events: int
    # Events whose projection failed for good (the case was flagged): the read model lacks them,
    # the state query shows them.
    unprojected: list[TimelineEvent]
    projection_failed: bool
    projected: bool
    # When the resolve clock started and whether after a reassignment (PATCH_RECLASSIFY).
    resolve_clock_start: datetime | None = None
    resolve_clock_reassigned: bool = False
    # The ledger of finished pauses (PATCH_PAUSE); the running one is in the view.
    pauses: list[PauseInterval] = field(default_factory=list)
    # The program changes the case has followed (PATCH_FOLLOW_POLICY): a signal sent again is
    # ignored. (The policy itself goes on in the next run's input.)
    followed: list[str] = field(default_factory=list)


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
        subcategory=d.subcategory,
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
    # The users the note @mentions who may see the case's program (services/mentions.py
    # resolved and checked them): each is notified and reads the case from then on.
    mentioned: list[str] = field(default_factory=list)


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
class Reclassify:
    """Change the category (with its sub-category) and/or the priority; None keeps it.

    The category is checked against the program's taxonomy before it is sent
    (services/case_changes.py); a new priority re-evaluates the deadlines.
    """

    actor: Actor
    reason: str
    category: str | None = None
    subcategory: str | None = None
    priority: Priority | None = None


@dataclass
class ReopenCase:
    """Reopen a closed case (its owner, a manager of its unit or an admin), with the reason."""

    actor: Actor
    reason: str
    # The caller checked that the actor manages the case's unit (domain.permissions.may_reopen).
    manages_unit: bool = False
    # The caller's idempotency key, kept on the timeline: the same reopen sent again is found.
    action_id: str = ""


@dataclass
class MergeInto:
    """Close this case as a duplicate merged into `primary_id` (services/case_links.py)."""

    actor: Actor
    primary_id: str
    # The caller's idempotency key, kept on the timeline.
    action_id: str = ""


@dataclass
class MergedFrom:
    """Tell the primary that `duplicate_id` was merged into it, or (`undone`) taken out again."""

    actor: Actor
    duplicate_id: str
    undone: bool = False
    action_id: str = ""


@dataclass
class CloseCase:
    actor: Actor
    closing_status: ClosingStatus
    root_causes: list[str]
    final_note: str
    resolution_methods: list[str] = field(default_factory=list)


@dataclass
class PauseCase:
    """Waiting on the customer: the program's pausing deadlines stop until the case resumes."""

    actor: Actor
    note: str


@dataclass
class ResumeCase:
    """The owner takes the case back from waiting on the customer; its deadlines move on by
    the paused business time."""

    actor: Actor
    note: str = ""


@dataclass
class AddTask:
    """A task on the case for `assignee_id` (who may see the case; services/tasks.py checks),
    due after `due_in` of business time or at the close of business on `due_on`, or never."""

    actor: Actor
    title: str
    assignee_id: str
    due_in: str = ""
    due_on: date | None = None


@dataclass
class CompleteTask:
    """Tick a task done (its assignee, or anyone who may act on the case)."""

    actor: Actor
    task_id: str


@dataclass
class ReopenTask:
    """Untick a done task: open again, with its due time (no second reminder)."""

    actor: Actor
    task_id: str


@dataclass
class ActionAck:
    """What an owner action answers: which version of the case it made. The case itself is
    read from the read model (projected before the action answers), not carried in history.

    Its fields are a subset of CaseView's: a case's older run answering the whole view is read
    as an ActionAck too."""

    case_id: str
    version: int
    status: CaseStatus


# ---------------------------------------------------------------- signals and queries


@dataclass
class RemeasureAnswer:
    """Arrives from the public survey page or another survey platform; nobody waits on it."""

    satisfaction: int  # 1..5
    resolved: bool
    comment: str = ""
    source: str = "survey"


@dataclass
class CustomerReplied:
    """The customer answered (an inbound mail, a reply on another platform): a case waiting on
    them resumes. Nobody waits on it; a case that is not waiting ignores it.

    An inbound mail (PATCH_INBOUND, services/inbound.py) names its `inbound_message` row in
    `reference` and carries the customer's words in `text` (this payload is encrypted by the
    codec; the text never goes into search attributes, memo or logs): the case records them on
    its timeline and tells the owner. An `automatic` message (out-of-office, bounce) is
    recorded as such and resumes nothing.
    """

    source: str = "email"
    reference: str = ""
    text: str = ""
    automatic: bool = False
    documents: list[ReplyDocument] = field(default_factory=list)
    # The attachments of the mail that opened the case (an intake mailbox): documents only,
    # the words are the case's verbatim already.
    opening: bool = False


@dataclass
class ReplyDocument:
    """An attachment of a customer's mail, stored as a case document before the signal."""

    document_id: str
    filename: str
    content_type: str
    size: int


@dataclass
class PolicyChanged:
    """The program's calendar, holidays or SLA changed and the admin chose "also open cases":
    the case's open deadlines move, keeping the business time used (PATCH_FOLLOW_POLICY).

    `ref` names the change (its audit entry) and makes a repeated signal harmless; `reason`
    says why on the timeline. Neither holds personal data."""

    policy: CasePolicy
    ref: str
    reason: str


@dataclass
class CaseState:
    """Result of the live-state query: the view plus the full timeline."""

    view: CaseView
    # This run's events; those already projected without their summary and data
    # (PATCH_SMALL_HISTORY): the read model has the text.
    timeline: list[TimelineEvent]


@dataclass
class CaseResult:
    case_id: str
    closing_status: ClosingStatus | None
    remeasure_status: RemeasureStatus
    events: int


# ---------------------------------------------------------------- the retention run


@dataclass
class RetentionRunResult:
    """What one scheduled retention run (RetentionWorkflow) anonymised."""

    anonymised: int = 0
    batches: int = 0


# ---------------------------------------------------------------- a program's change fanned out


@dataclass
class FanoutInput:
    """PolicyFanoutWorkflow: tell each open case of `program_id` of its program's new policy.

    The policy per unit (a case's calendar defaults to its unit's); `after`, `signalled` and
    `skipped` carry the progress into a run that continued as new."""

    program_id: str
    ref: str
    reason: str
    policies: dict[str, CasePolicy]
    page_size: int = 200
    # Pages per run before it continues as new (a page: one list and its signals).
    pages_per_run: int = 20
    after: str | None = None
    signalled: int = 0
    skipped: int = 0


@dataclass
class FanoutResult:
    signalled: int
    # Cases of a unit without a policy, or whose workflow was gone.
    skipped: int


@dataclass
class WebhookDeliveryInput:
    """One webhook delivery row to send (WebhookDeliveryWorkflow), with the retry settings
    the dispatcher read (the workflow reads no settings of its own)."""

    delivery_id: int
    retry_initial_seconds: float = 30.0
    retry_max_interval_seconds: float = 6 * 3600.0
    retry_for_seconds: float = 3 * 86400.0
    timeout_seconds: float = 10.0
