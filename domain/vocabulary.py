"""The words Caseloop speaks, defined once: every status, role, channel and kind is a StrEnum here.

Models, workflows, services, templates and SQL take their values from these classes (templates
get them as globals), so a new status is added in one place and a typo fails at import time.
A StrEnum member *is* its string: it goes into JSON, SQL and Temporal payloads unchanged.
"""

from __future__ import annotations

from enum import StrEnum


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The enum's values in definition order (for Literal-free lists, SQL and forms)."""
    return tuple(member.value for member in enum)


# ---------------------------------------------------------------- the case


class CaseStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    OVERDUE = "overdue"
    CLOSED = "closed"


# A case is open until it is closed; inbox tabs and reports count these as "open".
OPEN_STATUSES: tuple[CaseStatus, ...] = (
    CaseStatus.NEW,
    CaseStatus.IN_PROGRESS,
    CaseStatus.OVERDUE,
)


class ClosingStatus(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    # Closed by a GDPR erasure (services/gdpr.py), never chosen by an owner.
    ERASED = "erased_on_request"
    # A duplicate merged into its primary case (services/case_links.py): reports skip it.
    MERGED = "merged"


# What an owner may close a case as (the page's and the API's choices).
OWNER_CLOSING_STATUSES: tuple[ClosingStatus, ...] = (
    ClosingStatus.RESOLVED,
    ClosingStatus.UNRESOLVED,
)


class Priority(StrEnum):
    """In rising order of urgency (sorting and reports use this order)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class RemeasureStatus(StrEnum):
    NOT_APPLICABLE = "not_applicable"
    PENDING = "pending"
    ANSWERED = "answered"
    EXPIRED = "expired"


class Channel(StrEnum):
    """Where a case or a survey return came from."""

    CONTACT_CENTER = "contact_center"
    LOCATION_SURVEY = "location_survey"
    DIGITAL_CONTACT_CARD = "digital_contact_card"
    SOCIAL_MEDIA = "social_media"
    EMAIL = "email"
    WEB_FORM = "web_form"
    CHAT = "chat"
    PHONE = "phone"


class FeedbackType(StrEnum):
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    QUESTION = "question"
    COMPLIMENT = "compliment"


class ContactMethod(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    IN_PERSON = "in_person"
    OTHER = "other"


class ContactOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"
    WRONG_NUMBER = "wrong_number"
    OTHER = "other"


class EventKind(StrEnum):
    """What a timeline event records."""

    OPENED = "opened"
    NOTE = "note"
    CONTACT_ATTEMPT = "contact_attempt"
    DOCUMENT = "document"
    REPLY = "reply"
    REASSIGNED = "reassigned"
    RECLASSIFIED = "reclassified"
    WATCHER_ADDED = "watcher_added"
    WATCHER_REMOVED = "watcher_removed"
    WARNING = "warning"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    CLOSED = "closed"
    REMEASURE_SENT = "remeasure_sent"
    REMEASURE_REMINDER = "remeasure_reminder"
    REMEASURE_EXPIRED = "remeasure_expired"
    REMEASURED = "remeasured"
    REOPENED = "reopened"
    # Waiting on the customer (issue 16): the clock of the program's pausing metrics stops.
    PAUSED = "paused"
    RESUMED = "resumed"
    # Inbound mail (issue 17): the customer's words, and an automatic answer kept apart.
    CUSTOMER_REPLY = "customer_reply"
    AUTO_REPLY = "auto_reply"
    # The program's calendar or SLA changed for open cases too (issue 16): why and old → new.
    DEADLINE_MOVED = "deadline_moved"
    # Merged cases (issue 18): the duplicate closes as merged into its primary, the primary's
    # timeline tells of the merge and of its undoing.
    MERGED = "merged"
    MERGED_FROM = "merged_from"
    UNMERGED = "unmerged"
    # Tasks on a case and @mentions in notes (issue 18).
    TASK_ADDED = "task_added"
    TASK_DONE = "task_done"
    TASK_REOPENED = "task_reopened"
    TASK_REMINDED = "task_reminded"
    TASK_OVERDUE = "task_overdue"
    MENTIONED = "mentioned"


class WebhookEvent(StrEnum):
    """What a webhook subscription may ask for: timeline kinds, plus two the timeline lacks."""

    OPENED = EventKind.OPENED.value
    # The case row's status moved (new, in progress, overdue, closed): the projection sees it.
    STATUS_CHANGED = "status_changed"
    ESCALATED = EventKind.ESCALATED.value
    PAUSED = EventKind.PAUSED.value
    RESUMED = EventKind.RESUMED.value
    CLOSED = EventKind.CLOSED.value
    REMEASURED = EventKind.REMEASURED.value
    # The case's personal data was anonymised (GDPR erasure or retention).
    ERASED = "erased"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    # The target is a private, loopback or link-local address (or redirected): never sent.
    REFUSED = "refused"


class PauseMetric(StrEnum):
    """The deadlines a program stops while a case waits on the customer."""

    OPEN = "open"
    RESOLVE = "resolve"


# ---------------------------------------------------------------- people and access


class Role(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class Access(StrEnum):
    """A watcher's access to a case: full watchers work it, limited watchers only read."""

    FULL = "full"
    LIMITED = "limited"


class Relation(StrEnum):
    """How a signed-in person is related to a case (decides what they may see and do)."""

    ADMIN = "admin"
    OWNER = "owner"
    FULL_WATCHER = "full_watcher"
    LIMITED_WATCHER = "limited_watcher"
    UNIT_MANAGER = "unit_manager"


class UnitRole(StrEnum):
    """A unit's people, as routing reads them."""

    FRONTLINE_OWNER = "frontline_owner"
    MANAGER = "manager"
    FIELD_MANAGER = "field_manager"


class Scope(StrEnum):
    """What an API token may do (admin implies every other scope)."""

    CASES_WRITE = "cases:write"
    CASES_READ = "cases:read"
    REPORTS_READ = "reports:read"
    METRICS_READ = "metrics:read"
    # The client's own webhook subscriptions (services/webhooks.py).
    WEBHOOKS_MANAGE = "webhooks:manage"
    CODEC = "codec"
    # A service client acts on behalf of a user (`acting_user`) within its programs/units.
    DELEGATE = "delegate"
    # The knowledge base (issue 18): read published articles; write and publish them.
    KB_READ = "kb:read"
    KB_WRITE = "kb:write"
    ADMIN = "admin"


# ---------------------------------------------------------------- programs and intake


class OwnershipModel(StrEnum):
    FIELD = "field"
    CORPORATE = "corporate"
    BLENDED = "blended"


class RouteTo(StrEnum):
    FIELD = "field"
    CORPORATE = "corporate"
    USER = "user"


class TeamAssignment(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


class QuestionType(StrEnum):
    YES_NO = "yes_no"
    SCORE = "score"
    TEXT = "text"


class AlertRuleKind(StrEnum):
    CONCERN = "concern"
    LOW_SCORE = "low_score"
    FYI = "fyi"


class FyiType(StrEnum):
    COMPLIMENT = "compliment"
    SUGGESTION = "suggestion"


class CustomerMatch(StrEnum):
    """How intake found the customer record of a contact (domain/customers.py)."""

    EXTERNAL_REF = "external_ref"
    EMAIL = "email"
    PHONE = "phone"
    NEW = "new"


class ErasureReason(StrEnum):
    """Why a customer's personal data was anonymised (the `customer_erasure` record)."""

    REQUEST = "request"  # the customer asked (GDPR art. 17): an admin erased them
    RETENTION = "retention"  # the program's retention after close ran out


class AlertOutcome(StrEnum):
    """What intake made of a survey return."""

    CASE = "case"
    FYI = "fyi"
    NONE = "none"


# ---------------------------------------------------------------- messages


class MessageKind(StrEnum):
    """Kinds of outgoing message; each has a default template (subject, text, html)."""

    ALERT = "alert"
    WARNING = "warning"
    OVERDUE = "overdue"
    ESCALATION = "escalation"
    REASSIGNMENT = "reassignment"
    CLOSING = "closing"
    REOPENED = "reopened"
    RECOVERY_FAILED = "recovery_failed"
    REMEASURE = "remeasure"
    REMEASURE_REMINDER = "remeasure_reminder"
    REPLY = "reply"
    # A paused case resumed by itself after the program's longest pause: the owner is reminded.
    PAUSE_EXPIRED = "pause_expired"
    # The customer answered by email: the owner is told.
    CUSTOMER_REPLY = "customer_reply"
    # A case opened by the customer (web form, email): the confirmation with its reference.
    ACKNOWLEDGEMENT = "acknowledgement"
    # Tasks and mentions (issue 18): to the task's assignee, to the person mentioned.
    TASK_REMINDER = "task_reminder"
    TASK_OVERDUE = "task_overdue"
    MENTION = "mention"


class InboundKind(StrEnum):
    """What an inbound message is (domain/inbound.py): only a person's answer is threaded."""

    CUSTOMER = "customer"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


class InboundOutcome(StrEnum):
    """What became of an inbound message (models/inbound.py `outcome`)."""

    RECEIVED = "received"  # written, not handled yet
    THREADED = "threaded"  # on its case's timeline (or queued there while it is open)
    OPENED = "opened"  # opened a new case (an intake mailbox)
    # Its case had closed: kept on the case, shown from SQL, the owner told
    # (services/late_replies.py).
    AFTER_CLOSE = "after_close"
    UNMATCHED = "unmatched"  # kept, in no case


class FormField(StrEnum):
    """The fields a program's public web form may show (domain/program.py `WebFormIn`)."""

    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    ORDER_REF = "order_ref"
    CATEGORY = "category"
    MESSAGE = "message"


class FieldUse(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    HIDDEN = "hidden"


class CaseLinkKind(StrEnum):
    """How two cases are linked: related (both ways), or a duplicate merged into its primary."""

    RELATED = "related"
    MERGED = "merged"


class CaseLinkState(StrEnum):
    """A merge link's progress: written before the workflow updates, `done` after them."""

    MERGING = "merging"
    UNMERGING = "unmerging"
    DONE = "done"


class ArticleStatus(StrEnum):
    """A knowledge-base article: only its writers see a draft; everyone reads it published."""

    DRAFT = "draft"
    PUBLISHED = "published"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


# ---------------------------------------------------------------- the audit log


class AuditObject(StrEnum):
    """What a configuration or permission change changed."""

    PROGRAM = "program"
    UNIT = "unit"
    USER = "user"
    API_CLIENT = "api_client"
    KB_ARTICLE = "kb_article"
    WEBHOOK = "webhook"


class AuditVia(StrEnum):
    """Through what a change came: a page, the API, the CLI (a config file, a token command)."""

    PAGE = "page"
    API = "api"
    CLI = "cli"


class AuditActor(StrEnum):
    """Who made a change: a signed-in user, an API client, or an operator at the CLI."""

    USER = "user"
    CLIENT = "client"
    OPERATOR = "operator"


class ApplyTo(StrEnum):
    """Whom a program's new calendar, holidays or SLA apply to (issue 16): cases opened from
    now on only, or the open cases too (their deadlines move)."""

    NEW = "new"
    OPEN = "open"


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RESTORE = "restore"
    REVOKE = "revoke"
    ROTATE = "rotate"
    INVITE = "invite"
    RESET_SENT = "reset_sent"
    PASSWORD_SET = "password_set"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    # A webhook delivery sent again by hand (services/webhooks.py).
    REDELIVER = "redeliver"


class LinkPurpose(StrEnum):
    """What a one-time link mailed to a person does (services/invites.py)."""

    INVITE = "invite"
    RESET = "reset"
