"""Related and merged cases in the API (issue 18): list, relate, unrelate, merge, unmerge.

The same service as the case page (services/case_links.py): the token must see both cases, and
the acting user must be allowed to change both (to unmerge: to reopen the duplicate). Every
write is idempotent under retry: relating twice, unrelating what is not related, merging into
the same primary again (which also finishes a merge cut short) and unmerging a case already
taken out all answer with the links as they are.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlmodel import Session

from domain.case import Actor
from domain.permissions import Viewer
from domain.vocabulary import Role
from models.api import CaseLinkIn, CaseLinksPublic, MergeIn, UnmergeIn
from models.case import Case
from models.config import ApiClient, User
from services import case_links
from services.access import token_viewer, viewer_for
from services.case_actions import ActionRejected
from services.tokens import sees
from web.api_auth import CasesRead
from web.deps import SessionDep
from web.problems import Problem
from web.routes.api_v1.cases import (
    PENDING,
    PROBLEMS,
    READ,
    WRITE,
    CaseAction,
    CaseActionDep,
    _actor_on_case,
    _read,
    _visible,
)

router = APIRouter(prefix="/cases", tags=["case links"], responses=PROBLEMS)
CaseId = Annotated[str, Path(min_length=1, max_length=20)]
ActingUser = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="On whose behalf (a delegating client)"),
]


def _viewer_of(session: Session, actor: Actor) -> Viewer:
    user = session.get(User, actor.user_id)
    if user is None or not user.active:
        raise Problem(
            422, "Action rejected", f"No active user {actor.user_id}", field="acting_user"
        )
    return viewer_for(session, user)


def _acting(
    session: Session, action: CaseAction, acting_user: str | None, other_id: str | None
) -> tuple[Actor, Viewer]:
    """The actor and their viewer, once the token sees this case (and the other one)."""
    actor = _actor_on_case(session, action.case_id, action.client, acting_user)
    if other_id is not None:
        other = other_id.strip().upper()
        if session.get(Case, other) is None:
            raise Problem(404, "Case not found", f"No case {other}", field="other_id")
        _visible(session, action.client, other)
    return actor, _viewer_of(session, actor)


def _reading(session: Session, client: ApiClient, case_id: str) -> CaseLinksPublic:
    """The links a token may read: a personal token's as its user sees them; a service
    client's limited to its programs and units."""
    case = _visible(session, client, case_id)
    viewer = token_viewer(session, client) or Viewer("api", "", Role.ADMIN)
    links = case_links.links_of(session, viewer, case)

    def seen(other: Case) -> bool:
        return sees(client, other.program_id, other.unit_id)

    return CaseLinksPublic(
        case_id=case.id,
        related=[c.id for c in links.related if seen(c)],
        merged=[m.case.id for m in links.merged if seen(m.case)],
        merged_into=links.merged_into,
        reversible=links.reversible,
        pending=links.pending,
    )


@router.get("/{case_id}/links", response_model=CaseLinksPublic, dependencies=READ)
def read_links(case_id: CaseId, client: CasesRead, session: SessionDep) -> CaseLinksPublic:
    """The case's related cases, the duplicates merged into it and the primary it was merged
    into."""
    return _reading(session, client, case_id)


def _refused(exc: ActionRejected) -> Problem:
    extra = {"field": exc.field} if exc.field else {}
    return Problem(exc.status, "Action rejected", exc.message, **extra)


async def _done(action: CaseAction, case_id: str) -> CaseLinksPublic:
    return await _read(action.engine, _reading, action.client, case_id)


@router.post("/{case_id}/links", response_model=CaseLinksPublic, dependencies=WRITE)
async def relate(body: CaseLinkIn, action: CaseActionDep) -> CaseLinksPublic:
    """Relate another case to this one; both pages list it. Relating again changes nothing."""

    def work(session: Session) -> None:
        _actor, viewer = _acting(session, action, body.acting_user, body.other_id)
        case = session.get(Case, action.case_id)
        assert case is not None
        case_links.relate(session, viewer, case, body.other_id)

    try:
        await _read(action.engine, work)
    except ActionRejected as exc:
        raise _refused(exc) from exc
    return await _done(action, action.case_id)


@router.delete("/{case_id}/links/{other_id}", response_model=CaseLinksPublic, dependencies=WRITE)
async def unrelate(
    other_id: CaseId, action: CaseActionDep, acting_user: ActingUser = None
) -> CaseLinksPublic:
    """The cases are no longer related (nothing to do if they were not)."""

    def work(session: Session) -> None:
        _actor, viewer = _acting(session, action, acting_user, None)
        case = session.get(Case, action.case_id)
        assert case is not None
        if not case_links.may_change(session, viewer, case):
            raise Problem(403, "Action rejected", f"You may not change {case.id}")
        case_links.unrelate(session, case, other_id)

    try:
        await _read(action.engine, work)
    except ActionRejected as exc:
        raise _refused(exc) from exc
    return await _done(action, action.case_id)


@router.post(
    "/{case_id}/merge", response_model=CaseLinksPublic, responses=PENDING, dependencies=WRITE
)
async def merge(body: MergeIn, action: CaseActionDep) -> CaseLinksPublic:
    """Merge this case (the duplicate) into `primary_id`: it closes as merged and the primary
    lists its notes, documents and contact. Asking again finishes or repeats nothing."""
    try:
        actor, viewer = await _read(
            action.engine, _acting, action, body.acting_user, body.primary_id
        )
        primary = await case_links.merge(
            action.temporal,
            action.engine,
            action.settings,
            viewer,
            actor,
            action.case_id,
            body.primary_id,
        )
    except ActionRejected as exc:
        raise _refused(exc) from exc
    return await _done(action, primary)


@router.post(
    "/{case_id}/unmerge", response_model=CaseLinksPublic, responses=PENDING, dependencies=WRITE
)
async def unmerge(body: UnmergeIn, action: CaseActionDep) -> CaseLinksPublic:
    """Take this duplicate out of its primary (reopened), until the primary closes. A case
    already taken out (a retry) answers with its links as they are."""
    try:
        actor, viewer = await _read(action.engine, _acting, action, body.acting_user, None)
        await case_links.unmerge(
            action.temporal, action.engine, action.settings, viewer, actor, action.case_id
        )
    except ActionRejected as exc:
        if not (exc.status == 409 and await _read(action.engine, _open_unmerged, action.case_id)):
            raise _refused(exc) from exc
    return await _done(action, action.case_id)


def _open_unmerged(session: Session, case_id: str) -> bool:
    case = session.get(Case, case_id)
    return case is not None and case.is_open and case_links.merged_into(session, case_id) is None
