"""Object-level authorisation: who may see a case, and who may act on it.

A user sees a case as its owner, a watcher (full or limited), a designee in its escalation chain,
a manager of its unit (unit manager or field manager), or an admin. The escalation chain needs no
rule of its own: the designee becomes the owner and the workflow keeps each late owner as a
limited watcher, so everyone who held the case keeps seeing it.

Only the owner, a full-access watcher or an admin may act; the workflow's update validators
enforce the same rule, so a stale page can never write where the web layer would not.

One SQL clause (`visible_clause`) serves the single-case check and every list, so the inbox can
never show a case the case page would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from domain.vocabulary import Access, Role
from models.case import Case, CaseWatcher
from models.config import Unit, User


class Relation(StrEnum):
    ADMIN = "admin"
    OWNER = "owner"
    FULL_WATCHER = "full_watcher"
    LIMITED_WATCHER = "limited_watcher"
    UNIT_MANAGER = "unit_manager"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, with what the access rules need (loaded once per request)."""

    user_id: str
    name: str
    role: Role
    managed_units: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        """Has the "My units" tab: manages at least one unit (or is an admin)."""
        return bool(self.managed_units) or self.is_admin


@dataclass(frozen=True)
class CaseAccess:
    relation: Relation

    @property
    def can_act(self) -> bool:
        return self.relation in (Relation.ADMIN, Relation.OWNER, Relation.FULL_WATCHER)


def managed_units(session: Session, user_id: str) -> tuple[str, ...]:
    rows = session.exec(
        sqlmodel_select(Unit.id)
        .where(or_(col(Unit.manager_id) == user_id, col(Unit.field_manager_id) == user_id))
        .order_by(col(Unit.id))
    ).all()
    return tuple(rows)


def viewer_for(session: Session, user: User) -> Viewer:
    return Viewer(user.id, user.name, Role(user.role), managed_units(session, user.id))


def watched_case_ids(user_id: str) -> ColumnElement[bool]:
    """`Case.id IN (cases the user watches)`; the watcher index on user_id answers it."""
    return col(Case.id).in_(
        select(col(CaseWatcher.case_id)).where(col(CaseWatcher.user_id) == user_id)
    )


def visible_clause(viewer: Viewer) -> ColumnElement[bool] | None:
    """The cases this viewer may see, as a WHERE clause; None means all (admins)."""
    if viewer.is_admin:
        return None
    clauses: list[ColumnElement[bool]] = [
        col(Case.owner_id) == viewer.user_id,
        watched_case_ids(viewer.user_id),
    ]
    if viewer.managed_units:
        clauses.append(col(Case.unit_id).in_(viewer.managed_units))
    return or_(*clauses)


def access_to(session: Session, viewer: Viewer, case: Case) -> CaseAccess | None:
    """How the viewer relates to this case; None means it must look as if it did not exist."""
    if viewer.is_admin:
        return CaseAccess(Relation.ADMIN)
    if case.owner_id == viewer.user_id:
        return CaseAccess(Relation.OWNER)
    watcher = session.get(CaseWatcher, (case.id, viewer.user_id))
    if watcher is not None:
        full = watcher.access == Access.FULL.value
        return CaseAccess(Relation.FULL_WATCHER if full else Relation.LIMITED_WATCHER)
    if case.unit_id in viewer.managed_units:
        return CaseAccess(Relation.UNIT_MANAGER)
    return None
