"""Children in their own sessions with their logs in .data/logs/, and the supervisor that turns
Ctrl-C into an orderly stop and a dead child into an error."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, NoReturn

from scripts.devstack.console import console
from scripts.devstack.paths import LOG_DIR, ROOT

STOP_TIMEOUT = 10.0  # seconds a child gets to stop before it is killed
LOG_TAIL_LINES = 40


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

    def watch(self) -> NoReturn:
        """Until Ctrl-C (`Shutdown`) or a service's death (`ChildDied`): never returns."""
        while True:
            self.check()
            self.sleep(0.5)

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


def report_log(log: Path | None) -> None:
    """The end of a log, after an error that it may explain."""
    if log is None:
        return
    lines = tail(log)
    if not lines:
        return
    console.print(f"--- last {len(lines)} lines of {log.relative_to(ROOT)} ---")
    for line in lines:
        console.print(line)
    console.print("---")
