"""Configuration as data: programs, units and users validated, then upserted in one transaction."""

from __future__ import annotations

import json
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
from sqlalchemy import JSON, Engine, Text, bindparam, cast
from sqlalchemy import select as select_core
from sqlmodel import Session, col, select

from domain.calendar import BusinessCalendar, validate_duration
from domain.mail.schema import NotificationsIn
from domain.policy import (
    CalendarSpec,
    CasePolicy,
    DayHours,
    EscalationPolicy,
    RemeasurePolicy,
    SlaPolicy,
)
from domain.text import StorableStr
from models.api import Channel, FeedbackTypeIn, PriorityIn
from models.config import Program, Unit, User

# One list of channels, priorities and feedback types: the API's (models.api).
PriorityName = PriorityIn
ChannelName = Channel
FeedbackType = FeedbackTypeIn
PRIORITY_ORDER: tuple[PriorityName, ...] = ("low", "normal", "high", "urgent")


def _urgent_half() -> dict[PriorityName, float]:
    return {"urgent": 0.5}


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
    priority_factors: dict[PriorityName, Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=_urgent_half
    )

    @field_validator("open_within", "resolve_within", "warn_before")
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
    role: Literal["agent", "manager", "admin"] = "agent"
    manager: StorableStr | None = None
    password: StorableStr | None = Field(default=None, min_length=8)
    active: bool = True


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
    type: Literal["yes_no", "score", "text"]
    min: int = 0
    max: int = 10

    @model_validator(mode="after")
    def _range(self) -> QuestionIn:
        if self.type == "score" and self.min >= self.max:
            raise ValueError(f"question {self.id}: min must be below max")
        return self


class _Rule(_Strict):
    id: RuleId
    description: StorableStr = Field(default="", max_length=500)


class ConcernRule(_Rule):
    """ "Did you have a concern?" answered yes: a case whose reason is the explanation."""

    kind: Literal["concern"]
    question: StorableStr
    explanation: StorableStr | None = None  # a text question holding the customer's explanation
    category: StorableStr = Field(default="Survey concern", max_length=200)
    priority: PriorityName = "normal"


class LowScoreRule(_Rule):
    """A score at or below `at_most` on a key question: a case naming question and score."""

    kind: Literal["low_score"]
    question: StorableStr
    at_most: int
    category: StorableStr = Field(default="Low survey score", max_length=200)
    priority: PriorityName = "normal"


class FyiRule(_Rule):
    """A compliment or suggestion for the unit's team: no case, no follow-up.

    Fires when the text (a text question, or the response's free `comments` when `question` is
    not set) is not empty and, if `score_question` is set, that score is at least `min_score`.
    """

    kind: Literal["fyi"]
    fyi_type: Literal["compliment", "suggestion"]
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
    channels: list[ChannelName] = Field(default_factory=list)
    feedback_types: list[FeedbackType] = Field(default_factory=list)
    categories: list[StorableStr] = Field(default_factory=list)
    priorities: list[PriorityName] = Field(default_factory=list)
    route_to: Literal["field", "corporate", "user"]
    user: StorableStr | None = None

    @model_validator(mode="after")
    def _user(self) -> RoutingRuleIn:
        if (self.route_to == "user") != (self.user is not None):
            raise ValueError(f"rule {self.id}: `user` is needed exactly when route_to is user")
        return self


class ProgramIn(_Strict):
    id: StorableStr = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: StorableStr = Field(min_length=1, max_length=200)
    ownership_model: Literal["field", "corporate", "blended"] = "field"
    default_owner: StorableStr | None = None
    central_team: list[StorableStr] = Field(default_factory=list)
    team_assignment: Literal["round_robin", "least_loaded"] = "round_robin"
    calendar: CalendarIn = Field(default_factory=CalendarIn)
    sla: SlaIn = Field(default_factory=SlaIn)
    escalation: EscalationIn = Field(default_factory=EscalationIn)
    remeasure: RemeasureIn = Field(default_factory=RemeasureIn)
    root_causes: list[StorableStr] = Field(min_length=1)
    resolution_methods: list[StorableStr] = Field(default_factory=list)
    questions: list[QuestionIn] = Field(default_factory=list)
    alert_rules: list[AlertRuleIn] = Field(default_factory=list)
    routing_rules: list[RoutingRuleIn] = Field(default_factory=list)
    # Closing summary setting, message template overrides (checked in a sandbox when saved),
    # scripted replies: see services/templates.py.
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)

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
                need(f"{where}.question", r.question, ("yes_no",))
                need(f"{where}.explanation", r.explanation, ("text",))
            elif isinstance(r, LowScoreRule):
                need(f"{where}.question", r.question, ("score",))
            else:
                need(f"{where}.question", r.question, ("text",))
                need(f"{where}.score_question", r.score_question, ("score",))
        uses_team = self.ownership_model == "corporate" or any(
            r.route_to == "corporate" for r in self.routing_rules
        )
        if uses_team and not self.central_team:
            raise ValueError(at("central_team", "corporate routing needs a central team"))
        if self.ownership_model == "blended" and not self.routing_rules:
            raise ValueError(at("routing_rules", "the blended model needs routing rules"))
        return self


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
            for role in ("frontline_owner", "manager", "field_manager"):
                known(f"units.{i}.{role}", getattr(unit, role))
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


