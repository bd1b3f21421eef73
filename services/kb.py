"""The knowledge base: a program's articles, who may write them, full-text search, and the
articles linked to cases.

Unit managers and admins write (draft, publish, unpublish: each publish and unpublish is in the
audit log); every signed-in user, and an API token within its programs, reads what is
published. Search is PostgreSQL's full text (`websearch_to_tsquery` against the GIN-indexed
tsvector of migration 0026) or SQLite's FTS5 table, chosen by the session's dialect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, text
from sqlmodel import Session, col, delete, select

from domain.audit import Actor as AuditActor
from domain.permissions import Viewer
from domain.vocabulary import ArticleStatus, AuditAction, AuditObject
from models.case import Case
from models.config import Program
from models.kb import CaseKbLink, KbArticle
from models.types import utcnow
from services.audit import record

TITLE_MAX = 200
BODY_MAX = 50_000
QUERY_MAX = 200
# The words of a query, for SQLite's FTS5 (each one quoted: no FTS5 syntax reaches MATCH).
WORD = re.compile(r"\w+", re.UNICODE)
PG_MATCH = (
    "to_tsvector('simple'::regconfig, kb_article.title || ' ' || kb_article.body) "
    "@@ websearch_to_tsquery('simple'::regconfig, :kbq)"
)


class KbRefused(Exception):
    """Bad input or no right to it: the status a page or the API answers, and the field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def may_write(viewer: Viewer) -> bool:
    """Unit managers and admins write the knowledge base."""
    return viewer.is_admin or bool(viewer.managed_units)


@dataclass(frozen=True)
class Reader:
    """Who reads: drafts too (`writer`), and within which programs (empty: all)."""

    writer: bool = False
    programs: tuple[str, ...] = ()

    def sees(self, article: KbArticle) -> bool:
        if self.programs and article.program_id not in self.programs:
            return False
        return self.writer or article.status == ArticleStatus.PUBLISHED


def reader_for(viewer: Viewer) -> Reader:
    return Reader(writer=may_write(viewer))


def _visible(reader: Reader) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if not reader.writer:
        where.append(col(KbArticle.status) == ArticleStatus.PUBLISHED)
    if reader.programs:
        where.append(col(KbArticle.program_id).in_(reader.programs))
    return where


def search_clause(session: Session, query: str) -> ColumnElement[bool] | None:
    """The full-text condition for `query` on this database; None when it has no words."""
    words = WORD.findall(query[:QUERY_MAX])
    if not words:
        return None
    if session.get_bind().dialect.name == "postgresql":
        return text(PG_MATCH).bindparams(kbq=query[:QUERY_MAX])  # type: ignore[return-value]
    match = " ".join('"' + w + '"' for w in words)
    return col(KbArticle.id).in_(
        text("SELECT rowid FROM kb_article_fts WHERE kb_article_fts MATCH :kbq").bindparams(
            kbq=match
        )
    )


def list_articles(
    session: Session,
    reader: Reader,
    *,
    query: str = "",
    program_id: str | None = None,
    limit: int = 50,
) -> list[KbArticle]:
    """The articles the reader may see, newest first; with `query`, those matching it."""
    stmt = select(KbArticle).where(*_visible(reader))
    if program_id:
        stmt = stmt.where(col(KbArticle.program_id) == program_id)
    if query.strip():
        clause = search_clause(session, query)
        if clause is None:
            return []
        stmt = stmt.where(clause)
    stmt = stmt.order_by(col(KbArticle.updated_at).desc(), col(KbArticle.id).desc()).limit(limit)
    return list(session.exec(stmt).all())


def get_article(session: Session, reader: Reader, article_id: int) -> KbArticle:
    article = session.get(KbArticle, article_id) if 0 < article_id < 2**31 else None
    if article is None or not reader.sees(article):
        raise KbRefused(404, f"No article {article_id}")
    return article


def _checked(session: Session, title: str, body: str, program_id: str, status: str) -> None:
    if not title.strip():
        raise KbRefused(422, "Give the article a title.", "title")
    if len(title) > TITLE_MAX:
        raise KbRefused(422, "The title is limited to 200 characters.", "title")
    if len(body) > BODY_MAX:
        raise KbRefused(422, "The text is limited to 50,000 characters.", "body")
    if len(program_id) > 64 or session.get(Program, program_id) is None:
        raise KbRefused(422, "Choose a program.", "program_id")
    if status not in (ArticleStatus.DRAFT, ArticleStatus.PUBLISHED):
        raise KbRefused(422, "Choose draft or published.", "status")


