"""GDPR export and erasure, end to end: the real app, a real worker on the Temporal dev server
(the time-skipping server cannot delete executions), SQLite and PostgreSQL.

After an erasure nothing of the customer (their unique name, email, phone, verbatim, note,
reply and document text) is left in any text of any table, in the uploads directory or in
Temporal; the dashboard's totals are what they were.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import Engine, select
from sqlmodel import SQLModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from core.payload_crypto import key_ring
from core.settings import Settings
from core.temporal import data_converter, ensure_search_attributes
from models.case import Case, CustomerErasure
from services import documents
from services.configuration import apply_config
from tests.api.conftest import api_config, bearer
from tests.api.test_cases import BODY, wait_version
from tests.conftest import migrated_db
from tests.live import eventually
from workflows.search_attributes import SEARCH_ATTRIBUTES


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from migrated_db(request.param, tmp_path, "caseloop_gdpr")


@pytest.fixture
def gdpr_engine(db_url: str) -> Any:
    from models.db import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def gdpr_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        task_queue=f"caseloop-gdpr-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp_path / "uploads",
        public_base_url="http://testserver",
    )


async def own_namespace(dev_env: WorkflowEnvironment) -> Client:
    """A client of a new namespace on the dev server: case ids (C-000001...) of the other
    backend's run, or of another module, never meet these."""
    name = f"caseloop-gdpr-{uuid.uuid4().hex[:6]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = Client(
        dev_env.client.service_client, namespace=name, data_converter=data_converter(Settings())
    )

    async def served() -> bool:
        try:
            await ensure_search_attributes(client, name, SEARCH_ATTRIBUTES)
            await client.count_workflows()
        except Exception:
            return False
        return True

    await eventually(served, within=60, what=f"namespace {name} served", every=0.5)
    return client


@pytest.fixture
async def temporal(dev_env: WorkflowEnvironment) -> Client:
    return await own_namespace(dev_env)


@pytest.fixture
async def admin_api(
    temporal: Client, gdpr_engine: Engine, gdpr_settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    from api import create_app
    from services.tokens import create_client
    from tests.api.conftest import CLIENTS
    from tests.factories import running_worker

    apply_config(gdpr_engine, api_config())
    tokens = {n: create_client(gdpr_engine, n, s).token for n, s in CLIENTS.items()}
    app = create_app(gdpr_settings, temporal=temporal, engine=gdpr_engine)
    async with running_worker(temporal, gdpr_engine, gdpr_settings):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=bearer(tokens["rw"])
        ) as client:
            yield client, tokens
        with gdpr_engine.connect() as conn:
            left = conn.execute(select(Case.__table__.c.id)).scalars().all()  # type: ignore[attr-defined]
        for case_id in left:  # the other customer's case: still open
            with contextlib.suppress(RPCError):
                await temporal.get_workflow_handle(case_id).terminate("test finished")


