"""The wheel is the product: built from the committed files, installed into a fresh venv (the
locked dependencies from uv's cache, nothing downloaded), it migrates and serves pages.

Everything runs outside the checkout, so no import can come from the source tree.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT
from migrations import alembic_config
from tests.conftest import unavailable
from tests.live import eventually, free_port

# Top-level folders with an __init__.py that are not part of the product: the suite, and the
# checkout's own tools (`make run`'s orchestrator, the replay-history recorder).
NOT_SHIPPED = {"tests", "scripts"}
MODULES = {"api.py", "worker.py"}
MIGRATE = ["-m", "cli", "migrate"]
# Served from the installed package: our own, a vendored one, a binary one.
STATIC = ("app.css", "vendor/htmx.min.js", "vendor/swagger-ui/favicon-32x32.png")


def uv() -> str:
    """The uv `make venv` installed (.uv/), else one on PATH (it must be the pinned version)."""
    for found in (os.environ.get("UV"), ROOT / ".uv" / "bin" / "uv", shutil.which("uv")):
        if found and Path(found).is_file():
            return str(found)
    unavailable("uv not found (make venv installs it into .uv/)")
    raise AssertionError


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def committed_tree(dest: Path) -> Path:
    """The files a fresh clone would have (tracked and new, not ignored): no stale build/."""
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def expected_files(tree: Path) -> set[str]:
    """Every file of every top-level package (data included), and the top-level modules."""
    packages = [
        d for d in tree.iterdir() if (d / "__init__.py").is_file() and d.name not in NOT_SHIPPED
    ]
    files = {p.relative_to(tree).as_posix() for d in packages for p in d.rglob("*") if p.is_file()}
    return files | MODULES


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """(the source copy, the wheel, the venv's python)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        unavailable("the wheel test builds from `git ls-files` of a checkout")
    base = tmp_path_factory.mktemp("wheel")
    tree = committed_tree(base / "src")
    env = {**os.environ, "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"):
        env.pop(var, None)
    run(uv(), "build", "--wheel", "--out-dir", base / "dist", cwd=tree, env=env)
    (wheel,) = (base / "dist").glob("caseloop-*.whl")
    venv = base / "venv"
    run(uv(), "venv", "--python", sys.executable, venv, cwd=base, env=env)
    # The runtime dependencies exactly as locked (no dev extra), then the wheel on top.
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    run(uv(), "sync", "--frozen", "--no-install-project", cwd=tree, env=env)
    python = venv / "bin" / "python"
    run(uv(), "pip", "install", "--python", python, "--no-deps", wheel, cwd=base, env=env)
    run(uv(), "pip", "check", "--python", python, cwd=base, env=env)
    yield tree, wheel, python


def test_every_package_file_is_in_the_wheel(installed: tuple[Path, Path, Path]) -> None:
    tree, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected_files(tree) - names)
    assert not missing, f"left out of the wheel: {missing}"
    tops = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert not tops & NOT_SHIPPED, f"the wheel ships {tops & NOT_SHIPPED}"


async def test_the_installed_wheel_migrates_and_serves(
    installed: tuple[Path, Path, Path], dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    _, _, python = installed
    workdir = tmp_path / "run"  # not the checkout: nothing importable here
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env |= {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PAYLOAD_KEYS": os.environ["PAYLOAD_KEYS"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'caseloop.db'}",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
    }

    imports = "import api, core, migrations, web; print(api.__file__, core.__file__)"
    where = run(python, "-c", imports, cwd=workdir, env=env).split()
    site = python.parent.parent
    assert all(Path(f).is_relative_to(site) for f in where), where

    run(python, *MIGRATE, cwd=workdir, env=env)
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    with sqlite3.connect(tmp_path / "caseloop.db") as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(head,)]

    port = free_port()
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *[str(python), "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def up() -> bool:
                assert proc.returncode is None, log.read_text()
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within=60, what="the installed API", every=0.2)
            login = await client.get("/login")
            assert login.status_code == 200, login.text
            assert 'name="csrf_token"' in login.text  # login.html, rendered
            for path in STATIC:
                served = await client.get(f"/static/{path}")
                assert served.status_code == 200, path
                assert served.content == (ROOT / "web" / "static" / path).read_bytes(), path
    finally:
        proc.terminate()
        await proc.wait()
