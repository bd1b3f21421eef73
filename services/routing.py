"""Routing: who owns a new case and who watches it, with the reason kept for the timeline.

The program's ownership model decides:

- *field*: the unit's frontline owner; the unit manager watches with full access, the field
  manager with limited access. A unit without an owner falls back to the program's default
  owner, never to nobody.
- *corporate*: a member of the program's central team, round-robin or least-loaded; the unit
  manager watches with limited access so the location sees what happens.
- *blended*: the program's routing rules (channel, feedback type, category, priority), in
  order, first match wins; a rule routes to the field model, the central team or one person.
  When no rule matches, the field model applies.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from domain.routing import Routing, RoutingError, RoutingRequest, rule_matches, watchers_for
from domain.vocabulary import Access, OwnershipModel, RouteTo
from models.case import Case
from models.config import Program, Unit, User
from models.intake import RoutingCounter
from services.configuration import program_config


def route(session: Session, program: Program, unit: Unit, req: RoutingRequest) -> Routing:
    """Decide the owner; may bump the round-robin counter (inside the caller's transaction)."""
    model = program.ownership_model
    if model == OwnershipModel.CORPORATE:
        return _corporate(session, program, unit, "corporate model")
    if model == OwnershipModel.BLENDED:
        for rule in program_config(program).routing_rules:
            if not rule_matches(rule, req):
                continue
            why = f"blended rule {rule.id!r}"
            if rule.route_to == RouteTo.CORPORATE:
                routing = _corporate(session, program, unit, why)
            elif rule.route_to == RouteTo.USER:
                assert rule.user is not None
                routing = _person(session, program, unit, rule.user, why)
            else:
                routing = _field(program, unit, why)
            routing.rule_id = rule.id
            return routing
        return _field(program, unit, "blended: no rule matched, field model")
    return _field(program, unit, "field model")


def _fallback(program: Program, unit: Unit, why: str) -> str:
    if program.default_owner_id:
        return program.default_owner_id
    raise RoutingError(
        f"{why}: nobody to own a case at unit {unit.id}, and program "
        f"{program.id} has no default owner"
    )


def _field(program: Program, unit: Unit, why: str) -> Routing:
    if unit.frontline_owner_id:
        owner = unit.frontline_owner_id
        reason = f"{why}: frontline owner of unit {unit.id}"
    else:
        owner = _fallback(program, unit, why)
        reason = f"{why}: unit {unit.id} has no owner, program default owner"
    watchers = watchers_for(
        owner, [(unit.manager_id, Access.FULL), (unit.field_manager_id, Access.LIMITED)]
    )
    return Routing(owner, watchers, reason)


def _person(session: Session, program: Program, unit: Unit, user_id: str, why: str) -> Routing:
    user = session.get(User, user_id)
    if user is not None and user.active:
        owner, reason = user_id, f"{why}: assigned to {user_id}"
    else:
        owner = _fallback(program, unit, why)
        reason = f"{why}: {user_id} is not active, program default owner"
    return Routing(owner, watchers_for(owner, [(unit.manager_id, Access.LIMITED)]), reason)


def _corporate(session: Session, program: Program, unit: Unit, why: str) -> Routing:
    team = list(program.central_team or [])
    active = set(
        session.exec(
            select(User.id).where(col(User.id).in_(team), col(User.active).is_(True))
        ).all()
    )
    members = [u for u in team if u in active]
    if not members:
        owner = _fallback(program, unit, why)
        reason = f"{why}: no active central team member, program default owner"
    elif program.team_assignment == "least_loaded":
        load = dict(
            session.exec(
                select(Case.owner_id, func.count())
                .where(col(Case.owner_id).in_(members), col(Case.is_open).is_(True))
                .group_by(col(Case.owner_id))
            ).all()
        )
        owner = min(members, key=lambda u: (load.get(u, 0), members.index(u)))
        reason = f"{why}: least-loaded central team member ({load.get(owner, 0)} open cases)"
    else:
        turn = _next_turn(session, program.id)
        owner = members[(turn - 1) % len(members)]
        reason = f"{why}: central team, round-robin"
    return Routing(owner, watchers_for(owner, [(unit.manager_id, Access.LIMITED)]), reason)


def _next_turn(session: Session, program_id: str) -> int:
    """Atomically bump the program's round-robin counter; 1 for the first case."""
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = RoutingCounter.__table__  # type: ignore[attr-defined]
    stmt = dialect.insert(table).values(program_id=program_id, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["program_id"], set_={"value": table.c.value + 1}
    ).returning(table.c.value)
    return int(session.execute(stmt).scalar_one())
