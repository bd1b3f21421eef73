"""A program, its units and its people as configuration: validated data (pydantic, strict), the
same for the YAML file, the admin API and the pages. Everything a program decides — calendar,
SLA, escalation, remeasurement, survey questions, alert and routing rules, messaging — is here.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.calendar import BusinessCalendar, validate_duration
from domain.fields import (
    ChannelValue,
    FeedbackTypeValue,
    FieldUseValue,
    FormFieldValue,
    FyiTypeValue,
    OwnershipModelValue,
    PauseMetricValue,
    PriorityValue,
    QuestionTypeValue,
    RoleValue,
    RouteToValue,
    StorableStr,
    TeamAssignmentValue,
)
from domain.mail.schema import NotificationsIn
from domain.passwords import MIN_LENGTH
from domain.policy import CalendarSpec, DayHours
from domain.taxonomy import CategoryIn
from domain.vocabulary import (
    AlertRuleKind,
    FieldUse,
    FormField,
    OwnershipModel,
    PauseMetric,
    Priority,
    QuestionType,
    Role,
    RouteTo,
    TeamAssignment,
    UnitRole,
)


# One list of channels, priorities and feedback types: the API's (models.api).
def _urgent_half() -> dict[Priority, float]:
    return {Priority.URGENT: 0.5}


class _Strict(BaseModel):
    # Strict types too: a 0 is not a boolean, "5" not a number (dates may be ISO strings).
    model_config = ConfigDict(extra="forbid", strict=True)


def _zone(v: str | None) -> str | None:
    if v is not None:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
    return v


def _region(country: str | None, subdivision: str | None) -> None:
    if country is None:
        if subdivision is not None:
            raise ValueError("a holiday subdivision needs a holiday_country")
        return
    try:
        holidays.country_holidays(country, subdiv=subdivision, years=[])
    except Exception as exc:
        raise ValueError(f"unknown holiday region {country!r}/{subdivision!r}") from exc


def _country(v: str | None) -> str | None:
    _region(v, None)
    return v


def _subdivision(v: str | None, info: ValidationInfo) -> str | None:
    if v is not None:
        _region(info.data.get("holiday_country"), v)
    return v


def check_calendar(spec: CalendarSpec) -> None:
    """Reject a calendar the deadline code could not use (zone, hours, holiday region)."""
    try:
        BusinessCalendar(spec)
    except ValueError:
        raise
    except Exception as exc:  # e.g. a holidays-package failure on an odd region code
        raise ValueError(f"unusable calendar: {exc}") from exc


class DayHoursIn(_Strict):
    open: StorableStr | None = "09:00"
    close: StorableStr | None = "17:00"


class CalendarIn(_Strict):
    timezone: StorableStr | None = None  # None: the unit's time zone
    week: list[DayHoursIn] | None = None
    holiday_country: StorableStr | None = None  # None: the unit's country
    holiday_subdivision: StorableStr | None = None
    extra_holidays: list[Annotated[date, Strict(False)]] = Field(default_factory=list)
    always_open: bool = False

    @field_validator("week")
    @classmethod
    def _seven_days(cls, v: list[DayHoursIn] | None) -> list[DayHoursIn] | None:
        if v is not None and len(v) != 7:
            raise ValueError("week needs 7 entries, Monday first")
        return v

    @field_validator("week")
    @classmethod
    def _hours(cls, v: list[DayHoursIn] | None) -> list[DayHoursIn] | None:
        if v is not None:
            check_calendar(CalendarSpec(week=[DayHours(d.open, d.close) for d in v]))
        return v

    _tz = field_validator("timezone")(_zone)
    _hc = field_validator("holiday_country")(_country)
    _hs = field_validator("holiday_subdivision")(_subdivision)


class SlaIn(_Strict):
    open_within: StorableStr = "1 business day"
    resolve_within: StorableStr = "3 business days"
    warn_before: StorableStr | None = "4 business hours"
    priority_factors: dict[PriorityValue, Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=_urgent_half
    )
    # Waiting on the customer: which deadlines stop, and the longest pause (None: no limit).
    pause_metrics: list[PauseMetricValue] = Field(
        default_factory=lambda: [PauseMetric.OPEN, PauseMetric.RESOLVE], max_length=2
    )
    max_pause: StorableStr | None = "5 business days"

    @field_validator("open_within", "resolve_within", "warn_before", "max_pause")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        return None if v is None else validate_duration(v)


class EscalationIn(_Strict):
    max_level: int = Field(default=2, ge=0, le=10)
    program_designee_id: StorableStr | None = None
    reassign_resolve_within: StorableStr | None = None

    @field_validator("reassign_resolve_within")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        return None if v is None else validate_duration(v)


class RemeasureIn(_Strict):
    enabled: bool = True
    reminder_after: StorableStr = "P3D"
    expire_after: StorableStr = "P7D"
    low_score_threshold: int = Field(default=2, ge=1, le=5)
    reopen_on_failure: bool = False

    @field_validator("reminder_after", "expire_after")
    @classmethod
    def _duration(cls, v: str) -> str:
        return validate_duration(v)


class UserIn(_Strict):
    id: StorableStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    name: StorableStr = Field(min_length=1, max_length=200)
    email: StorableStr = ""
    role: RoleValue = Role.AGENT
    manager: StorableStr | None = None
    password: StorableStr | None = Field(default=None, min_length=MIN_LENGTH)
    active: bool = True
    # The pages' language ("en" or "nb"); unset: the browser's choice (and the user's own).
    locale: Literal["en", "nb"] | None = None


class UnitIn(_Strict):
    id: StorableStr = Field(min_length=1, max_length=64)
    name: StorableStr = Field(min_length=1, max_length=200)
    timezone: StorableStr = "UTC"
    holiday_country: StorableStr | None = None
    holiday_subdivision: StorableStr | None = None
    frontline_owner: StorableStr | None = None
    manager: StorableStr | None = None
    field_manager: StorableStr | None = None

    _tz = field_validator("timezone")(_zone)
    _hc = field_validator("holiday_country")(_country)
    _hs = field_validator("holiday_subdivision")(_subdivision)


RuleId = Annotated[StorableStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class QuestionIn(_Strict):
    """A survey question the alert rules can read; answers are checked against its type."""

    id: RuleId
    text: StorableStr = Field(min_length=1, max_length=500)
    type: QuestionTypeValue
    min: int = 0
    max: int = 10

    @model_validator(mode="after")
    def _range(self) -> QuestionIn:
        if self.type == QuestionType.SCORE and self.min >= self.max:
            raise ValueError(f"question {self.id}: min must be below max")
        return self


class _Rule(_Strict):
    id: RuleId
    description: StorableStr = Field(default="", max_length=500)


class ConcernRule(_Rule):
    """ "Did you have a concern?" answered yes: a case whose reason is the explanation."""

    kind: Literal[AlertRuleKind.CONCERN]
    question: StorableStr
    explanation: StorableStr | None = None  # a text question holding the customer's explanation
    category: StorableStr = Field(default="Survey concern", max_length=200)
    priority: PriorityValue = Priority.NORMAL


class LowScoreRule(_Rule):
    """A score at or below `at_most` on a key question: a case naming question and score."""

    kind: Literal[AlertRuleKind.LOW_SCORE]
    question: StorableStr
    at_most: int
    category: StorableStr = Field(default="Low survey score", max_length=200)
    priority: PriorityValue = Priority.NORMAL


class FyiRule(_Rule):
    """A compliment or suggestion for the unit's team: no case, no follow-up.

    Fires when the text (a text question, or the response's free `comments` when `question` is
    not set) is not empty and, if `score_question` is set, that score is at least `min_score`.
    """

    kind: Literal[AlertRuleKind.FYI]
    fyi_type: FyiTypeValue
    question: StorableStr | None = None
    score_question: StorableStr | None = None
    min_score: int | None = None

    @model_validator(mode="after")
    def _score_pair(self) -> FyiRule:
        if (self.score_question is None) != (self.min_score is None):
            raise ValueError(f"rule {self.id}: score_question and min_score go together")
        return self


AlertRuleIn = Annotated[ConcernRule | LowScoreRule | FyiRule, Field(discriminator="kind")]


class RoutingRuleIn(_Strict):
    """Blended routing: the first rule whose every given condition matches decides.

    Empty lists match anything; categories compare case-insensitively.
    """

    id: RuleId
    channels: list[ChannelValue] = Field(default_factory=list)
    feedback_types: list[FeedbackTypeValue] = Field(default_factory=list)
    categories: list[StorableStr] = Field(default_factory=list)
    priorities: list[PriorityValue] = Field(default_factory=list)
    route_to: RouteToValue
    user: StorableStr | None = None

    @model_validator(mode="after")
    def _user(self) -> RoutingRuleIn:
        if (self.route_to == RouteTo.USER) != (self.user is not None):
            raise ValueError(f"rule {self.id}: `user` is needed exactly when route_to is user")
        return self


def _default_fields() -> dict[FormField, FieldUse]:
    return {
        FormField.NAME: FieldUse.REQUIRED,
        FormField.EMAIL: FieldUse.REQUIRED,
        FormField.PHONE: FieldUse.OPTIONAL,
        FormField.ORDER_REF: FieldUse.OPTIONAL,
        FormField.CATEGORY: FieldUse.HIDDEN,
        FormField.MESSAGE: FieldUse.REQUIRED,
    }


class WebFormIn(_Strict):
    """The public form `/forms/<program>`: off unless enabled; a field not named is hidden."""

    enabled: bool = False
    fields: dict[FormFieldValue, FieldUseValue] = Field(default_factory=_default_fields)

    @model_validator(mode="after")
    def _reachable(self) -> WebFormIn:
        if self.enabled and self.fields.get(FormField.MESSAGE) != FieldUse.REQUIRED:
            raise ValueError(at("fields.message", "the form's message must be required"))
        return self


class IntakeIn(_Strict):
    """Where customers open cases themselves (channels email and web form) and at which unit."""

    email: StorableStr | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    unit: StorableStr | None = None
    web_form: WebFormIn = Field(default_factory=WebFormIn)

    @model_validator(mode="after")
    def _unit_needed(self) -> IntakeIn:
        if (self.email or self.web_form.enabled) and not self.unit:
            raise ValueError(at("unit", "the unit new cases go to is needed"))
        return self


class ProgramIn(_Strict):
    id: StorableStr = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: StorableStr = Field(min_length=1, max_length=200)
    ownership_model: OwnershipModelValue = OwnershipModel.FIELD
    default_owner: StorableStr | None = None
    central_team: list[StorableStr] = Field(default_factory=list)
    team_assignment: TeamAssignmentValue = TeamAssignment.ROUND_ROBIN
    calendar: CalendarIn = Field(default_factory=CalendarIn)
    sla: SlaIn = Field(default_factory=SlaIn)
    escalation: EscalationIn = Field(default_factory=EscalationIn)
    remeasure: RemeasureIn = Field(default_factory=RemeasureIn)
    root_causes: list[StorableStr] = Field(min_length=1)
    resolution_methods: list[StorableStr] = Field(default_factory=list)
    # What closing asks for: root causes (required unless a program says otherwise) and
    # resolution methods (optional unless it says so).
    root_causes_required: bool = True
    resolution_methods_required: bool = False
    # A case closes as resolved only when every task on it is done.
    require_tasks_done_to_resolve: bool = False
    # Empty: any category text; else only these (domain/taxonomy.py).
    categories: list[CategoryIn] = Field(default_factory=list, max_length=200)
    questions: list[QuestionIn] = Field(default_factory=list)
    alert_rules: list[AlertRuleIn] = Field(default_factory=list)
    routing_rules: list[RoutingRuleIn] = Field(default_factory=list)
    # Closing summary setting, message template overrides (checked in a sandbox when saved),
    # scripted replies: see services/templates.py.
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)
    # Months after a case closes before its personal data is anonymised by the daily retention
    # run (activities/erasure.py); none: kept until a customer's erasure.
    retention_months: int | None = Field(default=None, ge=1, le=1200)
    # The intake mailbox and the public web form (issue 17).
    intake: IntakeIn = Field(default_factory=IntakeIn)

    @model_validator(mode="after")
    def _consistent(self) -> ProgramIn:
        for kind, items in (
            ("questions", self.questions),
            ("alert_rules", self.alert_rules),
            ("routing_rules", self.routing_rules),
        ):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(at(f"{kind}.{i}.id", f"{item.id!r} appears twice"))
                seen.add(item.id)
        questions = {q.id: q for q in self.questions}

        def need(path: str, qid: str | None, kinds: tuple[str, ...]) -> None:
            if qid is None:
                return
            q = questions.get(qid)
            if q is None:
                raise ValueError(at(path, f"unknown question {qid!r}"))
            if q.type not in kinds:
                raise ValueError(at(path, f"question {qid!r} is not {' or '.join(kinds)}"))

        for i, r in enumerate(self.alert_rules):
            where = f"alert_rules.{i}"
            if isinstance(r, ConcernRule):
                need(f"{where}.question", r.question, (QuestionType.YES_NO,))
                need(f"{where}.explanation", r.explanation, (QuestionType.TEXT,))
            elif isinstance(r, LowScoreRule):
                need(f"{where}.question", r.question, (QuestionType.SCORE,))
            else:
                need(f"{where}.question", r.question, (QuestionType.TEXT,))
                need(f"{where}.score_question", r.score_question, (QuestionType.SCORE,))
        self._taxonomy_consistent()
        uses_team = self.ownership_model == OwnershipModel.CORPORATE or any(
            r.route_to == RouteTo.CORPORATE for r in self.routing_rules
        )
        if uses_team and not self.central_team:
            raise ValueError(at("central_team", "corporate routing needs a central team"))
        if self.ownership_model == OwnershipModel.BLENDED and not self.routing_rules:
            raise ValueError(at("routing_rules", "the blended model needs routing rules"))
        return self

    def _taxonomy_consistent(self) -> None:
        """Categories are distinct, and the rules file cases only under existing ones."""
        names: set[str] = set()
        for i, c in enumerate(self.categories):
            if c.name.strip().casefold() in names:
                raise ValueError(at(f"categories.{i}.name", f"{c.name!r} appears twice"))
            names.add(c.name.strip().casefold())
        if self.resolution_methods_required and not self.resolution_methods:
            raise ValueError(
                at("resolution_methods", "required resolution methods need a list to choose from")
            )
        if not names:
            return
        for i, r in enumerate(self.alert_rules):
            category = getattr(r, "category", None)
            if category is not None and category.strip().casefold() not in names:
                raise ValueError(
                    at(f"alert_rules.{i}.category", f"{category!r} is not one of the categories")
                )
        for i, rr in enumerate(self.routing_rules):
            for j, category in enumerate(rr.categories):
                if category.strip().casefold() not in names:
                    raise ValueError(
                        at(
                            f"routing_rules.{i}.categories.{j}",
                            f"{category!r} is not one of the categories",
                        )
                    )


class ConfigDoc(_Strict):
    users: list[UserIn] = Field(default_factory=list)
    units: list[UnitIn] = Field(default_factory=list)
    programs: list[ProgramIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> ConfigDoc:
        groups: tuple[tuple[str, list[Any]], ...] = (
            ("users", self.users),
            ("units", self.units),
            ("programs", self.programs),
        )
        for kind, items in groups:
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(at(f"{kind}.{i}.id", f"{item.id!r} appears twice"))
                seen.add(item.id)
        user_ids = {u.id for u in self.users}

        def known(path: str, who: str | None) -> None:
            if who and who not in user_ids:
                raise ValueError(at(path, f"{who!r} is not a user in this configuration"))

        for i, u in enumerate(self.users):
            known(f"users.{i}.manager", u.manager)
        for i, unit in enumerate(self.units):
            for role in UnitRole:
                known(f"units.{i}.{role}", getattr(unit, role))
        mailboxes: set[str] = set()
        for i, p in enumerate(self.programs):
            if p.intake.email:
                if p.intake.email.lower() in mailboxes:
                    raise ValueError(at(f"programs.{i}.intake.email", "used by two programs"))
                mailboxes.add(p.intake.email.lower())
        for i, p in enumerate(self.programs):
            known(f"programs.{i}.default_owner", p.default_owner)
            known(f"programs.{i}.escalation.program_designee_id", p.escalation.program_designee_id)
            for j, who in enumerate(p.central_team):
                known(f"programs.{i}.central_team.{j}", who)
            for j, r in enumerate(p.routing_rules):
                known(f"programs.{i}.routing_rules.{j}.user", r.user)
        return self


_AT = re.compile(r"^(?:Value error, )?\[([\w.-]+)\] ")


def at(path: str, message: str) -> str:
    """A model-level error message that names the field it is about (see `error_location`)."""
    return f"[{path}] {message}"


def error_location(err: Any) -> tuple[tuple[Any, ...], str]:
    """(loc, message) of a pydantic error, with the field path of `at(...)` messages added."""
    loc, msg = tuple(err.get("loc", ())), str(err.get("msg", "invalid"))
    if match := _AT.match(msg):
        extra = tuple(int(p) if p.isdigit() else p for p in match.group(1).split("."))
        return loc + extra, msg[match.end() :]
    return loc, msg.removeprefix("Value error, ")
