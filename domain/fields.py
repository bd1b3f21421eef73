"""Field types of every request and configuration model: text both databases can store, and the
vocabulary's values as they arrive in JSON, YAML and forms."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from domain.vocabulary import (
    OWNER_CLOSING_STATUSES,
    Access,
    ArticleStatus,
    Channel,
    ClosingStatus,
    ContactMethod,
    ContactOutcome,
    FeedbackType,
    FieldUse,
    FormField,
    FyiType,
    MessageKind,
    OwnershipModel,
    PauseMetric,
    Priority,
    QuestionType,
    Role,
    RouteTo,
    TeamAssignment,
    values,
)

UNSTORABLE = "cannot be stored"  # in every message below: pages and tests look for it


def unstorable(value: str) -> str | None:
    """Why PostgreSQL or SQLite cannot store `value` as text; None when they can.

    PostgreSQL refuses NUL (U+0000) in text; neither database can encode a lone surrogate
    (U+D800-U+DFFF, not valid Unicode) as UTF-8. A JSON string escape can carry both.
    """
    if "\x00" in value:
        return f"contains a NUL character (U+0000), which {UNSTORABLE}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"contains a lone surrogate (not valid Unicode), which {UNSTORABLE}"
    return None


def storable(value: str) -> str:
    """Pydantic validator: the value, or an error naming why it cannot be stored."""
    problem = unstorable(value)
    if problem is not None:
        raise PydanticCustomError("unstorable_text", "Text " + problem)
    return value


# Every text field of every request model: refused at the edge, so no database (and no
# activity retrying against one) ever sees it.
StorableStr = Annotated[str, AfterValidator(storable)]


# ---------------------------------------------------------------- vocabulary values


def _value_of(enum: type[StrEnum]) -> tuple[Any, ...]:
    """An enum field that takes the value's string even in a strict model, with its values
    spelled out in the JSON schema (as a Literal would be: API clients and fuzzers read the
    allowed values in place, not through a $ref)."""
    return Strict(False), WithJsonSchema({"type": "string", "enum": list(values(enum))})


AccessValue = Annotated[Access, *_value_of(Access)]
FormFieldValue = Annotated[FormField, *_value_of(FormField)]
FieldUseValue = Annotated[FieldUse, *_value_of(FieldUse)]
ChannelValue = Annotated[Channel, *_value_of(Channel)]


def _owner_closing(status: ClosingStatus) -> ClosingStatus:
    if status not in OWNER_CLOSING_STATUSES:
        raise PydanticCustomError(
            "closing_status", "An owner closes a case as resolved or unresolved"
        )
    return status


# What an owner closes a case as: "erased_on_request" is the erasure's own (services/gdpr.py).
ClosingStatusValue = Annotated[
    ClosingStatus,
    Strict(False),
    AfterValidator(_owner_closing),
    WithJsonSchema({"type": "string", "enum": list(OWNER_CLOSING_STATUSES)}),
]
ContactMethodValue = Annotated[ContactMethod, *_value_of(ContactMethod)]
ContactOutcomeValue = Annotated[ContactOutcome, *_value_of(ContactOutcome)]
FeedbackTypeValue = Annotated[FeedbackType, *_value_of(FeedbackType)]
FyiTypeValue = Annotated[FyiType, *_value_of(FyiType)]
MessageKindValue = Annotated[MessageKind, *_value_of(MessageKind)]
ArticleStatusValue = Annotated[ArticleStatus, *_value_of(ArticleStatus)]
OwnershipModelValue = Annotated[OwnershipModel, *_value_of(OwnershipModel)]
PriorityValue = Annotated[Priority, *_value_of(Priority)]
PauseMetricValue = Annotated[PauseMetric, *_value_of(PauseMetric)]
QuestionTypeValue = Annotated[QuestionType, *_value_of(QuestionType)]
RoleValue = Annotated[Role, *_value_of(Role)]
RouteToValue = Annotated[RouteTo, *_value_of(RouteTo)]
TeamAssignmentValue = Annotated[TeamAssignment, *_value_of(TeamAssignment)]
