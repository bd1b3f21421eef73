"""knowledge base, related and merged cases

Revision ID: 0026
Revises: 0021
Create Date: 2026-12-03 15:45:00

- kb_article: a program's articles (Markdown body, draft or published), searched by full text:
  on PostgreSQL a GIN index on to_tsvector('simple', title || ' ' || body) (the query in
  services/kb.py spells the same expression); on SQLite an FTS5 table, kb_article_fts, that
  triggers keep in step with kb_article.
- case_kb_link: articles linked to cases.
- case_link: related cases, and duplicates merged into their primary.

Self-contained (no model imports), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE kb_article_fts USING fts5("
    "title, body, content='kb_article', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER kb_article_fts_insert AFTER INSERT ON kb_article BEGIN "
    "INSERT INTO kb_article_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER kb_article_fts_delete AFTER DELETE ON kb_article BEGIN "
    "INSERT INTO kb_article_fts(kb_article_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER kb_article_fts_update AFTER UPDATE ON kb_article BEGIN "
    "INSERT INTO kb_article_fts(kb_article_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO kb_article_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
]
PG_INDEX = (
    "CREATE INDEX ix_kb_article_search ON kb_article USING gin "
    "(to_tsvector('simple'::regconfig, title || ' ' || body))"
)


def upgrade() -> None:
    op.create_table(
        "kb_article",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_kb_article_program_id", "kb_article", ["program_id"])
    op.create_table(
        "case_kb_link",
        sa.Column("case_id", sa.String(length=20), primary_key=True),
        sa.Column("article_id", sa.Integer(), primary_key=True),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_kb_link_article_id", "case_kb_link", ["article_id"])
    op.create_table(
        "case_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=20), nullable=False),
        sa.Column("other_id", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "case_id", "other_id", name="uq_case_link"),
    )
    op.create_index("ix_case_link_case_id", "case_link", ["case_id"])
    op.create_index("ix_case_link_other_id", "case_link", ["other_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_INDEX)
    elif dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS kb_article_fts_{name}")
        op.execute("DROP TABLE IF EXISTS kb_article_fts")
    op.drop_table("case_link")
    op.drop_table("case_kb_link")
    op.drop_table("kb_article")
