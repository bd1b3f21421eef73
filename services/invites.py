"""One-time links mailed to people: an admin's invitation, and a password reset.

A link's token is 256 random bits in the URL; only its SHA-256 is kept (`account_link`). It
works until it expires (INVITE_VALID_DAYS, PASSWORD_RESET_VALID_MINUTES) and once: setting the
password through it stamps it used, ends every session of that user and the other open links
of theirs. Every step is audited, never the token. A reset asked for an unknown address does
nothing the asker can tell apart (no error, the mail is sent off the request's thread).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from pydantic import ValidationError
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from core.settings import Settings
from domain.audit import Actor
from domain.fields import unstorable
from domain.passwords import password_problem
from domain.program import ConfigDoc, UnitIn, UserIn
from domain.vocabulary import AuditAction, AuditActor, AuditObject, AuditVia, LinkPurpose, Role
from models.config import Unit, User
from models.sessions import AccountLink
from models.types import utcnow
from services import sessions
from services.account_mail import MailNotSent, send_account_mail
from services.audit import record
from services.configuration import apply_in, export_config, user_state

log = logging.getLogger(__name__)

# (link URL, the user's name) -> (subject, body): the pages write the mail in their language.
Compose = Callable[[str, str], tuple[str, str]]

# Refusals, as shown (the pages translate them).
ID_TAKEN = "A user with this user name exists already."
BAD_ID = "A user name has 1 to 64 letters, digits or . _ @ - (no spaces)."
BAD_NAME = "Give the person's name (1 to 200 characters)."
BAD_EMAIL = "Give a valid email address: the invitation is sent there."
BAD_ROLE = "Choose a role."
UNIT_TAKEN = "One of the chosen units has someone in that place already."
UNKNOWN_UNIT = "One of the chosen units does not exist."
EMAIL_TAKEN = "Another user has this email address already."
NO_EMAIL = "This user has no email address to send a link to."
NO_SUCH_USER = "There is no such user."
MAIL_FAILED = "The mail could not be sent. Check the mail server and send it again."
REFUSALS: tuple[str, ...] = (ID_TAKEN, BAD_ID, BAD_NAME, BAD_EMAIL, BAD_ROLE, UNIT_TAKEN)
REFUSALS += (UNKNOWN_UNIT, NO_EMAIL, NO_SUCH_USER, EMAIL_TAKEN)
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")

_hasher = PasswordHasher()


class InviteRefused(ValueError):
    """Not invited; `field` is the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LinkState:
    """What a link's token names: `status` "valid", "used", "expired" or "unknown"."""

    status: str
    purpose: str = ""
    user_id: str = ""
    name: str = ""


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_path(purpose: str, token: str) -> str:
    return f"/{'invite' if purpose == LinkPurpose.INVITE else 'reset'}/{token}"


def _valid_for(settings: Settings, purpose: str) -> timedelta:
    if purpose == LinkPurpose.INVITE:
        return timedelta(days=settings.invite_valid_days)
    return timedelta(minutes=settings.password_reset_valid_minutes)


