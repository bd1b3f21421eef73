"""Which knowledge-base articles help: the articles linked most often to resolved cases of the
report (its dates, filters and the viewer's scope, as every other figure)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from models.kb import CaseKbLink, KbArticle
from services.reports.dialect import Dialect
from services.reports.filters import ReportFilters
from services.reports.where import CASES, Scope, base_conditions, c, is_resolved

LINKS = CaseKbLink.__table__  # type: ignore[attr-defined]
ARTICLES = KbArticle.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ArticleUsage:
    article_id: int
    title: str
    resolved_cases: int


def top_articles(
    engine: Engine, f: ReportFilters, scope: Scope, limit: int = 10
) -> list[ArticleUsage]:
    """The articles linked to most resolved cases, most first (ties by title)."""
    d = Dialect(engine.dialect.name)
    n = func.count(func.distinct(c.id)).label("n")
    stmt = (
        select(ARTICLES.c.id, ARTICLES.c.title, n)
        .select_from(
            CASES.join(LINKS, LINKS.c.case_id == c.id).join(
                ARTICLES, ARTICLES.c.id == LINKS.c.article_id
            )
        )
        .where(is_resolved(), *base_conditions(d, f, scope))
        .group_by(ARTICLES.c.id, ARTICLES.c.title)
        .order_by(n.desc(), ARTICLES.c.title)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [ArticleUsage(r.id, r.title, r.n) for r in conn.execute(stmt)]
