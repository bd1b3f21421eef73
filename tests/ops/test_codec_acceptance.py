"""Acceptance of payload encryption, end to end, as `make run` runs it.

A Temporal dev server on a database file of its own, started as `make run` starts it (with the
UI's codec endpoint pointing at the app's /codec), the app and a worker; one case with a unique
customer name and verbatim plus a note. Then: the text is nowhere in the dev server's database
files; `temporal workflow show` shows ciphertext without the codec and the text with it; the
Temporal UI in Chromium shows the decoded input to an admin signed in to Caseloop.

The Temporal UI decodes with the admin's Caseloop session: in the UI's codec settings the admin
ticks "Include cross-origin credentials", so the browser sends the session cookie of the app's
host (the UI and the app are the same site, localhost). No unauthenticated decoding, not even
in development.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from core.temporal import data_converter
from models.db import make_engine
from services.tokens import create_client
from tests.conftest import binary, sqlite_db, terminate_cases
from tests.factories import running_worker
from tests.live import ServerThread, eventually, fill_login_form, free_port
from tests.web.conftest import PASSWORD, seed_web
from workflows.search_attributes import SEARCH_ATTRIBUTES

# Scrolls the nearest scrolling box around an element by a screenful.
SCROLL_ON = """e => {
    for (let n = e; n; n = n.parentElement) {
        if (n.scrollHeight > n.clientHeight + 1 && getComputedStyle(n).overflowY !== "visible") {
            n.scrollBy(0, n.clientHeight * 0.8);
            return;
        }
    }
}"""


@dataclass
class Stack:
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    db_dir: Path
    api_url: str  # http://localhost:<port>: the host the UI's codec endpoint names
    ui_url: str
    token: str  # cases:write + cases:read
    codec_token: str

    @property
    def address(self) -> str:
        return self.env.client.service_client.config.target_host

    @property
    def codec_endpoint(self) -> str:
        return f"{self.api_url}/codec"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("codec")
    db_dir = tmp / "temporal"
    db_dir.mkdir()
    api_port, ui_port = free_port(), free_port()
    api_url, ui_url = f"http://localhost:{api_port}", f"http://localhost:{ui_port}"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        dev_server_database_filename=str(db_dir / "temporal.db"),
        dev_server_extra_args=["--ui-codec-endpoint", f"{api_url}/codec"],
        ui=True,
        ui_port=ui_port,
        data_converter=data_converter(Settings()),
        search_attributes=list(SEARCH_ATTRIBUTES),
    )
    url = sqlite_db(tmp)
    settings = Settings(
        database_url=url,
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
        task_queue=f"caseloop-codec-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp / "uploads",
        public_base_url=api_url,
        codec_cors_origins=[ui_url],
    )
    engine = make_engine(url)
    seed_web(engine)
    token = create_client(engine, "intake", ["cases:write", "cases:read", "delegate"]).token
    codec_token = create_client(engine, "temporal-cli", ["codec"]).token
    from api import create_app

    server = ServerThread(create_app(settings, engine=engine), api_port)
    try:
        async with running_worker(env.client, engine, settings):
            await asyncio.to_thread(server.start)
            try:
                yield Stack(env, engine, settings, db_dir, api_url, ui_url, token, codec_token)
            finally:
                await asyncio.to_thread(server.stop)
                await terminate_cases(env, engine)
    finally:
        engine.dispose()
        await env.shutdown()


@dataclass
class Created:
    case_id: str
    name: str
    email: str
    verbatim: str
    note: str

    @property
    def secrets(self) -> list[str]:
        return [self.name, self.email, self.verbatim, self.note]


@pytest.fixture(scope="module")
async def case(stack: Stack) -> Created:
    tag = uuid.uuid4().hex[:12]
    created = Created(
        case_id="",
        name=f"Ingrid Zq{tag}",
        email=f"ingrid.{tag}@example.com",
        verbatim=f"Verbatim {tag}: the lift was out of order for three days",
        note=f"Note {tag}: offered a free night",
    )
    headers = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=30) as api:
        body = {
            "program_id": "recovery",
            "unit_id": "4723",
            "channel": "contact_center",
            "customer": {"name": created.name, "email": created.email},
            "transaction": {"date": "2026-11-20", "room": "512"},
            "category": "Housekeeping",
            "reason": "Lift out of order",
            "verbatim": created.verbatim,
        }
        r = await api.post("/api/v1/cases", json=body)
        assert r.status_code == 201, r.text
        created.case_id = r.json()["id"]

        async def projected() -> bool:
            r = await api.get(f"/api/v1/cases/{created.case_id}")
            return bool(r.json()["version"] >= 1)

        async def noted() -> bool:
            r = await api.get(f"/api/v1/cases/{created.case_id}")
            return bool(r.json()["version"] >= 2)

        await eventually(projected, what="the case projected")
        r = await api.post(
            f"/api/v1/cases/{created.case_id}/notes",
            json={"acting_user": "ole", "text": created.note},
        )
        assert r.status_code in (200, 202), r.text
        await eventually(noted, what="the note projected")
    return created


async def temporal_cli(stack: Stack, *args: str, ok: bool = True) -> str:
    """`temporal <args>` against the stack's server; its stdout (and stderr, when not `ok`)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [binary("temporal"), *args, "--address", stack.address, "--namespace", "default"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stderr
        return done.stdout
    return done.stdout + done.stderr


