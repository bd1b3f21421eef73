"""Object-level authorisation against the read model: the viewer's units, the SQL clause of the
cases they may see, and their relation to one case (the rules: domain/permissions.py).

One SQL clause (`visible_clause`) serves the single-case check and every list, so the inbox can
never show a case the case page would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from domain.permissions import CaseAccess, Viewer, relation_to
from domain.vocabulary import Role
from models.case import Case, CaseWatcher
from models.config import ApiClient, Unit, User


def managed_units(session: Session, user_id: str) -> tuple[str, ...]:
    rows = session.exec(
        sqlmodel_select(Unit.id)
        .where(or_(col(Unit.manager_id) == user_id, col(Unit.field_manager_id) == user_id))
        .order_by(col(Unit.id))
    ).all()
    return tuple(rows)


def viewer_for(session: Session, user: User) -> Viewer:
    return Viewer(user.id, user.name, Role(user.role), managed_units(session, user.id))


def viewers_for(session: Session, users: Iterable[User]) -> dict[str, Viewer]:
    """`viewer_for` for many users, by id: one query for all their units."""
    by_id = {u.id: u for u in users}
    managed: dict[str, list[str]] = {uid: [] for uid in by_id}
    if by_id:
        ids = list(by_id)
        rows = session.exec(
            sqlmodel_select(Unit.id, Unit.manager_id, Unit.field_manager_id)
            .where(or_(col(Unit.manager_id).in_(ids), col(Unit.field_manager_id).in_(ids)))
            .order_by(col(Unit.id))
        ).all()
        for unit_id, manager_id, field_manager_id in rows:
            for uid in {manager_id, field_manager_id} & managed.keys():
                assert uid is not None
                managed[uid].append(unit_id)
    return {
        uid: Viewer(u.id, u.name, Role(u.role), tuple(managed[uid])) for uid, u in by_id.items()
    }


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
    watcher = None
    if not viewer.is_admin and case.owner_id != viewer.user_id:
        watcher = session.get(CaseWatcher, (case.id, viewer.user_id))
    relation = relation_to(
        viewer, case.owner_id, case.unit_id, watcher.access if watcher is not None else None
    )
    return CaseAccess(relation) if relation is not None else None


def token_viewer(session: Session, client: ApiClient) -> Viewer | None:
    """A personal API token reads as its user: their Viewer (an inactive user's sees nothing);
    None for a service client (its programs/units limit it instead)."""
    if client.user_id is None:
        return None
    user = session.get(User, client.user_id)
    if user is None or not user.active:
        return Viewer(client.user_id, "", Role.AGENT, ())
    return viewer_for(session, user)
