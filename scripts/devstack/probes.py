"""Is a port open, does a URL answer: the readiness checks of `make run`."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from scripts.devstack.processes import StartupError


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= int(resp.status) < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ensure_port_free(host: str, port: int, what: str) -> None:
    if port_open(host, port):
        raise StartupError(
            f"port {port} on {host} ({what}) is already in use: is another `make run` or "
            "Temporal server running? Stop it first."
        )