def _new_link(
    session: Session, settings: Settings, purpose: str, user_id: str
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + _valid_for(settings, purpose)
    session.add(AccountLink(id=_key(token), purpose=purpose, user_id=user_id, expires_at=expires))
    return settings.public_base_url.rstrip("/") + link_path(purpose, token), expires


def list_units(engine: Engine) -> list[Unit]:
    with Session(engine) as session:
        units = list(session.exec(select(Unit).order_by(col(Unit.id))).all())
        for u in units:
            session.expunge(u)
    return units


def _new_user(session: Session, user_id: str, name: str, email: str, role: str) -> UserIn:
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", user_id):
        raise InviteRefused("user_id", BAD_ID)
    if session.get(User, user_id) is not None:
        raise InviteRefused("user_id", ID_TAKEN)
    if not name.strip() or len(name) > 200 or unstorable(name):
        raise InviteRefused("name", BAD_NAME)
    if len(email) > 320 or not EMAIL.match(email) or unstorable(email):
        raise InviteRefused("email", BAD_EMAIL)
    taken = select(User.id).where(func.lower(col(User.email)) == email.lower())
    if session.exec(taken).first() is not None:  # one address, one person (single sign-on)
        raise InviteRefused("email", EMAIL_TAKEN)
    if role not in tuple(Role):
        raise InviteRefused("role", BAD_ROLE)
    try:
        return UserIn(id=user_id, name=name.strip(), email=email, role=Role(role))
    except ValidationError as exc:
        raise InviteRefused("name", BAD_NAME) from exc


def _unit_places(doc: ConfigDoc, user_id: str, role: str, units: list[str]) -> list[UnitIn]:
    """The chosen units with the new user in them: their manager (managers, admins) or their
    frontline owner (agents); a place someone holds already is refused, not taken over."""
    place = "frontline_owner" if role == Role.AGENT else "manager"
    known = {u.id: u for u in doc.units}
    changed = []
    for unit_id in dict.fromkeys(units):
        unit = known.get(unit_id)
        if unit is None:
            raise InviteRefused("units", UNKNOWN_UNIT)
        if getattr(unit, place):
            raise InviteRefused("units", UNIT_TAKEN)
        changed.append(unit.model_copy(update={place: user_id}))
    return changed


def invite(
    engine: Engine,
    settings: Settings,
    actor: Actor,
    compose: Compose,
    *,
    user_id: str,
    name: str,
    email: str,
    role: str,
    units: list[str],
) -> User:
    """A new user who signs in once they set a password through the mailed link.

    The user is created (and audited) before the mail goes out; MailNotSent then means the
    admin sends the invitation again from the users page (a new link)."""
    user_id, email = user_id.strip(), email.strip()
    with Session(engine) as session:
        user = _new_user(session, user_id, name, email, role)
        doc = export_config(session)
        changed = _unit_places(doc, user_id, role, units)
        data = doc.model_dump(mode="json")
        data["users"].append(user.model_dump(mode="json"))
        ids = {u.id for u in changed}
        data["units"] = [u for u in data["units"] if u["id"] not in ids] + [
            u.model_dump(mode="json") for u in changed
        ]
        try:
            ConfigDoc.model_validate(data)
        except ValidationError as exc:
            raise InviteRefused("user_id", BAD_ID) from exc
        apply_in(
            session, ConfigDoc.model_construct(users=[user], units=changed, programs=[]), actor
        )
        url, expires = _new_link(session, settings, LinkPurpose.INVITE, user_id)
        after = {"email": email, "link_expires_at": expires.isoformat()}
        record(session, actor, AuditObject.USER, user_id, None, after, AuditAction.INVITE)
        session.commit()
        created = session.get(User, user_id)
        assert created is not None
        session.expunge(created)
    subject, body = compose(url, created.name)
    send_account_mail(settings, email, subject, body)
    return created


def send_link(
    engine: Engine, settings: Settings, actor: Actor, compose: Compose, user_id: str
) -> str:
    """An admin sends a user a fresh link: an invitation while they have no password, else a
    reset. Their earlier open links stop working. The purpose sent."""
    with Session(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            raise InviteRefused("user", NO_SUCH_USER)
        if not user.email:
            raise InviteRefused("user", NO_EMAIL)
        purpose = LinkPurpose.RESET if user.password_hash else LinkPurpose.INVITE
        _close_links(session, user_id)
        url, expires = _new_link(session, settings, purpose, user_id)
        after = {"email": user.email, "link_expires_at": expires.isoformat()}
        action = AuditAction.RESET_SENT if purpose == LinkPurpose.RESET else AuditAction.INVITE
        record(session, actor, AuditObject.USER, user_id, None, after, action)
        session.commit()
        email, name = user.email, user.name
    subject, body = compose(url, name)
    send_account_mail(settings, email, subject, body)
    return purpose


def someone() -> Actor:
    """Whoever asked for a reset on the signed-out page (they proved nothing yet)."""
    return Actor(AuditActor.USER, "-", "(not signed in)", AuditVia.PAGE)


def request_reset(engine: Engine, settings: Settings, address: str, compose: Compose) -> None:
    """A reset link to the active user with this email address (or user name), if there is
    one; the mail goes out on its own thread, so the answer takes as long either way."""
    address = address.strip()
    if not address or len(address) > 320:
        return
    with Session(engine) as session:
        user = session.exec(
            select(User).where(
                (func.lower(col(User.email)) == address.lower()) | (col(User.id) == address)
            )
        ).first()
        if user is None or not user.active or not user.email:
            return
        _close_links(session, user.id, LinkPurpose.RESET)
        url, expires = _new_link(session, settings, LinkPurpose.RESET, user.id)
        after = {"email": user.email, "link_expires_at": expires.isoformat()}
        record(session, someone(), AuditObject.USER, user.id, None, after, AuditAction.RESET_SENT)
        session.commit()
        email, name = user.email, user.name
    subject, body = compose(url, name)

    def deliver() -> None:
        try:
            send_account_mail(settings, email, subject, body)
        except MailNotSent:
            log.warning("a password reset mail was not sent")

    threading.Thread(target=deliver, name="reset-mail", daemon=True).start()


def _close_links(session: Session, user_id: str, purpose: str | None = None) -> None:
    stmt = update(AccountLink).where(
        col(AccountLink.user_id) == user_id, col(AccountLink.used_at).is_(None)
    )
    if purpose:
        stmt = stmt.where(col(AccountLink.purpose) == purpose)
    session.exec(stmt.values(used_at=utcnow()))


def _state(session: Session, token: str) -> tuple[LinkState, AccountLink | None, User | None]:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return LinkState("unknown"), None, None
    link = session.get(AccountLink, _key(token))
    user = session.get(User, link.user_id) if link is not None else None
    if link is None or user is None:
        return LinkState("unknown"), None, None
    expires = link.expires_at if link.expires_at.tzinfo else link.expires_at.replace(tzinfo=UTC)
    status = (
        "used"
        if link.used_at is not None
        else "expired"
        if expires <= datetime.now(UTC) or not user.active
        else "valid"
    )
    return LinkState(status, link.purpose, user.id, user.name), link, user


def link_state(engine: Engine, token: str) -> LinkState:
    with Session(engine) as session:
        return _state(session, token)[0]


class PasswordRefused(ValueError):
    """The new password breaks a rule (domain/passwords.py); the message says which."""


def use_link(
    engine: Engine, token: str, password: str, again: str
) -> tuple[LinkState, User | None]:
    """Set the password through a valid link: once (a second use finds it used), every
    session of that user ended, audited as the user's own change. The user to sign in."""
    with Session(engine) as session:
        state, link, user = _state(session, token)
        if state.status != "valid" or link is None or user is None:
            return state, None
        problem = password_problem(password, again, user.id, user.email)
        if problem:
            raise PasswordRefused(problem)
        taken = session.exec(
            update(AccountLink)
            .where(col(AccountLink.id) == link.id, col(AccountLink.used_at).is_(None))
            .values(used_at=utcnow())
        )
        if taken.rowcount != 1:  # the same link used at the same moment elsewhere
            return LinkState("used", state.purpose, user.id, user.name), None
        _close_links(session, user.id)
        before = user_state(user)
        user.password_hash = _hasher.hash(password)
        session.add(user)
        sessions.end_all(session, user.id)
        me = Actor(AuditActor.USER, user.id, user.name, AuditVia.PAGE)
        record(
            session,
            me,
            AuditObject.USER,
            user.id,
            before,
            user_state(user),
            AuditAction.PASSWORD_SET,
        )
        session.commit()
        session.refresh(user)
        session.expunge(user)
    return state, user
