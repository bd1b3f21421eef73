"""Caseloop itself on the dev server: migrations, the worker, the web app, the demo data."""

from __future__ import annotations

import signal
import sys

from scripts.devstack.console import console
from scripts.devstack.environment import imap_configured, module_exists
from scripts.devstack.probes import ensure_port_free, http_ok
from scripts.devstack.processes import Child, StartupError, Supervisor

CLI = "cli"  # `python -m cli migrate | seed-demo`


def local_host(http_host: str) -> str:
    """Where to reach the web app from here when it listens on every interface."""
    return "127.0.0.1" if http_host in ("0.0.0.0", "::", "") else http_host


def check_app(http_host: str, http_port: int) -> None:
    """Before anything starts: the app's modules are there and its port is free."""
    missing = [m for m in (CLI, "worker", "api") if not module_exists(m)]
    if missing:
        raise StartupError(
            "not there yet: " + ", ".join(missing) + " (`python scripts/run.py temporal` "
            "starts the Temporal dev server alone)"
        )
    ensure_port_free(local_host(http_host), http_port, "web app")


def migrate(sup: Supervisor, env: dict[str, str]) -> None:
    console.step(f"applying database migrations (python -m {CLI} migrate)")
    step = Child("migrate", [sys.executable, "-m", CLI, "migrate"], env=env, echo=True)
    sup.run_step(step, timeout=300)
    console.ok("migrations applied")


def start_app(sup: Supervisor, env: dict[str, str], http_host: str, http_port: int) -> None:
    """The worker, uvicorn, the inbound SMTP server (and the IMAP poller when IMAP_URL is set),
    until the app's /readyz answers."""
    py = sys.executable
    console.step("starting the worker, the web app and the inbound SMTP server")
    sup.start_service(
        Child("worker", [py, "worker.py"], env=env, echo=True, stop_signal=signal.SIGINT, color=0)
    )
    uvicorn = [py, "-m", "uvicorn", "api:app", "--host", http_host, "--port", str(http_port)]
    uvicorn.append("--no-proxy-headers")  # X-Forwarded-* only from TRUSTED_PROXIES (the app)
    sup.start_service(Child("api", uvicorn, env=env, echo=True, stop_signal=signal.SIGINT, color=1))
    # Customers' answers by email and intake mailboxes (INBOUND_SMTP_PORT, default 2525).
    inbound = [py, "-m", CLI, "inbound-smtp"]
    sup.start_service(
        Child("inbound-smtp", inbound, env=env, echo=True, stop_signal=signal.SIGINT, color=2)
    )
    # Mailboxes that cannot forward to it are polled over IMAP, when IMAP_URL is set.
    if imap_configured():
        poller = [py, "-m", CLI, "inbound-imap"]
        sup.start_service(
            Child("inbound-imap", poller, env=env, echo=True, stop_signal=signal.SIGINT, color=3)
        )
    host = local_host(http_host)
    sup.wait_for(
        f"the web app on {host}:{http_port}",
        lambda: http_ok(f"http://{host}:{http_port}/readyz"),  # database and Temporal
        timeout=120,
    )


def seed_demo(sup: Supervisor, env: dict[str, str]) -> list[str]:
    """Load the demo data; returns what seed-demo printed (the sign-in details)."""
    console.step(f"loading the demo data (python -m {CLI} seed-demo)")
    seed = sup.run_step(
        Child("seed", [sys.executable, "-m", CLI, "seed-demo"], env=env, echo=False, color=4),
        timeout=300,
    )
    console.ok("demo data loaded")
    return [line for line in seed.output if line.strip()]
