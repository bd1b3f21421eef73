"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables)


def test_migrated_schema_matches_the_models(any_engine: Engine) -> None:
    with any_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff: list[Any] = [
            d
            for d in compare_metadata(ctx, SQLModel.metadata)
            # alembic's own bookkeeping table is not a model, nor the knowledge base's full-text
            # index: SQLite's FTS5 table (and its shadow tables, kept by triggers), PostgreSQL's
            # GIN index on an expression
            if not (
                d[0] == "remove_table"
                and (d[1].name == "alembic_version" or d[1].name.startswith("kb_article_fts"))
            )
            and not (d[0] == "remove_index" and d[1].name == "ix_kb_article_search")
        ]
    assert diff == []


def test_customer_identity_migration_keeps_what_existing_cases_showed(any_db_url: str) -> None:
    """Cases opened before a case kept its own contact go on mailing the customer's address;
    found by its file name, so the revision can be renumbered."""
    from datetime import UTC, datetime

    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import MetaData, Table, insert, select

    from migrations import alembic_config
    from models.case import Case
    from models.db import make_engine

    cfg = alembic_config(any_db_url)
    [rev] = [
        r
        for r in ScriptDirectory.from_config(cfg).walk_revisions()
        if r.path.endswith("_customer_identity.py")
    ]
    assert isinstance(rev.down_revision, str)
    command.downgrade(cfg, rev.down_revision)
    engine = make_engine(any_db_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            old = Table("case", MetaData(), autoload_with=conn)
            customer = Table("customer", MetaData(), autoload_with=conn)
            when = now if conn.dialect.name == "postgresql" else now.replace(tzinfo=None)
            conn.execute(
                insert(customer).values(created_at=when),
                [
                    {"id": 1, "name": "Ann", "email": "ann@example.com", "phone": "+47555"},
                    {"id": 2, "name": "Bob", "email": None, "phone": None},
                ],
            )
            rows = [
                Case(
                    id=case_id,
                    program_id="p",
                    unit_id="u",
                    channel="phone",
                    owner_id="ole",
                    status="new",
                    created_at=now,
                    customer_id=customer_id,
                    customer_name=name,
                ).model_dump()
                for case_id, customer_id, name in (("C-1", 1, "Ann"), ("C-2", 2, "Bob"))
            ]
            conn.execute(
                insert(old),
                [
                    {
                        **{k: v for k, v in row.items() if k in old.c},
                        "created_at": when,
                        "updated_at": when,
                    }
                    for row in rows
                ],
            )
        command.upgrade(cfg, rev.revision)
        with engine.connect() as conn:
            contact = {
                r.id: (r.customer_name, r.contact_email, r.contact_phone)
                for r in conn.execute(
                    select(Case.__table__.c.id, *(Case.__table__.c[k] for k in CONTACT))  # type: ignore[attr-defined]
                )
            }
        assert contact == {
            "C-1": ("Ann", "ann@example.com", "+47555"),
            "C-2": ("Bob", None, None),
        }
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()


CONTACT = ("customer_name", "contact_email", "contact_phone")
