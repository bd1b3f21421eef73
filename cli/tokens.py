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
        ..., help="cases:write, cases:read, reports:read, metrics:read, codec or admin (repeatable)"
    ),
) -> None:
    """Create a client; its token is printed once and cannot be shown again."""
    from services.tokens import TokenError, create_client

    try:
        new = create_client(_engine(), name, scope)
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
        typer.echo(f"{c.id:>4}  {c.name:<24} {','.join(c.scopes or []):<32} {state}")


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
