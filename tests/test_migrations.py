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
            # alembic's own bookkeeping table is not a model
            if not (d[0] == "remove_table" and d[1].name == "alembic_version")
        ]
    assert diff == []
