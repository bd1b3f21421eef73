"""API schemas (Base / Create / Public families) for cases and their actions."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator
from pydantic.networks import validate_email

from domain.fields import (
    AccessValue,
    ChannelValue,
    ClosingStatusValue,
    ContactMethodValue,
    ContactOutcomeValue,
    FeedbackTypeValue,
    PriorityValue,
    StorableStr,
)
from domain.vocabulary import Access, AlertOutcome, Channel, FeedbackType, Priority


class _In(BaseModel):
    # Strict: a JSON 0 is not a boolean and "5" is not a number (the OpenAPI types mean it).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


@lru_cache(maxsize=4096)
def _valid_email(value: str) -> str:
    # Only valid addresses are remembered (an error is raised, not cached).
    return validate_email(value)[1]


class CachedEmailStr(EmailStr):
    """`EmailStr` (same checks, schema and errors) with the verdict on a valid address cached:
    the full syntax and IDNA check costs about as much as the rest of the request's validation,
    and the same contact addresses come back."""

    @classmethod
    def _validate(cls, input_value: str, /) -> str:
        return _valid_email(input_value)


class CustomerIn(_In):
    name: StorableStr = Field(default="", max_length=200)
    email: CachedEmailStr | None = None
    phone: StorableStr | None = Field(default=None, max_length=40, pattern=r"^[0-9 +().-]{3,40}$")
    external_ref: StorableStr | None = Field(default=None, max_length=200)


class CaseBase(_In):
    program_id: StorableStr = Field(min_length=1, max_length=64)
    unit_id: StorableStr = Field(min_length=1, max_length=64)
    channel: ChannelValue
    category: StorableStr = Field(default="", max_length=200)
    subcategory: StorableStr = Field(
        default="", max_length=200, description="One of the category's, when the program has them"
    )
    priority: PriorityValue = Priority.NORMAL
    feedback_type: FeedbackTypeValue = Field(
        default=FeedbackType.COMPLAINT, description="Used by blended routing rules"
    )
    reason: StorableStr = Field(default="", max_length=5000)
    verbatim: StorableStr = Field(default="", max_length=20000)


class CaseCreate(CaseBase):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "program_id": "guest-recovery",
                    "unit_id": "4723",
                    "channel": "contact_center",
                    "customer": {
                        "name": "Kari Nordmann",
                        "email": "kari@example.com",
                        "phone": "+47 555 01 234",
                    },
                    "transaction": {"date": "2026-11-20", "type": "stay", "room": "412"},
                    "category": "Housekeeping",
                    "priority": "normal",
                    "reason": "Room not cleaned on arrival",
                    "verbatim": "The room smelled of smoke and nobody came.",
                    "external_ref": "CC-2026-0042",
                }
            ]
        }
    )

    customer: CustomerIn = Field(default_factory=CustomerIn)
    transaction: dict[StorableStr, StorableStr] = Field(default_factory=dict, max_length=50)
    external_ref: StorableStr | None = Field(default=None, min_length=1, max_length=200)


QuestionId = Annotated[StorableStr, StringConstraints(min_length=1, max_length=64)]
AnswerValue = bool | int | Annotated[StorableStr, StringConstraints(max_length=5000)]


class SurveyResponseIn(_In):
    """A survey return; the program's alert rules decide whether it needs a case."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "program_id": "guest-recovery",
                    "unit_id": "4723",
                    "response_id": "SV-88412",
                    "channel": "location_survey",
                    "customer": {"name": "Ingrid Berg", "email": "ingrid@example.com"},
                    "transaction": {"date": "2026-11-20", "type": "stay"},
                    "answers": {
                        "concern": "yes",
                        "concern_details": "The shower was broken for two days",
                        "recommend": 4,
                    },
                    "comments": "",
                }
            ]
        }
    )

    program_id: StorableStr = Field(min_length=1, max_length=64)
    unit_id: StorableStr = Field(min_length=1, max_length=64)
    response_id: StorableStr = Field(
        min_length=1, max_length=200, description="The survey platform's id: replays are no-ops"
    )
    channel: ChannelValue = Channel.LOCATION_SURVEY
    customer: CustomerIn = Field(default_factory=CustomerIn)
    transaction: dict[StorableStr, StorableStr] = Field(default_factory=dict, max_length=50)
    answers: dict[QuestionId, AnswerValue] = Field(
        default_factory=dict,
        max_length=100,
        description="Keyed by the program's question ids: yes/no, scores, or text",
    )
    comments: StorableStr = Field(default="", max_length=20000)


