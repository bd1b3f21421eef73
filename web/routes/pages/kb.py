"""The knowledge base's pages: the list with its search, an article, and the writer's forms.

Everyone signed in reads published articles; unit managers and admins (services.kb.may_write)
also see drafts, write, publish and unpublish. The article's Markdown is shown through
web/markdown.py (rendered, then sanitised against an allow-list).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from core.threads import in_thread
from domain.permissions import Viewer
from domain.vocabulary import ArticleStatus
from models.kb import KbArticle
from services.audit import user_actor
from services.kb import (
    KbRefused,
    create_article,
    get_article,
    list_articles,
    may_write,
    program_ids,
    reader_for,
    update_article,
)
from web.auth import CurrentUser, not_allowed, not_found
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.markdown import render as markdown
from web.storable import form_problems
from web.templating import FLASH, render

router = APIRouter()

# services.kb's refusals, in the reader's language.
KB_WORDS = (
    N_("Give the article a title."),
    N_("The title is limited to 200 characters."),
    N_("The text is limited to 50,000 characters."),
    N_("Choose a program."),
    N_("Choose draft or published."),
)


def _writer(viewer: Viewer) -> None:
    if not may_write(viewer):
        raise not_allowed(N_("Only unit managers and administrators write the knowledge base."))


def _article(session: Session, viewer: Viewer, article_id: int) -> KbArticle:
    try:
        return get_article(session, reader_for(viewer), article_id)
    except KbRefused as exc:
        raise not_found(N_("This article")) from exc


@router.get("/kb")
async def kb_list(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The articles, newest first; `q` searches their titles and texts."""

    def load() -> list[KbArticle]:
        with Session(engine) as session:
            return list_articles(session, reader_for(viewer), query=q)

    ctx = {
        "title": N_("Knowledge base"),
        "articles": await in_thread(load),
        "q": q,
        "can_write": may_write(viewer),
        "flash": request.session.pop(FLASH, None),
    }
    return render(request, "kb_list.html", ctx)


def _form_page(
    request: Request, engine: Any, values: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    with Session(engine) as session:
        programs = list(program_ids(session))
    editing = values.get("id")
    ctx = {
        "title": N_("Edit article") if editing else N_("New article"),
        "values": values,
        "errors": errors,
        "programs": programs,
        "statuses": (ArticleStatus.DRAFT, ArticleStatus.PUBLISHED),
    }
    return render(request, "kb_form.html", ctx, status=status)


def _values(form: Any) -> dict[str, str]:
    return {
        k: (form.get(k) if isinstance(form.get(k), str) else "") or ""
        for k in ("program_id", "title", "body", "status")
    }


@router.get("/kb/new")
def kb_new(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _writer(viewer)
    return _form_page(request, engine, {"status": ArticleStatus.DRAFT}, {}, 200)


@router.post("/kb/new")
async def kb_create(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _writer(viewer)
    form = await request.form()
    values = _values(form)
    if bad := form_problems(form):
        return _form_page(request, engine, values, bad, 422)

    def create() -> int:
        with Session(engine) as session:
            a = create_article(session, user_actor(viewer), **values)
            assert a.id is not None
            return a.id

    try:
        article_id = await in_thread(create)
    except KbRefused as exc:
        errors = {exc.field or "title": gettext(exc.message)}
        return _form_page(request, engine, values, errors, exc.status)
    request.session[FLASH] = gettext("Article saved.")
    return RedirectResponse(f"/kb/{article_id}", status_code=303)


@router.get("/kb/{article_id}")
def kb_article(
    article_id: int, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    with Session(engine) as session:
        article = _article(session, viewer, article_id)
    ctx = {
        "title": article.title,
        "article": article,
        "html": markdown(article.body),
        "can_write": may_write(viewer),
        "flash": request.session.pop(FLASH, None),
    }
    return render(request, "kb_article.html", ctx)


@router.get("/kb/{article_id}/edit")
def kb_edit(article_id: int, request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _writer(viewer)
    with Session(engine) as session:
        a = _article(session, viewer, article_id)
    values = {
        "id": str(a.id),
        "program_id": a.program_id,
        "title": a.title,
        "body": a.body,
        "status": a.status,
    }
    return _form_page(request, engine, values, {}, 200)


@router.post("/kb/{article_id}/edit")
async def kb_save(
    article_id: int, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    _writer(viewer)
    form = await request.form()
    values = _values(form)
    if bad := form_problems(form):
        return _form_page(request, engine, values | {"id": str(article_id)}, bad, 422)

    def save() -> None:
        with Session(engine) as session:
            a = _article(session, viewer, article_id)
            update_article(session, a, user_actor(viewer), **values)

    try:
        await in_thread(save)
    except KbRefused as exc:
        errors = {exc.field or "title": gettext(exc.message)}
        return _form_page(request, engine, values | {"id": str(article_id)}, errors, exc.status)
    request.session[FLASH] = gettext("Article saved.")
    return RedirectResponse(f"/kb/{article_id}", status_code=303)
