"""Where `make run` keeps its state and where the dev server listens."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / ".data"
LOG_DIR = DATA_DIR / "logs"
TEMPORAL_DB = DATA_DIR / "temporal.db"

TEMPORAL_IP = "127.0.0.1"
TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
TEMPORAL_NAMESPACE = "default"
TEMPORAL_ADDRESS = f"{TEMPORAL_IP}:{TEMPORAL_PORT}"
