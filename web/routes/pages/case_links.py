"""The case page's links (issue 18): related cases, merging a duplicate into its primary and
undoing it, and the knowledge-base articles linked to the case (search, link, unlink, insert
into a reply). Each form posts here and comes back to the case page with the outcome.

`case_links_context` is what the case page shows of them (templates `_case_links.html` and
`_case_kb.html`); services/case_links.py and services/kb.py do the work and the checks.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from core.threads import in_thread
from domain.case import Actor
from domain.permissions import Viewer
from models.case import Case
from services import case_links, kb
from services.access import access_to
from services.case_actions import ActionPending, ActionRejected
from services.outages import Unavailable
from web.auth import CurrentUser, not_found
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.i18n import N_, gettext
from web.storable import form_problems
from web.templating import FLASH

router = APIRouter()


def case_links_context(session: Session, viewer: Viewer, case: Case) -> dict[str, Any]:
    """What the case page shows of its links and articles."""
    return {
        "links": case_links.links_of(session, viewer, case),
        "kb_linked": kb.case_articles(session, kb.reader_for(viewer), case.id),
        "kb_results": None,
        "kbq": "",
    }


def kb_search(session: Session, viewer: Viewer, case: Case, query: str) -> list[Any]:
    """The case page's knowledge-base search: the case's program's articles."""
    reader = kb.reader_for(viewer)
    return kb.list_articles(session, reader, query=query, program_id=case.program_id, limit=10)


def kb_insert(session: Session, viewer: Viewer, case: Case, article_id: int) -> dict[str, str]:
    """The reply form's subject and text with the article's text in it; empty if not found."""
    try:
        article = kb.get_article(session, kb.reader_for(viewer), article_id)
    except kb.KbRefused:
        return {}
    if article.program_id != case.program_id:
        return {}
    return {"template_key": "", "subject": article.title, "text": kb.reply_text(article)}


# ---------------------------------------------------------------- the forms


def _case(session: Session, viewer: Viewer, case_id: str) -> tuple[Case, bool]:
    case = session.get(Case, case_id) if len(case_id) <= 20 else None
    access = access_to(session, viewer, case) if case is not None else None
    if case is None or access is None:
        raise not_found(N_("This case"))
    return case, access.can_act and case.is_open


def _back(request: Request, case_id: str, news: str, anchor: str = "") -> Response:
    request.session[FLASH] = news
    return RedirectResponse(f"/cases/{case_id}{anchor}", status_code=303)


def _text(form: Any, name: str, limit: int = 40) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _actor(viewer: Viewer) -> Actor:
    return Actor(viewer.user_id, viewer.role, viewer.name)


async def _begin(
    request: Request, viewer: Viewer, engine: Any, case_id: str, act: bool = True
) -> tuple[Any, Case]:
    """The form and the case; refused (ActionRejected) when the form holds what cannot be
    stored, or, with `act`, when the viewer may not change the case (merge and unmerge leave
    that to the service, which checks both cases)."""
    form = await request.form()

    def load() -> tuple[Case, bool]:
        with Session(engine) as session:
            return _case(session, viewer, case_id)

    case, can_act = await in_thread(load)
    if form_problems(form):
        raise ActionRejected(422, gettext("That text cannot be stored."))
    if act and not can_act:
        raise ActionRejected(403, gettext("You may not change %(case)s.", case=case_id))
    return form, case


def _refused(request: Request, case_id: str, message: str, anchor: str = "") -> Response:
    return _back(request, case_id, gettext("Not done: %(why)s", why=message), anchor)


async def _at_field(
    request: Request,
    viewer: Viewer,
    engine: Any,
    settings: Any,
    case_id: str,
    form: tuple[str, str, str],
    message: str,
) -> Response:
    """The case page again (422) with the refusal next to the field that was filled in:
    `form` is (form name, field, value as typed)."""
    from web.routes.pages.cases import (
        FormState,
        _load,
        _render_case,
    )  # here: cases.py imports this module

    name, field, value = form
    ctx = await in_thread(_load, engine, viewer, case_id, settings)
    state = FormState(name=name, values={field: value}, errors={field: message})
    return _render_case(request, ctx, state, 422)


