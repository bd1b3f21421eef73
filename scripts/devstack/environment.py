"""The app's settings as `make run` needs them, the kept secret key, the children's environment."""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path

from core.settings import InsecureSecretKey, get_settings
from scripts.devstack.paths import DATA_DIR, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE


def app_settings() -> tuple[str, int, str]:
    """(HTTP host, HTTP port, public URL) from core.settings (which also reads .env)."""
    s = get_settings()
    return s.http_host, int(s.http_port), s.public_base_url.rstrip("/")


def configured_secret_key() -> str | None:
    """SECRET_KEY from the environment or .env when it is strong enough to use as it is."""
    settings = get_settings()
    try:
        settings.model_copy(update={"demo_mode": False}).require_secret_key()
    except InsecureSecretKey:
        return None
    return settings.secret_key.get_secret_value()


def ensure_secret_key(data_dir: Path = DATA_DIR) -> str:
    """The key in `data_dir`/secret_key, made (random, owner-only) on the first run, then kept:
    sign-ins and survey links survive restarts. Delete the file to rotate it."""
    path = data_dir / "secret_key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if len(key.encode()) >= 32:
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.replace(tmp, path)
    return key


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    # The worker and the app talk to the dev server this script starts, whatever .env says,
    # and no Temporal profile of the user's (an API key, TLS) applies to it.
    for name in [n for n in env if n.startswith("TEMPORAL_") and n != "TEMPORAL_UI_URL"]:
        del env[name]
    env["TEMPORAL_CONFIG_FILE"] = os.devnull
    env["TEMPORAL_ADDRESS"] = TEMPORAL_ADDRESS
    env["TEMPORAL_NAMESPACE"] = TEMPORAL_NAMESPACE
    env["PYTHONUNBUFFERED"] = "1"
    env["SECRET_KEY"] = configured_secret_key() or ensure_secret_key()
    # Log lines for people on the console (and in .data/logs/); LOG_FORMAT=json for the real
    # thing.
    env.setdefault("LOG_FORMAT", "console")
    return env


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False