class MatchedRulePublic(BaseModel):
    id: str
    kind: str
    detail: str


class SurveyOutcomePublic(BaseModel):
    response_id: str
    program_id: str
    outcome: AlertOutcome
    case_id: str | None
    fyi_id: int | None
    matched_rules: list[MatchedRulePublic]
    replayed: bool = Field(description="True when this response id was already processed")
    links: dict[str, str]


class WatcherPublic(BaseModel):
    user_id: str
    access: Access


class ContactPublic(BaseModel):
    """Whom the case is for, as given at intake: what it shows and where its mail goes."""

    name: str
    email: str | None
    phone: str | None


class CasePublic(BaseModel):
    id: str
    version: int
    program_id: str
    unit_id: str
    channel: str
    customer_id: int | None = Field(
        description="The customer record (earlier cases); may change by an admin's merge"
    )
    customer_name: str = Field(description="The contact's name (the same as `contact.name`)")
    contact: ContactPublic
    owner_id: str
    watchers: list[WatcherPublic]
    status: str
    closing_status: str | None
    priority: str
    category: str
    subcategory: str = ""
    reason: str
    verbatim: str
    external_ref: str | None
    transaction: dict[str, str]
    created_at: datetime
    open_due_at: datetime | None
    resolve_due_at: datetime | None
    escalation_level: int
    went_overdue: bool
    first_action_at: datetime | None
    closed_at: datetime | None
    root_causes: list[str]
    resolution_methods: list[str]
    final_note: str
    reopened_count: int
    remeasure_status: str
    remeasure_score: int | None
    remeasure_resolved: bool | None
    recovery_failed: bool
    paused_since: datetime | None = Field(
        default=None, description="Waiting on the customer since (the paused deadlines stop)"
    )
    pause_resumes_at: datetime | None = Field(
        default=None, description="When the pause ends by itself (the program's longest pause)"
    )
    paused_seconds: int = Field(
        default=0, description="Business seconds of the finished pauses (deadlines moved by them)"
    )
    links: dict[str, str]


class TimelineEventPublic(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, object]
    via: str | None = Field(
        default=None, description="The API client that acted on the actor's behalf, if one did"
    )

    @model_validator(mode="after")
    def _via(self) -> TimelineEventPublic:
        if self.via is None and isinstance(self.data.get("via"), str):
            self.via = str(self.data["via"])
        return self


class CaseSummaryPublic(BaseModel):
    """A case in a customer's history."""

    id: str
    program_id: str
    unit_id: str
    channel: str
    status: str
    closing_status: str | None
    reason: str
    created_at: datetime
    closed_at: datetime | None
    links: dict[str, str]


class CaseDetailPublic(CasePublic):
    timeline: list[TimelineEventPublic]
    earlier_cases: list[CaseSummaryPublic] = Field(
        default_factory=list, description="The same customer's cases opened before this one"
    )


class CustomerPublic(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    external_ref: str | None
    created_at: datetime
    merged_into: int | None = Field(
        description="Set when an admin merged this record into another: its cases are there"
    )
    cases: list[CaseSummaryPublic]


class CustomerMergeIn(_In):
    merged_id: int = Field(
        ge=1, le=2**63 - 1, description="The record to merge into this one; its cases move here"
    )
    note: StorableStr = Field(default="", max_length=500, description="Why (kept with the merge)")


class CustomerMergePublic(BaseModel):
    id: int
    customer_id: int = Field(description="The record that lives on")
    merged_id: int
    case_ids: list[str] = Field(description="The cases that moved to `customer_id`")
    filled: list[str] = Field(description="Fields of the survivor that were empty, now filled")
    merged_by: str
    note: str
    merged_at: datetime
    replayed: bool = Field(description="True when this merge was done before: its record")


class CustomerErasurePublic(BaseModel):
    """The record of an erasure: ids and counts, no personal data."""

    id: int
    customer_id: int
    case_ids: list[str] = Field(description="The customer's cases, now anonymised")
    counts: dict[str, int] = Field(description="Rows anonymised per kind; documents deleted")
    workflows_deleted: int = Field(description="Workflow executions deleted from Temporal")
    erased_by: str
    erased_at: datetime
    replayed: bool = Field(description="True when this customer was erased before: its record")


class CaseListPublic(BaseModel):
    items: list[CasePublic]
    next_cursor: str | None


# ---------------------------------------------------------------- actions


class ActionPendingPublic(BaseModel):
    """An owner action Temporal holds but the case's workflow has not finished within the wait
    (202): `admitted` (not confirmed by the workflow yet, e.g. no worker runs; durable once it
    is) or `accepted` (in the case's history; finishes e.g. once the database is back)."""

    case_id: str
    action_id: str
    stage: Literal["admitted", "accepted"]
    detail: str


class ActionIn(_In):
    acting_user: StorableStr | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="On whose behalf: a personal token's own user (may be left out), or the "
        "user a service client with the `delegate` scope acts for",
    )


