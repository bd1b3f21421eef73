"""The console: thread-safe lines from every child, one spinner line on a terminal."""

from __future__ import annotations

import os
import sys
import threading


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