@router.post("/cases/{case_id}/related")
async def relate(
    case_id: str, request: Request, viewer: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> Response:
    """Link another case as related (the viewer must be able to change both); a refusal shows
    at the field."""
    try:
        form, case = await _begin(request, viewer, engine, case_id)
    except ActionRejected as exc:
        if exc.status == 403:  # this case may not change: its page does not show the form
            return _refused(request, case_id, exc.message, "#links")
        typed = ("related", "other_id", "")  # what was typed cannot be stored or shown
        return await _at_field(request, viewer, engine, settings, case_id, typed, exc.message)

    def link() -> str:
        with Session(engine) as session:
            return case_links.relate(session, viewer, case, _text(form, "other_id")).id

    try:
        other = await in_thread(link)
    except ActionRejected as exc:
        typed = ("related", "other_id", _text(form, "other_id"))
        return await _at_field(request, viewer, engine, settings, case_id, typed, exc.message)
    return _back(
        request, case_id, gettext("%(other)s is linked as related.", other=other), "#links"
    )


@router.post("/cases/{case_id}/related/remove")
async def unrelate(
    case_id: str, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    try:
        form, case = await _begin(request, viewer, engine, case_id)
    except ActionRejected as exc:
        return _refused(request, case_id, exc.message, "#links")
    other = _text(form, "other_id")

    def unlink() -> None:
        with Session(engine) as session:
            case_links.unrelate(session, case, other)

    await in_thread(unlink)
    return _back(
        request, case_id, gettext("%(other)s is no longer related.", other=other), "#links"
    )


@router.post("/cases/{case_id}/merge")
async def merge(
    case_id: str,
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """Merge this case (the duplicate) into the primary named in the form; a refusal shows at
    the field."""
    form: Any = {}
    try:
        form, _case_row = await _begin(request, viewer, engine, case_id, act=False)
        primary = await case_links.merge(
            temporal, engine, settings, viewer, _actor(viewer), case_id, _text(form, "primary_id")
        )
    except ActionRejected as exc:
        typed = ("merge", "primary_id", _text(form, "primary_id"))
        return await _at_field(request, viewer, engine, settings, case_id, typed, exc.message)
    except (ActionPending, Unavailable):
        return _refused(request, case_id, gettext("Caseloop is busy; try again shortly."))
    news = gettext("%(dup)s is merged into this case.", dup=case_id)
    return _back(request, primary, news, "#links")


@router.post("/cases/{case_id}/unmerge")
async def unmerge(
    case_id: str,
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """Take the duplicate `case_id` out of its primary again; back to the page it came from."""
    try:
        form, _case_row = await _begin(request, viewer, engine, case_id, act=False)
        primary = await case_links.unmerge(
            temporal, engine, settings, viewer, _actor(viewer), case_id
        )
    except ActionRejected as exc:
        return _refused(request, case_id, exc.message, "#links")
    except (ActionPending, Unavailable):
        return _refused(request, case_id, gettext("Caseloop is busy; try again shortly."))
    back = primary if _text(form, "back") == primary else case_id
    news = gettext("%(dup)s is no longer merged into %(primary)s.", dup=case_id, primary=primary)
    return _back(request, back, news, "#links")


@router.post("/cases/{case_id}/kb")
async def link_article(
    case_id: str, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    """Link a knowledge-base article to the case."""
    try:
        form, case = await _begin(request, viewer, engine, case_id)
        raw = _text(form, "article_id", 12)
        if not raw.isdigit():
            raise ActionRejected(422, gettext("Choose an article."))

        def link() -> None:
            with Session(engine) as session:
                kb.link_article(session, kb.reader_for(viewer), case, int(raw), viewer.user_id)

        await in_thread(link)
    except ActionRejected as exc:
        return _refused(request, case_id, exc.message, "#kb")
    except kb.KbRefused as exc:
        return _refused(request, case_id, gettext(exc.message), "#kb")
    return _back(request, case_id, gettext("Article linked to the case."), "#kb")


@router.post("/cases/{case_id}/kb/remove")
async def unlink_article(
    case_id: str, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    try:
        form, case = await _begin(request, viewer, engine, case_id)
    except ActionRejected as exc:
        return _refused(request, case_id, exc.message, "#kb")
    raw = _text(form, "article_id", 12)

    def unlink() -> None:
        with Session(engine) as session:
            kb.unlink_article(session, case.id, int(raw))

    if raw.isdigit():
        await in_thread(unlink)
    return _back(request, case_id, gettext("Article unlinked from the case."), "#kb")
