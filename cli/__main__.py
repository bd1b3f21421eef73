"""`python -m cli`: the operator commands."""

from cli.main import app

app()
