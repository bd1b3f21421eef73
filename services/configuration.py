"""Configuration as data: a validated document (domain.program) upserted in one transaction, and
the programs and units read back for intake (cached by content)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Engine, Text, bindparam, cast
from sqlalchemy import select as select_core
from sqlmodel import Session, col, select

from domain.audit import Actor
from domain.calendar import BusinessCalendar
from domain.policy import (
    CalendarSpec,
    CasePolicy,
    DayHours,
    EscalationPolicy,
    RemeasurePolicy,
    SlaPolicy,
)
from domain.program import (
    CalendarIn,
    ConfigDoc,
    EscalationIn,
    ProgramIn,
    RemeasureIn,
    SlaIn,
    UnitIn,
    UserIn,
)
from domain.vocabulary import AuditObject, Role
from models.audit import AuditEntry
from models.config import Program, Unit, User
from services.audit import cli_actor, record


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


def taxonomy_of(p: ProgramIn) -> dict[str, Any]:
    """What the `taxonomy` column keeps: only what differs from the defaults."""
    return p.model_dump(
        mode="json",
        include={
            "categories",
            "root_causes_required",
            "resolution_methods_required",
            "require_tasks_done_to_resolve",
        },
        exclude_defaults=True,
    )


def program_state(p: Program) -> dict[str, Any]:
    """The stored program as the document that would load it (unvalidated: a version the
    schema no longer accepts is still shown and kept as it is)."""
    return json.loads(
        json.dumps(
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
                "retention_months": p.retention_months,
                **({"intake": p.intake} if p.intake else {}),
                **(p.taxonomy or {}),
            },
            default=str,
        )
    )


def unit_state(u: Unit) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "timezone": u.timezone,
        "holiday_country": u.holiday_country,
        "holiday_subdivision": u.holiday_subdivision,
        "frontline_owner": u.frontline_owner_id,
        "manager": u.manager_id,
        "field_manager": u.field_manager_id,
    }


def user_state(u: User) -> dict[str, Any]:
    """The user as audited: `password_hash` only tells a diff that the password changed."""
    return {
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "manager": u.manager_id,
        "active": u.active,
        "locale": u.locale,
        "password_hash": u.password_hash,
    }


def apply_config(
    engine: Engine, doc: ConfigDoc, actor: Actor | None = None, restored_from: int | None = None
) -> dict[str, int]:
    """Upsert everything in one transaction: a bad document changes nothing. Every object
    that changes gets an audit entry by `actor` (default: the operator at the CLI)."""
    with Session(engine) as session:
        apply_in(session, doc, actor or cli_actor(), restored_from)
        session.commit()
    return {"users": len(doc.users), "units": len(doc.units), "programs": len(doc.programs)}


def apply_in(
    session: Session, doc: ConfigDoc, actor: Actor, restored_from: int | None = None
) -> list[AuditEntry]:
    """`apply_config` in the caller's session (not committed); the audit entries added."""
    entries: list[AuditEntry | None] = []
    for u in doc.users:
        found = session.get(User, u.id)
        before = user_state(found) if found else None
        user = found or User(id=u.id, name=u.name)
        user.name, user.email, user.role = u.name, u.email, u.role
        user.manager_id, user.active = u.manager, u.active
        if u.locale:  # unset keeps what the user chose on the pages
            user.locale = u.locale
        if u.password:
            user.password_hash = _hash_password(u.password, user.password_hash)
        session.add(user)
        entries.append(record(session, actor, AuditObject.USER, u.id, before, user_state(user)))
    for un in doc.units:
        found_unit = session.get(Unit, un.id)
        before = unit_state(found_unit) if found_unit else None
        unit = found_unit or Unit(id=un.id, name=un.name)
        unit.name, unit.timezone = un.name, un.timezone
        unit.holiday_country, unit.holiday_subdivision = (
            un.holiday_country,
            un.holiday_subdivision,
        )
        unit.frontline_owner_id, unit.manager_id = un.frontline_owner, un.manager
        unit.field_manager_id = un.field_manager
        BusinessCalendar(CalendarSpec(timezone=un.timezone))  # rejects unknown zones
        session.add(unit)
        after = unit_state(unit)
        entries.append(record(session, actor, AuditObject.UNIT, un.id, before, after))
    for p in doc.programs:
        found_program = session.get(Program, p.id)
        before = program_state(found_program) if found_program else None
        program = found_program or Program(id=p.id, name=p.name)
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
        program.taxonomy = taxonomy_of(p)
        program.retention_months = p.retention_months
        program.intake = p.intake.model_dump(mode="json", exclude_defaults=True)
        after = program_state(program)
        session.add(program)
        entries.append(
            record(session, actor, AuditObject.PROGRAM, p.id, before, after, None, restored_from)
        )
    return [e for e in entries if e is not None]


def export_config(session: Session) -> ConfigDoc:
    """The configuration held in the database, as the document that would load it.

    Passwords are never exported (`apply_config` keeps the stored hash when none is given).
    """
    users = [
        UserIn(
            id=u.id,
            name=u.name,
            email=u.email,
            role=Role(u.role),
            manager=u.manager_id,
            active=u.active,
            locale="nb" if u.locale == "nb" else "en" if u.locale == "en" else None,
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
        ProgramIn.model_validate(program_state(p))
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
        "resolution_methods": program.resolution_methods or [],
        "questions": program.questions or [],
        "alert_rules": program.alert_rules or [],
        "routing_rules": program.routing_rules or [],
        "central_team": program.central_team or [],
        "team_assignment": program.team_assignment,
        "ownership_model": program.ownership_model,
        "intake": program.intake or {},
        **(program.taxonomy or {}),
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
        getattr(program, "taxonomy", None),
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
    taxonomy = program.taxonomy or {}
    return CasePolicy(
        program_id=program.id,
        program_name=program.name,
        calendar=calendar,
        sla=SlaPolicy(**sla.model_dump()),
        escalation=EscalationPolicy(**esc.model_dump()),
        remeasure=RemeasurePolicy(**rem.model_dump()),
        root_causes=list(program.root_causes),
        resolution_methods=list(program.resolution_methods),
        root_causes_required=bool(taxonomy.get("root_causes_required", True)),
        resolution_methods_required=bool(taxonomy.get("resolution_methods_required", False)),
        require_tasks_done_to_resolve=bool(taxonomy.get("require_tasks_done_to_resolve", False)),
        notify_watchers_on_close=bool(
            (program.notifications or {}).get("notify_watchers_on_close", True)
        ),
    )


def policy_of(program: ProgramIn, unit: UnitIn) -> CasePolicy:
    """The policy a case would get from an unsaved program at a unit (the admin pages' preview):
    the same construction as intake's `policy_for`, never cached."""
    stored = Program(
        id=program.id,
        name=program.name,
        calendar=program.calendar.model_dump(mode="json"),
        sla=program.sla.model_dump(mode="json"),
        escalation=program.escalation.model_dump(mode="json"),
        remeasure=program.remeasure.model_dump(mode="json"),
        root_causes=list(program.root_causes),
        resolution_methods=list(program.resolution_methods),
        notifications=program.notifications.model_dump(mode="json", exclude_defaults=True),
        taxonomy=taxonomy_of(program),
    )
    place = Unit(
        id=unit.id,
        name=unit.name,
        timezone=unit.timezone,
        holiday_country=unit.holiday_country,
        holiday_subdivision=unit.holiday_subdivision,
    )
    return _policy_for(stored, place)
