"""Users as admins change them on the pages: role, deactivation, reactivation.

Validated like any configuration write (the whole configuration as it would be after it),
applied to that user only, and audited. Deactivation signs the user out at once; nothing here
touches another user's password hash, so nobody else is signed out.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.audit import Actor
from domain.program import ConfigDoc, error_location
from domain.vocabulary import Role, values
from models.audit import AuditEntry
from models.config import User
from services import sessions
from services.configuration import apply_in, export_config


class UserRefused(ValueError):
    """A change that is not made; the message is shown at the user's row."""


SELF = "You cannot take your own admin rights or deactivate yourself."


def list_users(engine: Engine) -> list[User]:
    with Session(engine) as session:
        users = list(session.exec(select(User).order_by(col(User.id))).all())
        for u in users:
            session.expunge(u)
    return users


def change_user(
    engine: Engine,
    user_id: str,
    actor: Actor,
    *,
    role: str | None = None,
    active: bool | None = None,
) -> AuditEntry | None:
    """Set the user's role and/or active flag; the audit entry (None: nothing changed)."""
    if role is not None and role not in values(Role):
        raise UserRefused(f"Unknown role {role!r}.")
    if user_id == actor.id and (active is False or role not in (None, Role.ADMIN)):
        raise UserRefused(SELF)
    with Session(engine) as session:
        doc = export_config(session)
        found = [u for u in doc.users if u.id == user_id]
        if not found:
            raise UserRefused(f"No user {user_id!r}.")
        update: dict[str, object] = {}
        if role is not None:
            update["role"] = Role(role)
        if active is not None:
            update["active"] = active
        user = found[0].model_copy(update=update)
        data = doc.model_dump(mode="json")
        data["users"] = [
            user.model_dump(mode="json") if u["id"] == user_id else u for u in data["users"]
        ]
        try:
            ConfigDoc.model_validate(data)
        except ValidationError as exc:
            _, msg = error_location(exc.errors()[0])
            raise UserRefused(f"Not changed: {msg}.") from exc
        only = ConfigDoc.model_construct(users=[user], units=[], programs=[])
        entries = apply_in(session, only, actor)
        if active is False:
            sessions.end_all(session, user_id)
        session.commit()
        for e in entries:
            session.refresh(e)
            session.expunge(e)
    return entries[0] if entries else None