def _hash_password(password: str, current: str | None = None) -> str:
    """A new hash only for a new password: re-loading the same configuration keeps the hash,
    so it does not sign everyone out (sessions end when the password hash changes)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = PasswordHasher()
    if current:
        try:
            if hasher.verify(current, password):
                return current
        except (VerificationError, InvalidHashError):
            pass
    return hasher.hash(password)


def apply_config(engine: Engine, doc: ConfigDoc) -> dict[str, int]:
    """Upsert everything in one transaction: a bad document changes nothing."""
    with Session(engine) as session:
        for u in doc.users:
            user = session.get(User, u.id) or User(id=u.id, name=u.name)
            user.name, user.email, user.role = u.name, u.email, u.role
            user.manager_id, user.active = u.manager, u.active
            if u.password:
                user.password_hash = _hash_password(u.password, user.password_hash)
            session.add(user)
        for un in doc.units:
            unit = session.get(Unit, un.id) or Unit(id=un.id, name=un.name)
            unit.name, unit.timezone = un.name, un.timezone
            unit.holiday_country, unit.holiday_subdivision = (
                un.holiday_country,
                un.holiday_subdivision,
            )
            unit.frontline_owner_id, unit.manager_id = un.frontline_owner, un.manager
            unit.field_manager_id = un.field_manager
            BusinessCalendar(CalendarSpec(timezone=un.timezone))  # rejects unknown zones
            session.add(unit)
        for p in doc.programs:
            program = session.get(Program, p.id) or Program(id=p.id, name=p.name)
            program.name, program.ownership_model = p.name, p.ownership_model
            program.default_owner_id = p.default_owner
            program.calendar = p.calendar.model_dump(mode="json")
            program.sla = p.sla.model_dump(mode="json")
            program.escalation = p.escalation.model_dump(mode="json")
            program.remeasure = p.remeasure.model_dump(mode="json")
            program.root_causes = list(p.root_causes)
            program.resolution_methods = list(p.resolution_methods)
            program.questions = [q.model_dump(mode="json") for q in p.questions]
            program.alert_rules = [r.model_dump(mode="json") for r in p.alert_rules]
            program.routing_rules = [r.model_dump(mode="json") for r in p.routing_rules]
            program.central_team = list(p.central_team)
            program.team_assignment = p.team_assignment
            program.notifications = p.notifications.model_dump(mode="json", exclude_defaults=True)
            session.add(program)
        session.commit()
    return {"users": len(doc.users), "units": len(doc.units), "programs": len(doc.programs)}


def export_config(session: Session) -> ConfigDoc:
    """The configuration held in the database, as the document that would load it.

    Passwords are never exported (`apply_config` keeps the stored hash when none is given).
    """
    users = [
        UserIn(
            id=u.id,
            name=u.name,
            email=u.email,
            role=u.role,  # type: ignore[arg-type]
            manager=u.manager_id,
            active=u.active,
        )
        for u in session.exec(select(User).order_by(col(User.id)))
    ]
    units = [
        UnitIn(
            id=u.id,
            name=u.name,
            timezone=u.timezone,
            holiday_country=u.holiday_country,
            holiday_subdivision=u.holiday_subdivision,
            frontline_owner=u.frontline_owner_id,
            manager=u.manager_id,
            field_manager=u.field_manager_id,
        )
        for u in session.exec(select(Unit).order_by(col(Unit.id)))
    ]
    programs = [
        ProgramIn.model_validate(
            {
                "id": p.id,
                "name": p.name,
                "ownership_model": p.ownership_model,
                "default_owner": p.default_owner_id,
                "central_team": p.central_team or [],
                "team_assignment": p.team_assignment,
                "calendar": p.calendar or {},
                "sla": p.sla or {},
                "escalation": p.escalation or {},
                "remeasure": p.remeasure or {},
                "root_causes": p.root_causes,
                "resolution_methods": p.resolution_methods or [],
                "questions": p.questions or [],
                "alert_rules": p.alert_rules or [],
                "routing_rules": p.routing_rules or [],
                "notifications": p.notifications or {},
            }
        )
        for p in session.exec(select(Program).order_by(col(Program.id)))
    ]
    return ConfigDoc.model_construct(users=users, units=units, programs=programs)


_parsed: dict[Any, Any] = {}
# Objects handed out by `load_program` / `load_unit`, by id(): shared and read-only, so what
# is derived from them (parsed rules, policy) can be found by identity, without a key dump.
_shared: dict[int, object] = {}
_derived: dict[tuple[Any, ...], tuple[tuple[object, ...], Any]] = {}
_MEMO_MAX = 256


def _memo(key: Any, make: Any) -> Any:
    """Parsed configuration by its stored content: re-validating per request costs more than
    the intake itself. Keyed by the content, so any writer (API, YAML, admin pages) is seen."""
    found = _parsed.get(key)
    if found is None:
        if len(_parsed) > _MEMO_MAX or len(_derived) > _MEMO_MAX:
            _parsed.clear()
            _shared.clear()
            _derived.clear()
        found = _parsed[key] = make()
    return found


def _by_identity(kind: str, objs: tuple[object, ...], make: Any) -> Any:
    """`make()`, remembered for `objs` when they are all shared objects from the loaders."""
    if not all(_shared.get(id(o)) is o for o in objs):
        return make()
    key = (kind, *map(id, objs))
    hit = _derived.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], objs, strict=True)):
        return hit[1]
    value = make()
    _derived[key] = (objs, value)
    return value


_P = Program.__table__.c  # type: ignore[attr-defined]
_U = Unit.__table__.c  # type: ignore[attr-defined]
# The JSON columns as their stored text: the content key, with no JSON decoding per request.
_PROGRAM_ROW = select_core(
    *[
        cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c
        for c in _P
        if c.name != "updated_at"
    ]
).where(_P.id == bindparam("id"))
_UNIT_ROW = select_core(*_U).where(_U.id == bindparam("id"))


def _share(key: tuple[Any, ...], make: Any) -> Any:
    def made() -> object:
        obj = make()
        _shared[id(obj)] = obj
        return obj

    return _memo(key, made)


def load_program(session: Session, program_id: str) -> Program | None:
    """The program, read with one Core select and parsed once per stored content.

    The object is shared between requests: read it, never change it.
    """
    row = session.connection().execute(_PROGRAM_ROW, {"id": program_id}).first()
    if row is None:
        return None
    data = row._asdict()

    def make() -> Program:
        for c in _P:
            if isinstance(c.type, JSON) and data.get(c.name) is not None:
                data[c.name] = json.loads(data[c.name])
        return Program(**data)

    program: Program = _share(("program-row", *row), make)
    return program


def load_unit(session: Session, unit_id: str) -> Unit | None:
    """The unit (one Core select), shared between requests like `load_program`'s."""
    row = session.connection().execute(_UNIT_ROW, {"id": unit_id}).first()
    if row is None:
        return None
    unit: Unit = _share(("unit-row", *row), lambda: Unit(**row._asdict()))
    return unit