class NoteIn(ActionIn):
    text: StorableStr = Field(min_length=1, max_length=20000)


class PauseIn(ActionIn):
    note: StorableStr = Field(min_length=1, max_length=2000, description="What the case waits for")


class ResumeIn(ActionIn):
    note: StorableStr = Field(default="", max_length=2000)


class ContactAttemptIn(ActionIn):
    method: ContactMethodValue
    outcome: ContactOutcomeValue
    note: StorableStr = Field(default="", max_length=5000)


class DocumentIn(ActionIn):
    filename: StorableStr = Field(min_length=1, max_length=255)
    content_type: StorableStr = Field(min_length=1, max_length=100)
    size: int = Field(ge=0, le=100 * 1024 * 1024)


class ReassignIn(ActionIn):
    new_owner_id: StorableStr = Field(min_length=1, max_length=64)
    reason: StorableStr = Field(min_length=1, max_length=2000)


class ReclassifyIn(ActionIn):
    """A new category (with its sub-category) and/or priority; what is left out stays."""

    reason: StorableStr = Field(min_length=1, max_length=2000)
    category: StorableStr | None = Field(default=None, min_length=1, max_length=200)
    subcategory: StorableStr | None = Field(default=None, max_length=200)
    priority: PriorityValue | None = None


class ReopenIn(ActionIn):
    reason: StorableStr = Field(min_length=1, max_length=2000)


class WatcherIn(ActionIn):
    user_id: StorableStr = Field(min_length=1, max_length=64)
    access: AccessValue = Access.FULL


class CloseIn(ActionIn):
    closing_status: ClosingStatusValue
    root_causes: list[StorableStr] = Field(min_length=1, max_length=20)
    resolution_methods: list[StorableStr] = Field(default_factory=list, max_length=20)
    final_note: StorableStr = Field(min_length=1, max_length=20000)


class RemeasurementIn(_In):
    satisfaction: int = Field(ge=1, le=5)
    resolved: bool
    comment: StorableStr = Field(default="", max_length=5000)


# ---------------------------------------------------------------- tasks (issue 18)


class TaskIn(ActionIn):
    title: StorableStr = Field(min_length=1, max_length=200, description="What is to be done")
    assignee_id: StorableStr = Field(
        min_length=1, max_length=64, description="Who does it: someone who may see the case"
    )
    due_in: StorableStr | None = Field(
        default=None,
        max_length=40,
        description="Due after this much time on the case's calendar: 'N business hours|days' "
        "or an ISO-8601 duration ('PT4H')",
    )
    due_on: date | None = Field(
        default=None, description="Or due at the close of business on this (local) date"
    )


class CaseLinkIn(ActionIn):
    """Relate another case to this one (both must be the acting user's to change)."""

    other_id: StorableStr = Field(min_length=1, max_length=20, description="The other case")


class MergeIn(ActionIn):
    """Merge this case (a duplicate) into its primary: both open and the acting user's."""

    primary_id: StorableStr = Field(min_length=1, max_length=20, description="The primary case")


class UnmergeIn(ActionIn):
    """Take this duplicate out of its primary again (until the primary closes)."""


class CaseLinksPublic(BaseModel):
    case_id: str
    related: list[str] = Field(description="Related cases the caller may see")
    merged: list[str] = Field(description="Duplicates merged into this case")
    merged_into: str | None = Field(description="The primary this case was merged into")
    reversible: bool = Field(description="The merge into `merged_into` can still be undone")
    pending: bool = Field(
        description="The merge into `merged_into`, or its undoing, is still being carried out "
        "(finished by the worker; asking again finishes it too)"
    )


class TaskActionIn(ActionIn):
    """Tick or untick a task (its assignee, or anyone who may act on the case)."""


class TaskPublic(BaseModel):
    task_id: str
    title: str
    assignee_id: str
    created_by: str
    created_at: datetime
    due_at: datetime | None
    remind_at: datetime | None = Field(description="When the assignee is reminded")
    done_at: datetime | None
    done_by: str
    is_open: bool
    overdue: bool = Field(description="Past its due time while open (the assignee was told)")


class TaskListPublic(BaseModel):
    case_id: str
    items: list[TaskPublic]