async def test_the_dev_servers_database_holds_no_clear_text(stack: Stack, case: Created) -> None:
    files = sorted(stack.db_dir.glob("temporal.db*"))  # the database, its WAL and shared memory
    stored = b"".join([await asyncio.to_thread(f.read_bytes) for f in files])
    assert case.case_id.encode() in stored, "the case's workflow is in these files"
    for secret in case.secrets:
        assert secret.encode() not in stored, f"{secret!r} in {[f.name for f in files]}"


def payload_texts(shown: str) -> tuple[str, set[bytes]]:
    """The payloads' data of `temporal workflow show -o json` (base64 in the JSON), as text,
    and their encodings."""
    texts: list[str] = []
    encodings: set[bytes] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "data" in node:
                texts.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
                encodings.add(base64.b64decode(node["metadata"].get("encoding", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown))
    return "\n".join(texts), encodings


async def test_temporal_workflow_show_needs_the_codec_endpoint(stack: Stack, case: Created) -> None:
    show = ["workflow", "show", "-w", case.case_id, "-o", "json"]
    shown = await temporal_cli(stack, *show)
    plain, encodings = payload_texts(shown)
    # What the SDK itself writes stays plain: search attributes (the server indexes them),
    # patch and local-activity markers. None of it personal.
    assert b"binary/encrypted" in encodings
    started = json.loads(shown)["events"][0]["workflowExecutionStartedEventAttributes"]
    [case_input] = started["input"]["payloads"]
    assert base64.b64decode(case_input["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(case_input["metadata"]["encryption-key-id"]) == b"test-1"
    for secret in case.secrets:
        assert secret not in plain

    codec = ["--codec-endpoint", stack.codec_endpoint]
    auth = ["--codec-auth", f"Bearer {stack.codec_token}"]
    decoded, encodings = payload_texts(await temporal_cli(stack, *show, *codec, *auth))
    assert b"binary/encrypted" not in encodings and b"json/plain" in encodings
    assert case.verbatim in decoded and case.note in decoded and case.name in decoded

    # Without the token the codec server refuses: nothing decoded.
    refused = await temporal_cli(stack, *show, *codec, ok=False)
    assert case.verbatim not in refused


async def test_the_temporal_ui_shows_the_decoded_input_to_a_signed_in_admin(
    stack: Stack, case: Created, browser: Any, artifacts: Path
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        # In the Temporal UI, the codec settings (the status icon in the top bar): the endpoint
        # `make run` gave it, now with the browser's credentials (a Caseloop session) included.
        await page.goto(stack.ui_url)
        await page.get_by_role("button", name=re.compile("^Codec Server")).click()
        await page.get_by_label("Use my browser setting and ignore Cluster-level setting.").check()
        await page.get_by_label("Codec Server browser endpoint").fill(stack.codec_endpoint)
        credentials = page.get_by_role("switch", name="Include cross-origin credentials")
        await page.locator("label", has_text="Include cross-origin credentials").click()
        assert await credentials.is_checked()
        await page.get_by_role("button", name="Apply").click()

        # Not signed in to Caseloop: the codec server refuses, the UI shows no clear text.
        workflow = f"{stack.ui_url}/namespaces/default/workflows/{case.case_id}"
        async with page.expect_response(lambda r: "/codec/decode" in r.url) as answered:
            await page.goto(workflow)
        assert (await answered.value).status == 401
        refused = page.get_by_text("Codec Server could not connect").filter(visible=True)
        await refused.first.wait_for()
        shown = await page.locator(".cm-content").all_inner_texts()
        assert shown and not any('"case_id"' in text for text in shown), shown
        assert case.name not in await page.content()

        # Signed in as an admin (the session cookie of localhost), the same page decodes.
        await page.goto(f"{stack.api_url}/login")
        await fill_login_form(page, "root", PASSWORD)
        await page.wait_for_url(lambda url: "/login" not in url)
        await page.goto(workflow)
        # The Input panel shows the decoded CaseInput (encrypted, it would be unreadable bytes).
        await page.get_by_text(f'"case_id": "{case.case_id}"').wait_for(timeout=30_000)
        # The editor draws the lines in view only: scroll through it, reading as a person would.
        located = page.locator(".cm-content", has_text=case.case_id).first
        editor = await located.element_handle()  # this editor, whichever lines it draws
        read = ""
        for _ in range(60):
            read += await editor.inner_text()
            if case.verbatim in read:
                break
            await editor.evaluate(SCROLL_ON)
            await page.wait_for_timeout(50)
        assert case.verbatim in read and case.name in read, read[-2000:]
        await page.get_by_text(case.verbatim).scroll_into_view_if_needed()
        await page.screenshot(path=str(artifacts / "temporal-ui-decoded.png"), full_page=True)
    finally:
        await context.close()
