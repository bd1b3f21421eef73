"""One Settings object for API, worker, CLI and tests; every operator knob is an env var."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Read model. SQLite file by default; "postgresql+psycopg://user@host/db" for PostgreSQL.
    database_url: str = f"sqlite:///{DATA_DIR / 'caseloop.db'}"

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "caseloop"
    temporal_ui_url: str = "http://localhost:8233"

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Base of links in emails and survey invitations; unset, it follows HTTP_PORT.
    public_base_url: str = ""

    secret_key: SecretStr = SecretStr("dev-only-change-me")
    # An admin API token ensured at start-up, so scripts can drive a fresh install.
    bootstrap_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CASELOOP_BOOTSTRAP_TOKEN", "BOOTSTRAP_TOKEN")
    )

    # Outgoing mail; with no host every message stays in the outbox (admin page shows it).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "caseloop@localhost"

    upload_dir: Path = DATA_DIR / "uploads"
    upload_max_bytes: int = 10 * 1024 * 1024
    request_max_bytes: int = 1024 * 1024

    # The worker's reconciler: how often it starts workflows missing for intake rows (and
    # projects cases missing from the read model), and how old a row must be to count as
    # abandoned by its request.
    reconcile_interval_seconds: float = 60.0
    reconcile_grace_seconds: float = 30.0
    # Intake answers 503 (the case kept, for a retry) when Temporal takes longer to start it.
    intake_start_timeout_seconds: float = 10.0
    # Fault injection for tests only: the API process exits between intake's commit and the
    # workflow start.
    fault_exit_after_intake_commit: bool = False

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = f"http://localhost:{self.http_port}"
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
