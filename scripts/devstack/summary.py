"""What `make run` tells you once everything is up: where to go, and how to sign in."""

from __future__ import annotations

from collections.abc import Sequence

from scripts.devstack.console import console
from scripts.devstack.paths import (
    ROOT,
    TEMPORAL_ADDRESS,
    TEMPORAL_DB,
    TEMPORAL_NAMESPACE,
    TEMPORAL_UI_PORT,
)

TEMPORAL_UI = f"http://localhost:{TEMPORAL_UI_PORT}"


def print_block(lines: Sequence[str]) -> None:
    rule = console.paint("─" * 72, "2")
    console.print()
    console.print(rule)
    for line in lines:
        console.print(f"  {line}")
    console.print(rule)


def temporal_running() -> None:
    print_block(
        [
            console.paint("Temporal dev server is running", "1;32"),
            f"gRPC          {TEMPORAL_ADDRESS}   (namespace {TEMPORAL_NAMESPACE})",
            f"Temporal UI   {TEMPORAL_UI}",
            f"Data          {TEMPORAL_DB.relative_to(ROOT)}",
            "Press Ctrl-C to stop.",
        ]
    )


def caseloop_running(
    public_url: str,
    key_from_env: bool,
    seed_lines: Sequence[str],
    payload_keys_from_env: bool = False,
) -> None:
    lines = [
        console.paint("Caseloop is running", "1;32"),
        f"App           {public_url}",
        f"API docs      {public_url}/docs",
        f"Temporal UI   {TEMPORAL_UI}   (decoded by {public_url}/codec for a signed-in admin)",
        "Logs          .data/logs/{temporal,worker,api}.log",
        "Secret key    "
        + ("from SECRET_KEY" if key_from_env else ".data/secret_key (kept; delete to rotate)"),
        "Payload keys  "
        + (
            "from PAYLOAD_KEYS / PAYLOAD_KEYS_FILE"
            if payload_keys_from_env
            else ".data/payload_keys (kept; never delete: .data/temporal.db needs it)"
        ),
    ]
    if seed_lines:
        lines += ["", "From seed-demo:"] + [f"  {line}" for line in seed_lines]
    lines += ["", "Press Ctrl-C to stop. Data stays in .data/ for the next run."]
    print_block(lines)
