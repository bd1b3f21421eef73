"""Saved inbox views: save (replace by name), list (own and shared with the viewer's units),
delete (own only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from models.config import Unit, User
from models.types import utcnow
from models.views import SavedView

# The inbox's query parameters a view keeps (never a cursor: a view opens on its first page).
VIEW_PARAMS = ("tab", "status", "q", "sort", "due", "owner", "escalated")
NAME_MAX = 100


class ViewRejected(Exception):
    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class ViewLink:
    id: int
    name: str
    params: dict[str, str]
    mine: bool
    unit_name: str | None  # shared with this unit


def clean_params(params: dict[str, Any]) -> dict[str, str]:
    return {
        k: str(v)[:200]
        for k, v in params.items()
        if k in VIEW_PARAMS and v not in (None, "", False)
    }


def member_units(session: Session, user_id: str) -> list[tuple[str, str]]:
    """The units a person belongs to (frontline owner, manager or field manager): a view
    shared with one of them is theirs to see."""
    rows = session.exec(
        select(Unit.id, Unit.name)
        .where(
            or_(
                col(Unit.frontline_owner_id) == user_id,
                col(Unit.manager_id) == user_id,
                col(Unit.field_manager_id) == user_id,
            )
        )
        .order_by(col(Unit.name), col(Unit.id))
    ).all()
    return [(u, n) for u, n in rows]


def save_view(
    engine: Engine, user_id: str, name: str, unit_id: str | None, params: dict[str, Any]
) -> int:
    """Save (or replace, by name) the viewer's view; ViewRejected for a bad name or a unit
    they do not belong to."""
    name = " ".join(name.split())
    if not name:
        raise ViewRejected("Give the view a name.")
    if len(name) > NAME_MAX:
        raise ViewRejected(f"A view's name is limited to {NAME_MAX} characters.")
    with Session(engine) as session:
        if unit_id and unit_id not in {u for u, _ in member_units(session, user_id)}:
            raise ViewRejected("You can share a view only with a unit you belong to.", "unit")
        view = session.exec(
            select(SavedView).where(col(SavedView.owner_id) == user_id, col(SavedView.name) == name)
        ).first()
        if view is None:
            view = SavedView(owner_id=user_id, name=name)
        view.unit_id = unit_id or None
        view.params = clean_params(params)
        view.created_at = utcnow()
        session.add(view)
        session.commit()
        assert view.id is not None
        return view.id


def views_for(
    session: Session, user_id: str, units_of_user: list[tuple[str, str]] | None = None
) -> list[ViewLink]:
    """The viewer's own views, then those shared with their units by others; by name."""
    units = dict(units_of_user if units_of_user is not None else member_units(session, user_id))
    clause = col(SavedView.owner_id) == user_id
    if units:
        clause = or_(clause, col(SavedView.unit_id).in_(list(units)))
    rows = session.exec(select(SavedView).where(clause)).all()
    owners = {v.owner_id for v in rows}
    names = dict(session.exec(select(User.id, User.name).where(col(User.id).in_(owners))).all())
    out = [
        ViewLink(
            v.id or 0,
            v.name if v.owner_id == user_id else f"{v.name} (by {names.get(v.owner_id, '?')})",
            dict(v.params or {}),
            v.owner_id == user_id,
            units.get(v.unit_id) if v.unit_id else None,
        )
        for v in rows
    ]
    return sorted(out, key=lambda v: (not v.mine, v.name.lower(), v.id))


def delete_view(engine: Engine, user_id: str, view_id: int) -> bool:
    """Delete one of the viewer's own views; False when there is none by that id (gone
    already, or someone else's: the same answer, idempotent)."""
    with Session(engine) as session:
        view = session.get(SavedView, view_id)
        if view is None or view.owner_id != user_id:
            return False
        session.delete(view)
        session.commit()
        return True