def every_text(engine: Engine) -> str:
    """Every value of every column of every table, as one text (the scan of the read model)."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts += [repr(v) for v in row]
    return "\n".join(parts)


def every_upload(directory: Path) -> bytes:
    if not directory.exists():
        return b""
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


async def summary(api: httpx.AsyncClient, tokens: dict[str, str]) -> dict[str, Any]:
    r = await api.get("/api/v1/reports/summary", headers=bearer(tokens["reports"]))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_export_then_erase_leaves_nothing_of_the_customer(
    admin_api: tuple[httpx.AsyncClient, dict[str, str]],
    temporal: Client,
    gdpr_engine: Engine,
    gdpr_settings: Settings,
) -> None:
    api, tokens = admin_api
    admin = bearer(tokens["admin"])
    tag = uuid.uuid4().hex[:10]
    pii = {
        "name": f"Zebedee Quist{tag}",
        "email": f"zq{tag}@example.org",
        "phone": f"+47 9{uuid.uuid4().int % 10**7:07d}",
        "verbatim": f"The minibar ate my passport {tag}",
        "note": f"Called back, customer mentioned allergy {tag}",
        "reply": f"Dear guest, about the passport {tag}",
        "document": f"scan of booking {tag}",
        "concern": f"The shower flooded room {tag}",
        "suggestion": f"Serve kelp smoothies {tag}",
        "survey_comment": f"Ask for Zebedee at the desk {tag}",
    }
    customer = {"name": pii["name"], "email": pii["email"], "phone": pii["phone"]}
    body = {**BODY, "customer": customer, "verbatim": pii["verbatim"]}

    r = await api.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    closed = r.json()
    await wait_version(api, closed["id"], 1)
    r = await api.post(
        f"/api/v1/cases/{closed['id']}/notes", json={"acting_user": "ole", "text": pii["note"]}
    )
    assert r.status_code == 200, r.text
    r = await api.post(
        f"/api/v1/cases/{closed['id']}/close",
        json={
            "acting_user": "ole",
            "closing_status": "resolved",
            "root_causes": ["staff"],
            "final_note": f"Refunded {tag}",
        },
    )
    assert r.status_code == 200, r.text
    # An owner cannot close a case as erased: that is the erasure's own closing status.
    opened = (await api.post("/api/v1/cases", json=body)).json()
    await wait_version(api, opened["id"], 1)
    r = await api.post(
        f"/api/v1/cases/{opened['id']}/close",
        json={
            "acting_user": "ole",
            "closing_status": "erased_on_request",
            "root_causes": ["staff"],
            "final_note": "x",
        },
    )
    assert r.status_code == 422
    r = await api.post(
        f"/api/v1/cases/{opened['id']}/replies",
        json={"acting_user": "ole", "subject": "Your stay", "text": pii["reply"]},
    )
    assert r.status_code == 200, r.text
    # A document with bytes (as the case page stores an upload).
    r = await api.post(
        f"/api/v1/cases/{opened['id']}/documents",
        json={
            "acting_user": "ole",
            "filename": "booking.txt",
            "content_type": "text/plain",
            "size": len(pii["document"]),
        },
    )
    assert r.status_code == 200, r.text
    doc_id = next(e for e in r.json()["timeline"] if e["kind"] == "document")["data"]["document_id"]
    documents.store(
        gdpr_settings.upload_dir, doc_id, pii["document"].encode(), key_ring(gdpr_settings)
    )

    # Survey returns: one opens a case (a concern), one is shared as an FYI (a suggestion).
    survey = {
        "program_id": "recovery",
        "unit_id": "4723",
        "customer": customer,
        "transaction": {"date": "2026-11-20", "type": "stay"},
        "comments": pii["survey_comment"],
    }
    r = await api.post(
        "/api/v1/survey-responses",
        json={
            **survey,
            "response_id": f"R-{tag}-1",
            "answers": {"concern": "yes", "concern_text": pii["concern"], "ltr": 7},
        },
    )
    assert r.status_code in (200, 201) and r.json()["outcome"] == "case", r.text
    surveyed = r.json()["case_id"]
    await wait_version(api, surveyed, 1)
    r = await api.post(
        "/api/v1/survey-responses",
        json={**survey, "response_id": f"R-{tag}-2", "answers": {"suggestion": pii["suggestion"]}},
    )
    assert r.status_code in (200, 201) and r.json()["outcome"] == "fyi", r.text

    other = (
        await api.post(
            "/api/v1/cases",
            json={**BODY, "customer": {"name": f"Other {tag}", "email": f"o{tag}@example.org"}},
        )
    ).json()
    await wait_version(api, other["id"], 1)
    customer_id = closed["customer_id"]
    assert opened["customer_id"] == customer_id != other["customer_id"]
    before = await summary(api, tokens)

    # ------------------------------------------------------------ export: admin only
    for token in ("rw", "reader", "reports"):
        r = await api.get(f"/api/v1/customers/{customer_id}/export", headers=bearer(tokens[token]))
        assert r.status_code == 403, (token, r.status_code)
    assert (await api.get("/api/v1/customers/999999/export", headers=admin)).status_code == 404
    r = await api.get(f"/api/v1/customers/{customer_id}/export", headers=admin)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    exported = r.json()
    assert exported["customer"]["email"] == pii["email"]
    cases = {c["id"]: c for c in exported["cases"]}
    assert set(cases) == {closed["id"], opened["id"], surveyed}
    assert {r["comments"] for r in exported["survey_responses"]} == {pii["survey_comment"]}
    assert [f["text"] for f in exported["fyis"]] == [pii["suggestion"]]
    assert cases[closed["id"]]["verbatim"] == pii["verbatim"]
    assert [n["data"]["text"] for n in cases[closed["id"]]["notes"]] == [pii["note"]]
    assert cases[opened["id"]]["replies"][0]["data"]["text"] == pii["reply"]
    assert any(pii["reply"] in m["body_text"] for m in cases[opened["id"]]["messages"])
    (doc,) = cases[opened["id"]]["documents"]
    assert base64.b64decode(doc["content_base64"]).decode() == pii["document"]

    # ------------------------------------------------------------ erase: admin only, idempotent
    r = await api.post(f"/api/v1/customers/{customer_id}/erase", headers=bearer(tokens["rw"]))
    assert r.status_code == 403
    assert (await api.post("/api/v1/customers/999999/erase", headers=admin)).status_code == 404
    r = await api.post(f"/api/v1/customers/{customer_id}/erase", headers=admin)
    assert r.status_code == 200, r.text
    erased = r.json()
    assert erased["replayed"] is False and sorted(erased["case_ids"]) == sorted(cases)
    assert erased["counts"]["documents"] == 1 and erased["workflows_deleted"] >= 2
    assert erased["counts"]["workflows_left"] == 0
    again = (await api.post(f"/api/v1/customers/{customer_id}/erase", headers=admin)).json()
    assert again["replayed"] is True and again["id"] == erased["id"]

    # The open case was closed as erased on request, through the workflow.
    row = (await api.get(f"/api/v1/cases/{opened['id']}")).json()
    assert row["status"] == "closed" and row["closing_status"] == "erased_on_request"

    # ------------------------------------------------------------ nothing is left
    text = every_text(gdpr_engine)
    for what, value in pii.items():
        assert value not in text, f"the customer's {what} is still in the read model"
    assert tag in text  # the other customer's case is untouched ("Other <tag>")
    uploads = every_upload(gdpr_settings.upload_dir)
    assert pii["document"].encode() not in uploads
    assert not documents.stored_path(gdpr_settings.upload_dir, doc_id).exists()
    with gdpr_engine.connect() as conn:
        record = conn.execute(select(CustomerErasure.__table__)).one()  # type: ignore[attr-defined]
    assert record.customer_id == customer_id and record.erased_by == "api:admin"
    assert not any(v in repr(tuple(record)) for v in pii.values())

    for case_id in cases:

        async def gone(case_id: str = case_id) -> bool:
            request = DescribeWorkflowExecutionRequest(
                namespace=temporal.namespace, execution=WorkflowExecution(workflow_id=case_id)
            )
            try:
                await temporal.workflow_service.describe_workflow_execution(request)
            except RPCError as err:
                return err.status == RPCStatusCode.NOT_FOUND
            return False

        # A closed execution is deleted asynchronously: about 30 s later on the dev server.
        await eventually(gone, within=90, what=f"{case_id} deleted from Temporal", every=0.5)

    # ------------------------------------------------------------ the dashboard adds up
    after = await summary(api, tokens)
    assert after["cases"]["total"] == before["cases"]["total"] == 4
    assert after["fyi"] == before["fyi"]
    assert after["by_channel"] == before["by_channel"]
    # Counts by root cause are those of before (shares of "closed" moved: one more is closed).
    causes = [
        [(r["root_cause"], r["closed"], r["resolved"]) for r in s["root_causes"]]
        for s in (before, after)
    ]
    assert causes[0] == causes[1]
    # The open cases are closed now, as erased: neither resolved nor unresolved.
    assert after["cases"]["closed"] == before["cases"]["closed"] + 2
    for key in ("resolved", "unresolved"):
        assert after["closing"][key] == before["closing"][key]
