"""One Settings object for API, worker, CLI and tests; every operator knob is an env var."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data"
DEFAULT_SECRET_KEY = "dev-only-change-me"
MIN_SECRET_BYTES = 32
# Keys seen in examples: as good as public.
KNOWN_KEYS = frozenset({DEFAULT_SECRET_KEY, "change-me-before-going-live", "change-me"})


class InsecureSecretKey(RuntimeError):
    """The API and the worker refuse to start with a key anyone could forge cookies with."""


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

    # Signs session cookies and survey links: at least 32 random bytes (`make run` makes one
    # into .data/secret_key). The default or a short key is refused unless DEMO_MODE is on.
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    demo_mode: bool = False
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (IPs or CIDRs; "*" for any).
    trusted_proxies: Annotated[list[str], NoDecode] = []
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
    # Inbound mail (`python -m cli inbound-smtp`): customer messages carry Reply-To
    # `<REPLY_LOCAL>+<case>.<tag>@<REPLY_DOMAIN>`; unset REPLY_DOMAIN: no reply address, and
    # the inbound server accepts only the programs' intake addresses.
    reply_domain: str = ""
    reply_local: str = "cases"
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int = 2525
    # Larger messages are refused at DATA (552); attachments still obey UPLOAD_MAX_BYTES.
    inbound_max_bytes: int = 25 * 1024 * 1024

    # One-time links mailed to people (services/invites.py): an invitation to set a password,
    # and a password reset.
    invite_valid_days: float = 7.0
    password_reset_valid_minutes: float = 60.0

    # Optional single sign-on (OpenID Connect, services/oidc.py). All three set: the sign-in page
    # offers "Sign in with <OIDC_PROVIDER_NAME>"; the ID token's verified email signs in the
    # active local user with that email. OIDC_CREATE_USERS: an unknown email becomes a new user
    # with the lowest role (off: refused). Local passwords keep working either way.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_provider_name: str = "single sign-on"
    oidc_create_users: bool = False

    # Operability (README "Operating Caseloop"). Logs: one JSON object per line, or "console".
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    # The worker's Prometheus endpoint for Temporal SDK metrics ("127.0.0.1:9464"); empty: off.
    worker_metrics_address: str = ""
    # Who may read the app's /metrics without a token (an admin or metrics:read token always may).
    metrics_allow_networks: str = "127.0.0.0/8,::1/128"
    # OTLP/HTTP collector (e.g. http://otel-collector:4318): set, traces are exported there.
    otel_exporter_otlp_endpoint: str = ""

    # Live pages (web/live.py): how often the API looks for new changes on SQLite (PostgreSQL
    # tells it with NOTIFY), and how long the change log keeps rows for reconnecting pages.
    live_poll_seconds: float = 0.5
    live_retention_hours: float = 24.0

    upload_dir: Path = DATA_DIR / "uploads"
    upload_max_bytes: int = 10 * 1024 * 1024
    # All of one case's documents together (a new upload past it: 413).
    upload_case_quota_bytes: int = 50 * 1024 * 1024

    # Encryption (AES-256-GCM) of Temporal payloads and of uploads (core/payload_crypto.py):
    # `<key id>:<32 bytes, base64>` entries, newest first; PAYLOAD_KEYS wins over the file.
    # `make run` makes and keeps .data/payload_keys. None of both: refused unless DEMO_MODE.
    payload_keys: SecretStr | None = None
    payload_keys_file: Path | None = None
    # Browser origins (the Temporal UI) allowed to call the codec server /codec/* (CORS).
    codec_cors_origins: Annotated[list[str], NoDecode] = [
        "http://localhost:8233",
        "http://127.0.0.1:8233",
    ]
    request_max_bytes: int = 1024 * 1024
    # The public web form (/forms/<program>): submissions per client address ("limits" syntax).
    form_rate_limit: str = "10/minute"

    # Webhooks out (activities/webhooks.py). Targets on private, loopback and link-local
    # addresses are refused unless WEBHOOK_ALLOW_PRIVATE, or the address is in
    # WEBHOOK_ALLOW_NETWORKS (IPs or CIDRs, comma-separated).
    webhook_allow_private: bool = False
    webhook_allow_networks: Annotated[list[str], NoDecode] = []
    webhook_timeout_seconds: float = 10.0
    # Retries: the first after this, doubling up to the maximum, given up after ~3 days.
    webhook_retry_initial_seconds: float = 30.0
    webhook_retry_max_interval_seconds: float = 6 * 3600.0
    webhook_retry_for_seconds: float = 3 * 86400.0
    # How often the worker looks for new deliveries to start.
    webhook_dispatch_interval_seconds: float = 1.0
    # A rotated secret still signs (beside the new one) for this long.
    webhook_rotation_overlap_seconds: int = 24 * 3600

    # Rate limits (web/rate_limit.py), in the `limits` notation ("600/minute"): per API client
    # on /api/v1, per IP on the public pages (surveys, sign-in, forms). Memory storage per
    # process unless RATE_LIMIT_STORAGE_URI (e.g. redis://host:6379) is set.
    rate_limit_enabled: bool = True
    rate_limit_api: str = "600/minute"
    rate_limit_public: str = "30/minute"
    rate_limit_storage_uri: str = "memory://"

    @field_validator(
        "trusted_proxies", "codec_cors_origins", "webhook_allow_networks", mode="before"
    )
    @classmethod
    def _comma_list(cls, v: object) -> object:
        """TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16 (a list works too); CODEC_CORS_ORIGINS alike."""
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v

    # The worker's reconciler: how often it starts workflows missing for intake rows (and
    # projects cases missing from the read model), and how old a row must be to count as
    # abandoned by its request.
    reconcile_interval_seconds: float = 60.0
    reconcile_grace_seconds: float = 30.0
    # Intake answers 503 (the case kept, for a retry) when Temporal takes longer to start it.
    intake_start_timeout_seconds: float = 10.0
    # An owner action waits this long for the case's workflow; then it answers 202 (Temporal
    # has it: it applies when the worker or the database is back) or, if Temporal never took
    # it, 503. Below the 5 s that common HTTP clients wait by default.
    update_wait_seconds: float = 4.0
    # /readyz gives the database and Temporal this long each.
    readiness_timeout_seconds: float = 2.0
    # Retry-After of a 503 (a dependency down), in seconds.
    retry_after_seconds: int = 5
    # Fault injection for tests only: the API process exits between intake's commit and the
    # workflow start.
    fault_exit_after_intake_commit: bool = False
    # IMAP polling (`python -m cli inbound-imap`) for mailboxes that cannot forward to the
    # inbound SMTP server: imaps://user:password@host:993/INBOX (imap:// without TLS, for
    # tests); empty: no poller. Processed mail moves to IMAP_MOVE_TO (empty: flagged \Seen).
    imap_url: SecretStr = SecretStr("")
    imap_poll_seconds: float = 60.0
    imap_move_to: str = "Caseloop/Processed"
    # The recipient of a polled message whose Delivered-To/To/Cc name none of ours.
    imap_recipient: str = ""

    # Worker sizing (bench/README.md "Sizing workers"). WORKER_PROCESSES: `python worker.py`
    # runs that many processes, each its own Temporal worker on the task queue (one interpreter
    # lock each); the reconciler and the retention schedule run in the first only.
    worker_processes: int = Field(default=1, ge=1, le=64)
    # Cases kept in memory per process (sticky cache). Past it the least recent is evicted and
    # its next signal/query/update replays its history: bounded memory for some CPU. ~0.5 MB a
    # cached case (bench/memory.py), so 500 bounds a process near 400 MiB; 5x the workflow task
    # slots, so a case between the tasks of one burst stays cached.
    max_cached_workflows: int = Field(default=500, ge=0)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=2)
    # Regular activities (SMTP delivery, the survey) at once per process.
    max_concurrent_activities: int = Field(default=16, ge=1)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = f"http://localhost:{self.http_port}"
        return self

    def require_secret_key(self) -> None:
        """Raise InsecureSecretKey for the default/known or a short key, unless in demo mode."""
        key = self.secret_key.get_secret_value()
        if key in KNOWN_KEYS:
            problem = "is the built-in default (or a published example)"
        elif len(key.encode()) < MIN_SECRET_BYTES:
            problem = f"is shorter than {MIN_SECRET_BYTES} bytes"
        else:
            return
        if self.demo_mode:
            log = logging.getLogger(__name__)
            log.warning("DEMO_MODE: SECRET_KEY %s; never expose this instance", problem)
            return
        raise InsecureSecretKey(
            f"SECRET_KEY {problem}: anyone could forge sign-in cookies and survey links. Set "
            "SECRET_KEY to a random value, e.g. "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"` '
            "(`make run` makes and keeps one in .data/secret_key), or DEMO_MODE=1 for a "
            "throw-away demo."
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
