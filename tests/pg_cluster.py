"""A PostgreSQL cluster of one's own (initdb + pg_ctl on a free port), to stop and start at will.

Outage tests and bench/deadline_outage.py stop the database under a running app; the shared
server on 5432 belongs to everyone, so they start their own. As root (CI, containers) the server
runs as the `postgres` user, which initdb requires.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from sqlalchemy import create_engine, text

from tests.live import free_port


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (Debian: apt-get install postgresql)."""


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ClusterUnavailable("no pg_ctl on PATH nor under /usr/lib/postgresql/*/bin")
    return versions[-1].parent


class PgCluster:
    """`with PgCluster() as pg:` a running cluster; `pg.stop()` / `pg.start()` an outage."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="caseloop-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._user: str | None = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            shutil.chown(self.dir, self._user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self._user is not None:
            argv = ["runuser", "-u", self._user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} -c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as when a database server goes away."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def close(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
