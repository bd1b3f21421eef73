"""The case read model: written only by the workflow's projection activity (and intake)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class Customer(SQLModel, table=True):
    """A customer's long-lived profile: the cases of one person (domain/customers.py says who).

    A case mails its own contact (Case.customer_name, contact_email, contact_phone), not this.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=40, index=True)
    external_ref: str | None = Field(default=None, max_length=200, index=True)
    # The channel the reference came from (NULL: recorded before sources were).
    external_source: str | None = Field(default=None, max_length=40)
    # Set by an admin's merge: this record's cases moved there; matching it leads there.
    merged_into: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerMerge(SQLModel, table=True):
    """An admin's merge of one customer record into another: who, when, which cases moved.

    Ids and field names only; the unique `merged_id` makes a repeated merge find this row.
    """

    __tablename__ = "customer_merge"
    __table_args__ = (UniqueConstraint("merged_id", name="uq_customer_merge_merged_id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(index=True)  # the record that lives on
    merged_id: int
    case_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    # The surviving record's fields that were empty and came from the merged one.
    filled: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    merged_by: str = Field(max_length=100)  # a user id or an API client's name
    note: str = Field(default="", max_length=500)
    merged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerErasure(SQLModel, table=True):
    """A GDPR erasure or a retention run, recorded without personal data: when, by whom, which
    record and cases, how many rows were anonymised.

    `key` is unique: "request:<customer id>" makes a repeated erasure find this row;
    "retention:<program>:<case id>" one row per case a retention run anonymised.
    """

    __tablename__ = "customer_erasure"
    __table_args__ = (UniqueConstraint("key", name="uq_customer_erasure_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=120)
    reason: str = Field(max_length=20)  # domain.vocabulary.ErasureReason
    customer_id: int | None = Field(default=None, index=True)
    case_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    # Rows changed per table, documents and workflow executions deleted.
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSONType))
    erased_by: str = Field(max_length=100)  # a user id, "api:<client>" or "retention"
    erased_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseIntake(SQLModel, table=True):
    """Allocates case numbers; its unique keys make intake idempotent under races.

    It also holds what starting the case's workflow needs (`case_input`), so a retry or the
    reconciler can start a workflow that a crash or an outage left unstarted.
    """

    __tablename__ = "case_intake"
    __table_args__ = (
        UniqueConstraint("channel", "external_ref", name="uq_intake_channel_ref"),
        # Idempotency keys are scoped per API client ("" for keys made by Caseloop itself).
        UniqueConstraint("client_id", "idempotency_key", name="uq_intake_client_key"),
        Index("ix_case_intake_workflow_started_at", "workflow_started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=40)
    external_ref: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    client_id: str = Field(default="", max_length=64)
    # SHA-256 of the request body sent with the idempotency key: a reuse with another body is
    # refused.
    request_hash: str | None = Field(default=None, max_length=64)
    # The workflow's input as JSON (personal data: the read model may hold it).
    case_input: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    # The case's contact email and phone as given (`contact_email`, `contact_phone`): kept out of
    # the workflow input; a retry answers with them and the reconciler restores a lost row's.
    contact: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    # Set once the workflow is known to exist; NULL rows are the reconciler's work.
    workflow_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def case_id(self) -> str:
        return case_id_for(self.id or 0)


def case_id_for(number: int) -> str:
    return f"C-{number:06d}"


def case_number(case_id: str) -> int | None:
    """The intake row's number of a case id ("C-000123" -> 123); None for anything else."""
    digits = case_id.removeprefix("C-")
    return int(digits) if digits != case_id and digits.isdigit() else None


class Case(SQLModel, table=True):
    __table_args__ = (
        # "my open cases by urgency" and the inbox tabs
        Index("ix_case_owner_open_due", "owner_id", "is_open", "next_due_at"),
        Index("ix_case_unit_open_due", "unit_id", "is_open", "next_due_at"),
        Index("ix_case_status_created", "status", "created_at"),
        Index("ix_case_program_created", "program_id", "created_at"),
        # the dashboard: a date range, alone or per unit / owner (migration 0004)
        Index("ix_case_created_at", "created_at"),
        Index("ix_case_unit_created", "unit_id", "created_at"),
        Index("ix_case_owner_created", "owner_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=20)
    version: int = 0
    program_id: str = Field(max_length=64)
    unit_id: str = Field(max_length=64)
    channel: str = Field(max_length=40, index=True)
    # The customer record (moved by an admin's merge: the projection never writes it back).
    customer_id: int | None = Field(default=None, index=True)
    # The case's contact as given at intake: what the case shows and where its mail goes. The
    # name travels with the workflow; email and phone are written once by intake.
    customer_name: str = Field(default="", max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    contact_phone: str | None = Field(default=None, max_length=40)
    owner_id: str = Field(max_length=64)
    status: str = Field(max_length=20)
    is_open: bool = True
    closing_status: str | None = Field(default=None, max_length=20)
    priority: str = Field(default="normal", max_length=20)
    category: str = Field(default="", max_length=200)
    subcategory: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    reason: str = ""
    verbatim: str = ""
    external_ref: str | None = Field(default=None, max_length=200)
    # Written once by intake; the projection never touches it.
    transaction: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    created_at: datetime = Field(sa_type=UTCDateTime)
    open_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolve_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The deadline that matters now (open while new, else resolve); the inbox sorts on it.
    next_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalation_level: int = 0
    went_overdue: bool = False
    open_breached: bool = False
    resolve_breached: bool = False
    first_action_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # On the case's own business calendar (the projection computes them); the dashboard's
    # business-hour figures aggregate these.
    business_minutes_to_first_action: int | None = None
    business_minutes_to_close: int | None = None
    root_causes: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    resolution_methods: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    final_note: str = ""
    reopened_count: int = 0
    remeasure_status: str = Field(default="not_applicable", max_length=20)
    remeasure_score: int | None = None
    remeasure_resolved: bool | None = None
    remeasure_comment: str = ""
    recovery_failed: bool = False
    # Waiting on the customer (issue 16): since when, when it resumes by itself, and the
    # business seconds of the finished pauses.
    paused_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pause_resumes_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_seconds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # SLA accounting (domain/sla.py defines each figure; the projection measures them from the
    # row and the timeline, migration 0022 and `python -m cli sla-backfill` fill older rows).
    sla_first_response_seconds: int | None = None
    sla_first_response_business_seconds: int | None = None
    sla_resolution_seconds: int | None = None
    sla_resolution_business_seconds: int | None = None
    sla_paused_seconds: int | None = None
    sla_paused_business_seconds: int | None = None
    sla_first_response_met: bool | None = None
    sla_resolution_met: bool | None = None
    sla_first_response_breach_owner: str | None = Field(default=None, max_length=64)
    sla_resolution_breach_owner: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseWatcher(SQLModel, table=True):
    __tablename__ = "case_watcher"

    case_id: str = Field(primary_key=True, max_length=20)
    user_id: str = Field(primary_key=True, max_length=64, index=True)
    access: str = Field(default="full", max_length=10)


class CaseTaskRow(SQLModel, table=True):
    """A task on a case (issue 18), as the workflow last projected it: rewritten with the
    case row, like the watchers; the assignee's open tasks are "My tasks" in the inbox."""

    __tablename__ = "case_task"
    __table_args__ = (Index("ix_case_task_assignee_open", "assignee_id", "is_open"),)

    case_id: str = Field(primary_key=True, max_length=20)
    task_id: str = Field(primary_key=True, max_length=20)
    title: str = Field(max_length=200)
    assignee_id: str = Field(max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_by: str = Field(default="", max_length=64)
    is_open: bool = True
    overdue: bool = False


class CaseEvent(SQLModel, table=True):
    """The timeline; (case_id, seq) makes a retried projection a no-op."""

    __tablename__ = "case_event"

    case_id: str = Field(primary_key=True, max_length=20)
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    summary: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))


class Document(SQLModel, table=True):
    """Upload metadata; the bytes live under a server-generated name."""

    id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(max_length=20, index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    uploaded_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Outbox(SQLModel, table=True):
    """Every message is written here before it is sent; (case_id, event_key) forbids doubles."""

    __table_args__ = (UniqueConstraint("case_id", "event_key", name="uq_outbox_case_event"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=20, index=True)
    event_key: str = Field(max_length=120)
    kind: str = Field(max_length=40)
    to_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    cc_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The Message-ID the message goes out with: a customer's answer is threaded by it.
    message_id: str | None = Field(default=None, max_length=255, index=True)


class Notice(SQLModel, table=True):
    """An in-app notification: the staff side of an outbox message, one row per recipient.

    Written by the notify activity in the same transaction as the outbox row, keyed like it, so
    the header's badge and the emails always tell of the same events, exactly once.
    """

    __table_args__ = (
        UniqueConstraint("user_id", "case_id", "event_key", name="uq_notice_user_case_event"),
        # the badge: a user's unseen notices; the list: a user's newest first
        Index("ix_notice_user_seen", "user_id", "seen_at"),
        Index("ix_notice_user_id", "user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=64)
    case_id: str = Field(max_length=20)
    event_key: str = Field(max_length=120)
    kind: str = Field(max_length=40)
    subject: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CaseFailure(SQLModel, table=True):
    """A step of a case's workflow that failed for good (the read model may be behind).

    Written by a minimal activity that holds only ids and the error's type, so it cannot be
    poisoned by what poisoned the step; the admin pages list these rows. A later successful
    projection deletes the case's `projection` row.
    """

    __tablename__ = "case_failure"

    case_id: str = Field(primary_key=True, max_length=20)
    step: str = Field(primary_key=True, max_length=20)  # projection | notification
    version: int = 0  # the case's version the failed step carried
    error_type: str = Field(max_length=100)
    failures: int = 1
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
