"""@mentions in notes (issue 18): who a note names, and which of them may be let in.

A mentioned person reads the case from then on (the workflow makes them a read-only watcher),
but only if they already work in the case's program; anyone else stays plain text and the
author is told that person cannot see this program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from domain.tasks import mentions
from models.case import Case
from models.config import Program, User
from services.access import viewer_for, visible_clause


@dataclass
class Mentions:
    """Who a note mentions: let in (user ids), refused (their names), unknown (as written)."""

    allowed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def program_people(program: Program) -> set[str]:
    """The people a program's configuration names (default owner, central team, routing
    targets, the escalation's designee)."""
    people = set(program.central_team or [])
    people |= {str(r["user"]) for r in program.routing_rules or [] if r.get("user")}
    if program.default_owner_id:
        people.add(program.default_owner_id)
    designee = (program.escalation or {}).get("program_designee_id")
    if designee:
        people.add(str(designee))
    return people


def has_program_access(session: Session, user: User, program_id: str) -> bool:
    """Works in the program: an admin, someone its configuration names, or someone who may
    see at least one of its cases (owner, watcher, manager of its unit)."""
    if user.role == "admin":
        return True
    program = session.get(Program, program_id)
    if program is not None and user.id in program_people(program):
        return True
    clause = visible_clause(viewer_for(session, user))
    query = select(func.count()).select_from(Case).where(col(Case.program_id) == program_id)
    if clause is not None:
        query = query.where(clause)
    return bool(session.exec(query).one())


def resolve_mentions(session: Session, case: Case, text: str, author_id: str) -> Mentions:
    """The note's mentions, checked against the case's program (the author is never one)."""
    found = Mentions()
    for handle in mentions(text)[:20]:
        user = session.get(User, handle) or session.get(User, handle.lower())
        if user is None or not user.active:
            found.unknown.append(handle)
        elif user.id == author_id or user.id in found.allowed:
            continue
        elif has_program_access(session, user, case.program_id):
            found.allowed.append(user.id)
        else:
            found.refused.append(user.name or user.id)
    return found