def _program_config_by_content(program: Program) -> ProgramIn:
    data = {
        "id": program.id,
        "name": program.name,
        "root_causes": program.root_causes or ["-"],
        "questions": program.questions or [],
        "alert_rules": program.alert_rules or [],
        "routing_rules": program.routing_rules or [],
        "central_team": program.central_team or [],
        "team_assignment": program.team_assignment,
        "ownership_model": program.ownership_model,
    }
    key = "program:" + json.dumps(data, sort_keys=True, default=str)
    result: ProgramIn = _memo(key, lambda: ProgramIn.model_validate(data))
    return result


def program_config(program: Program) -> ProgramIn:
    """The stored program's intake rules (questions, alert and routing rules, team), parsed."""
    result: ProgramIn = _by_identity(
        "config", (program,), lambda: _program_config_by_content(program)
    )
    return result


def policy_for(program: Program, unit: Unit) -> CasePolicy:
    """The case's policy snapshot: the program's rules on the unit's calendar by default.

    Shared between cases with the same configuration: treat it as read-only.
    """
    policy: CasePolicy = _by_identity(
        "policy", (program, unit), lambda: _policy_by_content(program, unit)
    )
    return policy


def _policy_by_content(program: Program, unit: Unit) -> CasePolicy:
    parts = [
        program.id,
        program.name,
        program.calendar,
        program.sla,
        program.escalation,
        program.remeasure,
        program.root_causes,
        program.resolution_methods,
        getattr(program, "notifications", None),
        unit.timezone,
        unit.holiday_country,
        unit.holiday_subdivision,
    ]
    key = "policy:" + json.dumps(parts, sort_keys=True, default=str)
    policy: CasePolicy = _memo(key, lambda: _policy_for(program, unit))
    return policy


def _policy_for(program: Program, unit: Unit) -> CasePolicy:
    cal = CalendarIn.model_validate(program.calendar)
    week = [DayHours(d.open, d.close) for d in cal.week] if cal.week else CalendarSpec().week
    calendar = CalendarSpec(
        timezone=cal.timezone or unit.timezone,
        week=week,
        holiday_country=cal.holiday_country or unit.holiday_country,
        holiday_subdivision=cal.holiday_subdivision
        if cal.holiday_country
        else unit.holiday_subdivision,
        extra_holidays=list(cal.extra_holidays),
        always_open=cal.always_open,
    )
    sla = SlaIn.model_validate(program.sla)
    esc = EscalationIn.model_validate(program.escalation)
    rem = RemeasureIn.model_validate(program.remeasure)
    return CasePolicy(
        program_id=program.id,
        program_name=program.name,
        calendar=calendar,
        sla=SlaPolicy(**sla.model_dump()),
        escalation=EscalationPolicy(**esc.model_dump()),
        remeasure=RemeasurePolicy(**rem.model_dump()),
        root_causes=list(program.root_causes),
        resolution_methods=list(program.resolution_methods),
        notify_watchers_on_close=bool(
            (program.notifications or {}).get("notify_watchers_on_close", True)
        ),
    )
