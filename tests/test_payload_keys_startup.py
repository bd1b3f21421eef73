"""Where the payload keys come from when the processes start: `make run` makes one key into
.data/payload_keys and keeps it, points the Temporal UI at the codec server, and the API and the
worker refuse to start without keys (a clear message), unless DEMO_MODE is on."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.payload_crypto import parse_key_ring
from core.settings import ROOT, Settings
from scripts.devstack.devserver import dev_server_argv
from scripts.devstack.environment import ensure_payload_keys
from tests.live import free_port


def test_make_run_makes_a_payload_key_once_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / ".data"
    path = ensure_payload_keys(data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = parse_key_ring(path.read_text())
    assert len(ring.keys) == 1
    assert ensure_payload_keys(data) == path and parse_key_ring(path.read_text()) == ring
    # Rotation as the README says: a new line on top, the old one kept below.
    from core.payload_crypto import new_key_entry

    path.write_text(new_key_entry("k-new") + "\n" + path.read_text())
    ensure_payload_keys(data)
    assert parse_key_ring(path.read_text()).ids == ["k-new", ring.current_id]


def test_make_run_points_the_temporal_ui_at_the_codec_server() -> None:
    argv = dev_server_argv("temporal", "http://localhost:8000/codec")
    at = argv.index("--ui-codec-endpoint")
    assert argv[at + 1] == "http://localhost:8000/codec"
    assert "--ui-codec-endpoint" not in dev_server_argv("temporal")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "SECRET_KEY": "s" * 48,
        "PAYLOAD_KEYS_FILE": str(tmp_path / "no-such-file"),
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


@pytest.mark.parametrize(
    "argv",
    [["worker.py"], ["-m", "uvicorn", "api:app", "--port", "0"]],
    ids=["worker", "uvicorn"],
)
def test_processes_without_payload_keys_stop_with_a_clear_message(
    argv: list[str], tmp_path: Path
) -> None:
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
    assert "no payload encryption key" in done.stderr, done.stderr[-2000:]


def test_a_broken_key_is_refused_by_name(tmp_path: Path) -> None:
    from api import create_app

    with pytest.raises(RuntimeError, match="'k1' has 3 bytes"):
        create_app(Settings(payload_keys="k1:YWJj"))  # type: ignore[arg-type]