def _snapshot(a: KbArticle) -> dict[str, str]:
    return {"title": a.title, "program_id": a.program_id, "status": a.status}


def _audit(
    session: Session,
    by: AuditActor,
    article: KbArticle,
    before: dict[str, str] | None,
    action: AuditAction,
) -> None:
    kind, object_id = AuditObject.KB_ARTICLE, str(article.id)
    record(session, by, kind, object_id, before, _snapshot(article), action)


def create_article(
    session: Session,
    by: AuditActor,
    *,
    program_id: str,
    title: str,
    body: str,
    status: str = ArticleStatus.DRAFT,
) -> KbArticle:
    """A new article; committed. Published at once when `status` says so (and audited)."""
    title, body = title.strip(), body.strip()
    _checked(session, title, body, program_id, status)
    now = utcnow()
    article = KbArticle(
        program_id=program_id,
        title=title,
        body=body,
        status=status,
        author_id=by.id,
        created_at=now,
        updated_at=now,
        published_at=now if status == ArticleStatus.PUBLISHED else None,
    )
    session.add(article)
    session.flush()
    if status == ArticleStatus.PUBLISHED:
        _audit(session, by, article, None, AuditAction.PUBLISH)
    session.commit()
    session.refresh(article)
    return article


def update_article(
    session: Session,
    article: KbArticle,
    by: AuditActor,
    *,
    title: str | None = None,
    body: str | None = None,
    status: str | None = None,
    program_id: str | None = None,
) -> KbArticle:
    """Change what is given; a change of status is a publish or unpublish in the audit log."""
    before = _snapshot(article)
    new_title = article.title if title is None else title.strip()
    new_body = article.body if body is None else body.strip()
    new_status = status or article.status
    new_program = program_id or article.program_id
    _checked(session, new_title, new_body, new_program, new_status)
    article.title, article.body, article.program_id = new_title, new_body, new_program
    now = utcnow()
    if new_status != article.status:
        article.status = new_status
        publishing = new_status == ArticleStatus.PUBLISHED
        article.published_at = now if publishing else None
        action = AuditAction.PUBLISH if publishing else AuditAction.UNPUBLISH
        _audit(session, by, article, before, action)
    article.updated_at = now
    session.add(article)
    session.commit()
    session.refresh(article)
    return article


# ---------------------------------------------------------------- articles on cases


def case_articles(session: Session, reader: Reader, case_id: str) -> list[KbArticle]:
    """The articles linked to the case that the reader may see, by title."""
    stmt = (
        select(KbArticle)
        .join(CaseKbLink, col(CaseKbLink.article_id) == col(KbArticle.id))
        .where(col(CaseKbLink.case_id) == case_id, *_visible(reader))
        .order_by(col(KbArticle.title))
    )
    return list(session.exec(stmt).all())


def link_article(session: Session, reader: Reader, case: Case, article_id: int, by: str) -> None:
    """Link a published (or, for a writer, any visible) article of the case's program."""
    article = get_article(session, reader, article_id)
    if article.program_id != case.program_id:
        raise KbRefused(422, "That article belongs to another program.", "article_id")
    if session.get(CaseKbLink, (case.id, article.id)) is None:
        assert article.id is not None
        session.add(CaseKbLink(case_id=case.id, article_id=article.id, linked_by=by))
        session.commit()


def unlink_article(session: Session, case_id: str, article_id: int) -> None:
    session.execute(
        delete(CaseKbLink).where(
            col(CaseKbLink.case_id) == case_id, col(CaseKbLink.article_id) == article_id
        )
    )
    session.commit()


def program_ids(session: Session) -> Sequence[tuple[str, str]]:
    """Every program (id, name), for the article form's choice."""
    return session.exec(select(Program.id, Program.name).order_by(col(Program.name))).all()


def reply_text(article: KbArticle) -> str:
    """What "insert into reply" adds to the message: the article's title and text."""
    return f"{article.title}\n\n{article.body}".strip()
