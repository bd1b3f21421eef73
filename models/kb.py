"""The knowledge base and the links between cases (issue 18): articles, their links to cases,
and related or merged cases. Written by services/kb.py and services/case_links.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class KbArticle(SQLModel, table=True):
    """One article of a program's knowledge base; `body` is Markdown (rendered safely on show).

    Searched by PostgreSQL full text (a GIN index on its tsvector) or SQLite's FTS5 table
    `kb_article_fts`, which triggers keep in step (migration 0026)."""

    __tablename__ = "kb_article"

    id: int | None = Field(default=None, primary_key=True)
    program_id: str = Field(max_length=64, index=True)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="draft", max_length=20)
    author_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CaseKbLink(SQLModel, table=True):
    """An article linked to a case (the dashboard counts these on resolved cases)."""

    __tablename__ = "case_kb_link"

    case_id: str = Field(primary_key=True, max_length=20)
    article_id: int = Field(primary_key=True, index=True)
    linked_by: str = Field(max_length=64)
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseLink(SQLModel, table=True):
    """Two cases linked: `related` (stored once, the smaller id first) or `merged` (`case_id`
    the duplicate, `other_id` its primary). An unmerge deletes the row; both timelines keep
    the record."""

    __tablename__ = "case_link"
    __table_args__ = (UniqueConstraint("kind", "case_id", "other_id", name="uq_case_link"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    case_id: str = Field(max_length=20, index=True)
    other_id: str = Field(max_length=20, index=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # "merging"/"unmerging" while a merge's workflow updates are under way (finished later by
    # services/case_links.finish_pending if interrupted), then "done".
    state: str = Field(default="done", max_length=12, sa_column_kwargs={"server_default": "done"})
    acted_by: str | None = Field(default=None, max_length=64)
