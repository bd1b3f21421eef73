"""The knowledge base over the API: list and search, read, write, publish and unpublish.

`kb:read` reads published articles; `kb:write` also reads drafts, creates and patches (a
change of `status` is a publish or unpublish, in the audit log). A token limited to programs
sees and writes only theirs; a personal token writes only if its user may (unit managers and
admins), as on the pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from core.threads import in_thread
from domain.fields import ArticleStatusValue, StorableStr
from domain.vocabulary import ArticleStatus
from models.config import ApiClient
from models.kb import KbArticle
from services.access import token_viewer
from services.audit import api_actor
from services.kb import KbRefused, Reader, create_article, get_article, list_articles, may_write
from services.kb import update_article as patch_article
from services.tokens import allows
from web.api_auth import require_scope
from web.deps import EngineDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(prefix="/kb/articles", tags=["knowledge base"], responses=PROBLEMS)

KbRead = Annotated[ApiClient, require_scope("kb:read")]
KbWrite = Annotated[ApiClient, require_scope("kb:write")]
ArticleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    program_id: StorableStr = Field(min_length=1, max_length=64)
    title: StorableStr = Field(min_length=1, max_length=200)
    body: StorableStr = Field(default="", max_length=50_000, description="Markdown")
    status: ArticleStatusValue = ArticleStatus.DRAFT


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    program_id: StorableStr | None = Field(default=None, min_length=1, max_length=64)
    title: StorableStr | None = Field(default=None, min_length=1, max_length=200)
    body: StorableStr | None = Field(default=None, max_length=50_000, description="Markdown")
    status: ArticleStatusValue | None = None


class ArticlePublic(BaseModel):
    id: int
    program_id: str
    title: str
    body: str
    status: str
    author_id: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None

    @classmethod
    def of(cls, a: KbArticle) -> ArticlePublic:
        assert a.id is not None
        return cls(**a.model_dump())


def _reader(session: Session, client: ApiClient, writing: bool = False) -> Reader:
    """What the token reads: drafts with kb:write (and, for a personal token, a writer user)."""
    writer = allows(list(client.scopes or []), "kb:write")
    viewer = token_viewer(session, client)
    if viewer is not None and not may_write(viewer):
        writer = False
    if writing and not writer:
        raise Problem(403, "Not a writer", "Only unit managers and admins write articles")
    return Reader(writer=writer, programs=tuple(client.programs or ()))


def _problem(exc: KbRefused) -> Problem:
    title = "Article not found" if exc.status == 404 else "Invalid article"
    return Problem(exc.status, title, exc.message, field=exc.field)


@router.get("", response_model=list[ArticlePublic])
async def list_kb(
    client: KbRead,
    engine: EngineDep,
    q: Annotated[str | None, Query(max_length=200, description="Words to search for")] = None,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ArticlePublic]:
    """Articles newest first, or those matching `q` (full text over title and body)."""

    def load() -> list[ArticlePublic]:
        with Session(engine) as session:
            reader = _reader(session, client)
            found = list_articles(
                session, reader, query=q or "", program_id=program_id, limit=limit
            )
            return [ArticlePublic.of(a) for a in found]

    return await in_thread(load)


@router.get("/{article_id}", response_model=ArticlePublic)
async def read_kb(article_id: ArticleId, client: KbRead, engine: EngineDep) -> ArticlePublic:
    def load() -> ArticlePublic:
        with Session(engine) as session:
            return ArticlePublic.of(get_article(session, _reader(session, client), article_id))

    try:
        return await in_thread(load)
    except KbRefused as exc:
        raise _problem(exc) from exc


@router.post("", response_model=ArticlePublic, status_code=201)
async def create_kb(body: ArticleIn, client: KbWrite, engine: EngineDep) -> ArticlePublic:
    """A new article (a draft unless `status` is published)."""

    def create() -> ArticlePublic:
        with Session(engine) as session:
            reader = _reader(session, client, writing=True)
            if reader.programs and body.program_id not in reader.programs:
                raise KbRefused(422, "Choose a program.", "program_id")
            a = create_article(session, api_actor(client), **body.model_dump())
            return ArticlePublic.of(a)

    try:
        return await in_thread(create)
    except KbRefused as exc:
        raise _problem(exc) from exc


@router.patch("/{article_id}", response_model=ArticlePublic)
async def update_kb(
    article_id: ArticleId, body: ArticlePatch, client: KbWrite, engine: EngineDep
) -> ArticlePublic:
    """Change what is given; `status` publishes or unpublishes."""

    def save() -> ArticlePublic:
        with Session(engine) as session:
            reader = _reader(session, client, writing=True)
            a = get_article(session, reader, article_id)
            if reader.programs and body.program_id and body.program_id not in reader.programs:
                raise KbRefused(422, "Choose a program.", "program_id")
            changes = body.model_dump(exclude_none=True)
            return ArticlePublic.of(patch_article(session, a, api_actor(client), **changes))

    try:
        return await in_thread(save)
    except KbRefused as exc:
        raise _problem(exc) from exc
