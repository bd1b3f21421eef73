"""`python -m cli token ...`: create, list and revoke API clients."""

from __future__ import annotations

import typer
from sqlalchemy import Engine

from core.settings import get_settings

app = typer.Typer(help="API clients and their bearer tokens", no_args_is_help=True)


def _engine() -> Engine:
    from models.db import make_engine

    return make_engine(get_settings().database_url)


@app.command()
def create(
    name: str = typer.Option(..., help="Who uses the token, e.g. contact-center"),
    scope: list[str] = typer.Option(
        ...,
        help="cases:write, cases:read, reports:read, metrics:read, codec, delegate or admin "
        "(repeatable)",
    ),
    user: str | None = typer.Option(
        None, help="A personal token of this user (acts only as them); default: a service client"
    ),
    program: list[str] = typer.Option([], help="Only cases of this program (repeatable)"),
    unit: list[str] = typer.Option([], help="Only cases of this unit (repeatable)"),
    expires_in_days: int | None = typer.Option(None, min=1, help="Refused after this many days"),
) -> None:
    """Create a client; its token is printed once and cannot be shown again."""
    from datetime import timedelta

    from models.types import utcnow
    from services.tokens import TokenError, create_client

    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        new = create_client(
            _engine(),
            name,
            scope,
            user_id=user,
            programs=program,
            units=unit,
            expires_at=expires,
        )
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"API client {new.client.name} (id {new.client.id}), scopes: {', '.join(scope)}", err=True
    )
    typer.echo("Token (shown once; store it now):", err=True)
    typer.echo(new.token)


@app.command("list")
def list_() -> None:
    """List clients (never their tokens)."""
    from services.tokens import list_clients

    for c in list_clients(_engine()):
        state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
        if c.expires_at and not c.revoked_at:
            state += f", expires {c.expires_at:%Y-%m-%d %H:%M}"
        who = f"as {c.user_id}" if c.user_id else "service"
        limits = (
            ",".join(
                [*(f"program:{p}" for p in c.programs or []), *(f"unit:{u}" for u in c.units or [])]
            )
            or "all"
        )
        used = f"used {c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "never used"
        typer.echo(
            f"{c.id:>4}  {c.name:<24} {','.join(c.scopes or []):<32} {who:<12} {limits:<20} "
            f"{state}; {used}"
        )


@app.command()
def rotate(
    client: int = typer.Argument(..., help="Client id"),
    overlap: int = typer.Option(0, min=0, help="Seconds the old token stays valid (0: none)"),
) -> None:
    """Give a client a new token (printed once); the old one works `--overlap` seconds more."""
    from services.tokens import TokenError
    from services.tokens import rotate as do_rotate

    try:
        new = do_rotate(_engine(), client, overlap)
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if new is None:
        typer.echo(f"no active API client {client}", err=True)
        raise typer.Exit(1)
    typer.echo(f"API client {new.client.name} (id {client}) rotated", err=True)
    typer.echo("Token (shown once; store it now):", err=True)
    typer.echo(new.token)


@app.command()
def revoke(
    client: str = typer.Argument(..., help="Client id, or name (revokes all of that name)"),
) -> None:
    """Revoke a client's token at once."""
    from services.tokens import revoke as do_revoke

    revoked = do_revoke(_engine(), client)
    if not revoked:
        typer.echo(f"no active API client {client!r}", err=True)
        raise typer.Exit(1)
    for c in revoked:
        typer.echo(f"revoked {c.name} (id {c.id})")
