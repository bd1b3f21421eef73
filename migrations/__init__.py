"""The read model's Alembic migrations, found next to this file in a checkout and in a wheel."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """What alembic.ini says, without needing the file: an installed wheel has no alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at `url` to the latest migration."""
    command.upgrade(alembic_config(url), "head")
