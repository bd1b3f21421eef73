"""The API and the worker refuse a SECRET_KEY anyone could forge cookies and survey links with.

With the built-in default key a cookie signed by anyone gave admin, and a survey link made by
anyone recorded an answer. Now the default, a published example or a key under 32 bytes stops the
app at creation and the worker at start (a clear message, not a traceback), unless DEMO_MODE is
on; `make run` makes a random key once into .data/secret_key and keeps it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from core.settings import ROOT, Settings
from scripts.devstack.environment import ensure_secret_key
from tests.live import free_port

WEAK_KEYS = ["dev-only-change-me", "change-me-before-going-live", "x" * 31]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no SECRET_KEY unless given, nothing reachable by accident."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_the_app_refuses_a_default_or_short_key(key: str, engine: Engine) -> None:
    from api import create_app

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Settings(secret_key=key), engine=engine)  # type: ignore[arg-type]


def test_a_long_random_key_or_demo_mode_starts(engine: Engine) -> None:
    from api import create_app

    assert create_app(Settings(secret_key="k" * 32), engine=engine)  # type: ignore[arg-type]
    assert create_app(Settings(secret_key="dev-only-change-me", demo_mode=True), engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "argv",
    [["worker.py"], ["-m", "uvicorn", "api:app", "--port", "0"]],
    ids=["worker", "uvicorn"],
)
def test_processes_without_a_key_stop_with_a_clear_message(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is the built-in default" in done.stderr, done.stderr[-2000:]


def test_make_run_makes_a_key_once_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / ".data"
    key = ensure_secret_key(data)
    assert len(key.encode()) >= 32
    assert ensure_secret_key(data) == key, "the next run keeps the key"
    path = data / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Settings(secret_key=SecretStr(key)).require_secret_key()
    path.unlink()  # rotating: delete the file, the next run makes a new key
    assert ensure_secret_key(data) != key
