"""Shared fixtures: real Temporal servers, real databases (SQLite and PostgreSQL).

In CI (env CI set) a missing PostgreSQL, Chromium or Temporal binary fails the run; on a
developer machine the affected tests are skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from temporalio.testing import WorkflowEnvironment

from core.payload_crypto import new_key_entry
from core.settings import ROOT, Settings
from core.temporal import data_converter, ensure_search_attributes
from migrations import upgrade
from models.db import make_engine
from workflows.search_attributes import SEARCH_ATTRIBUTES

IN_CI = bool(os.environ.get("CI"))
# Every Settings() of the suite (and its subprocesses) signs with a proper random key.
os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
# ... and encrypts what it gives Temporal under a key of its own (core/payload_crypto.py).
os.environ["PAYLOAD_KEYS"] = new_key_entry("test-1")
# Tests drive one client or address far past any production rate; the rate-limit tests
# (tests/api/test_rate_limits.py) turn the limits on explicitly.
os.environ["RATE_LIMIT_ENABLED"] = "false"
PG_ADMIN_URL = os.environ.get(
    "TEST_DATABASE_URL_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ARTIFACTS = ROOT / "tests" / "artifacts"


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere: CI must never pass by skipping."""
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def binary(name: str) -> str:
    # The venv's own (pinned) binary first, also when its bin/ is not on PATH.
    path = shutil.which(name, path=Path(sys.executable).parent) or shutil.which(name)
    if path is None:
        unavailable(f"{name} binary not found on PATH (pip install the project's dev extras)")
    assert path is not None
    return path


def migrate(url: str) -> None:
    upgrade(url)


def _pg_database(prefix: str) -> Iterator[str]:
    """A throw-away PostgreSQL database, so parallel runs never see each other's rows."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"{prefix}_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
        raise
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_db(directory: Path) -> str:
    """A freshly migrated SQLite file in `directory`."""
    url = f"sqlite:///{directory / 'caseloop.db'}"
    migrate(url)
    return url


def migrated_db(backend: str, directory: Path, prefix: str) -> Iterator[str]:
    """A freshly migrated database on `backend` ("sqlite" or "postgresql"), dropped afterwards."""
    if backend == "sqlite":
        yield sqlite_db(directory)
    else:
        for url in _pg_database(prefix):
            migrate(url)
            yield url


def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database on each backend."""
    yield from migrated_db(request.param, tmp_path, "caseloop_test")


@pytest.fixture
def any_engine(any_db_url: str) -> Iterator[Engine]:
    yield from _engine(any_db_url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return sqlite_db(tmp_path)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    yield from _engine(sqlite_url)


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=sqlite_url,
        task_queue=f"caseloop-test-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp_path / "uploads",
        public_base_url="http://testserver",
    )


@asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server with the search attributes the workflows set."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=data_converter(Settings()),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace, SEARCH_ATTRIBUTES)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server: business days pass in milliseconds.

    One per test module: a workflow left waiting by one module cannot stall another's clock.
    """
    async with time_skipping_env() as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (same binary `make run` uses)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(Settings()),
        search_attributes=list(SEARCH_ATTRIBUTES),
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright, one per test module."""
    from tests.live import chromium

    async with chromium() as launched:
        yield launched


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (kept by CI as test artifacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


async def terminate_cases(env: WorkflowEnvironment, engine: Engine) -> None:
    """Stop the cases a test opened: left running they stall the time-skipping clock."""
    import contextlib

    from sqlmodel import Session, select
    from temporalio.service import RPCError

    from models.case import Case

    with Session(engine) as session:
        ids = list(session.exec(select(Case.id)).all())
    for case_id in ids:
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(case_id).terminate("test finished")
