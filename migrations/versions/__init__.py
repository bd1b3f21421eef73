"""One module per migration (Alembic reads them as files; a package so the wheel ships them)."""
