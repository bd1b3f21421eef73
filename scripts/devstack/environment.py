"""The app's settings as `make run` needs them, the kept secret key, the children's environment."""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path

from core.payload_crypto import new_key_entry, parse_key_ring
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


def imap_configured() -> bool:
    """IMAP_URL set in the environment or .env: `make run` starts the IMAP poller too."""
    return bool(get_settings().imap_url.get_secret_value())


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
    key = secrets.token_urlsafe(48)
    _write_private(path, key + "\n")
    return key


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def configured_payload_keys() -> bool:
    """PAYLOAD_KEYS or PAYLOAD_KEYS_FILE set (env or .env): `make run` uses them as they are."""
    settings = get_settings()
    keys = settings.payload_keys
    return bool(keys is not None and keys.get_secret_value().strip()) or bool(
        settings.payload_keys_file
    )


PAYLOAD_KEYS_HEADER = (
    "# Payload encryption keys of `make run` (core/payload_crypto.py): `<key id>:<base64 key>`,\n"
    "# newest first. To rotate, put a new line on top (python -c 'from core.payload_crypto\n"
    "# import new_key_entry; print(new_key_entry())') and keep the old ones below it.\n"
)


def ensure_payload_keys(data_dir: Path = DATA_DIR) -> Path:
    """`data_dir`/payload_keys, made (one random key, owner-only) on the first run, then kept:
    deleting it makes everything already in .data/temporal.db unreadable."""
    path = data_dir / "payload_keys"
    try:
        parse_key_ring(path.read_text())
    except FileNotFoundError:
        _write_private(path, PAYLOAD_KEYS_HEADER + new_key_entry() + "\n")
    return path


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
    if not configured_payload_keys():
        env["PAYLOAD_KEYS_FILE"] = str(ensure_payload_keys())
    # Log lines for people on the console (and in .data/logs/); LOG_FORMAT=json for the real
    # thing.
    env.setdefault("LOG_FORMAT", "console")
    return env


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False
