"""One Settings object for API, worker, CLI and tests; every operator knob is an env var."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Read model. SQLite file by default; "postgresql+psycopg://user@host/db" for PostgreSQL.
    database_url: str = f"sqlite:///{DATA_DIR / 'caseloop.db'}"

    # Set (env, .env or here), they win over the Temporal profile (TEMPORAL_PROFILE,
    # TEMPORAL_CONFIG_FILE, TEMPORAL_API_KEY, TEMPORAL_TLS_*: see core/temporal.py); unset, the
    # profile's address and namespace apply, else these defaults.
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

    # Operability (README "Operating Caseloop"). Logs: one JSON object per line, or "console".
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    # The worker's Prometheus endpoint for Temporal SDK metrics ("127.0.0.1:9464"); empty: off.
    worker_metrics_address: str = ""
    # Who may read the app's /metrics without a token (an admin or metrics:read token always may).
    metrics_allow_networks: str = "127.0.0.0/8,::1/128"
    # OTLP/HTTP collector (e.g. http://otel-collector:4318): set, traces are exported there.
    otel_exporter_otlp_endpoint: str = ""

    upload_dir: Path = DATA_DIR / "uploads"
    upload_max_bytes: int = 10 * 1024 * 1024
    request_max_bytes: int = 1024 * 1024

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = f"http://localhost:{self.http_port}"
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
