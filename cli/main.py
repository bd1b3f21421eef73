"""Operator commands: `python -m cli --help`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from cli.tokens import app as token_app
from core.logging import configure_logging
from core.settings import get_settings
from migrations import upgrade

app = typer.Typer(help="Caseloop operator commands", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.callback()
def _logging() -> None:
    """Log lines (not the commands' own output) in the one format (core/logging.py)."""
    configure_logging(get_settings())


@app.command()
def migrate(
    url: str | None = typer.Option(None, help="Database URL (default: DATABASE_URL)"),
) -> None:
    """Apply the database migrations."""
    upgrade(url or get_settings().database_url)
    typer.echo("database is at the latest migration")


@app.command("load-config")
def load_config(path: Path) -> None:
    """Validate a YAML configuration file and apply it (all or nothing)."""
    from models.db import make_engine
    from services.audit import cli_actor
    from services.config_file import ConfigError, load_config_file
    from services.configuration import apply_config

    try:
        doc = load_config_file(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    counts = apply_config(make_engine(get_settings().database_url), doc, cli_actor())
    typer.echo(", ".join(f"{n} {k}" for k, n in counts.items()) + " loaded")


@app.command("sla-backfill")
def sla_backfill(
    all_cases: bool = typer.Option(False, "--all", help="Measure every case again"),
) -> None:
    """Measure the SLA figures of cases projected before migration 0022 (from their timeline)."""
    from models.db import make_engine
    from services.sla_backfill import backfill_sla

    written = backfill_sla(make_engine(get_settings().database_url), only_missing=not all_cases)
    typer.echo(f"{written} cases measured")


@app.command("rollup-backfill")
def rollup_backfill(
    zone: list[str] = typer.Option(
        [], "--zone", help="A zone to keep the rollups in (default: UTC and every unit's)"
    ),
) -> None:
    """Fill the dashboard's daily rollups from the case rows (migration 0029), with progress."""
    from tqdm import tqdm

    from models.db import make_engine
    from services.rollup_backfill import backfill_rollups, default_zones

    engine = make_engine(get_settings().database_url)
    zones = zone or default_zones(engine)
    with tqdm(desc=f"rollups ({', '.join(zones)})", unit="case", unit_scale=True) as bar:

        def total(n: int) -> None:
            bar.total = n
            bar.refresh()

        read = backfill_rollups(engine, zones, progress=bar.update, total=total)
    typer.echo(f"{read} cases summed into the rollups of {', '.join(zones)}")


@app.command("inbound-smtp")
def inbound_smtp() -> None:
    """Receive customers' answers and intake mail over SMTP (INBOUND_SMTP_HOST/PORT)."""
    from cli.inbound_smtp import serve

    asyncio.run(serve(get_settings()))


@app.command("inbound-imap")
def inbound_imap() -> None:
    """Poll IMAP_URL for customers' answers and intake mail (every IMAP_POLL_SECONDS)."""
    from cli.inbound_imap import parse_imap_url, serve

    settings = get_settings()
    try:
        parse_imap_url(settings.imap_url.get_secret_value())
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    asyncio.run(serve(settings))


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo program and a dozen demo cases (idempotent; needs Temporal and a worker)."""
    from cli.demo import DEMO_PASSWORD, seed_demo
    from core.temporal import connect
    from models.db import make_engine

    settings = get_settings()

    async def run() -> list[str]:
        from services.tokens import ensure_bootstrap

        client = await connect(settings)
        engine = make_engine(settings.database_url)
        if settings.bootstrap_token is not None:
            ensure_bootstrap(engine, settings.bootstrap_token.get_secret_value())
        return await seed_demo(engine, client, settings)

    lines = asyncio.run(run())
    typer.echo("Demo cases:")
    for line in lines:
        typer.echo(f"  {line}")
    typer.echo(
        "Sign in as olga / sam / kenji (owners), max / nora (managers), fiona (limited watcher), "
        f"admin (admin); password: {DEMO_PASSWORD}"
    )
