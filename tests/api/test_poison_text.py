"""Text the databases cannot store (NUL, lone surrogates) is refused at the edge of the JSON API.

Every string the OpenAPI document declares — in every request body (nested objects, list items,
map keys and values), every path and query parameter — is poisoned in turn, from a valid
request: the answer is 422 problem+json naming that field, and nothing is written.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine, MetaData, func, select
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.mail.schema import NotificationsIn
from models.db import make_engine
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import api_config, bearer
from tests.api.test_cases import BODY
from tests.conftest import migrated_db, sqlite_db, terminate_cases
from tests.live import eventually

NUL, SURROGATE = "\x00", "\ud800"
KEY = object()  # in a path: poison the map's key, not its value
CASE = "{case}"  # replaced by the module's real case id

# A valid request for every operation that takes text (method, path) -> (json body or None).
# `None` bodies: only the parameters carry text. The config bodies are read from the app.
SURVEY = {
    "program_id": "recovery",
    "unit_id": "4723",
    "response_id": "SV-1",
    "customer": {"name": "Ingrid Berg", "email": "ingrid@example.com", "external_ref": "G-1"},
    "transaction": {"date": "2026-11-20"},
    "answers": {"concern": True, "concern_text": "Broken shower", "ltr": 3},
    "comments": "Please call",
}
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/cases"): {**BODY, "external_ref": "CC-1"},
    ("GET", "/api/v1/cases"): None,
    ("GET", "/api/v1/cases/{case_id}"): None,
    ("POST", "/api/v1/cases/{case_id}/notes"): {"acting_user": "ole", "text": "Called"},
    ("POST", "/api/v1/cases/{case_id}/contact-attempts"): {
        "acting_user": "ole",
        "method": "phone",
        "outcome": "reached",
        "note": "Spoke to her",
    },
    ("POST", "/api/v1/cases/{case_id}/documents"): {
        "acting_user": "ole",
        "filename": "receipt.pdf",
        "content_type": "application/pdf",
        "size": 10,
    },
    ("POST", "/api/v1/cases/{case_id}/reassign"): {
        "acting_user": "ole",
        "new_owner_id": "alex",
        "reason": "Billing",
    },
    ("POST", "/api/v1/cases/{case_id}/reclassify"): {
        "acting_user": "ole",
        "reason": "VIP",
        "category": "Billing",
        "subcategory": "",
        "priority": "high",
    },
    ("POST", "/api/v1/cases/{case_id}/reopen"): {"acting_user": "ole", "reason": "Again"},
    ("POST", "/api/v1/cases/{case_id}/pause"): {"acting_user": "ole", "note": "Asked for it"},
    ("POST", "/api/v1/cases/{case_id}/resume"): {"acting_user": "ole", "note": "It came"},
    ("GET", "/api/v1/cases/{case_id}/tasks"): None,
    ("POST", "/api/v1/cases/{case_id}/tasks"): {
        "acting_user": "ole",
        "title": "Call back",
        "assignee_id": "ole",
        "due_in": "8 business hours",
    },
    ("POST", "/api/v1/cases/{case_id}/tasks/{task_id}/done"): {"acting_user": "ole"},
    ("POST", "/api/v1/cases/{case_id}/tasks/{task_id}/undone"): {"acting_user": "ole"},
    ("GET", "/api/v1/cases/{case_id}/links"): None,
    ("POST", "/api/v1/cases/{case_id}/links"): {"acting_user": "ole", "other_id": "C-000001"},
    ("DELETE", "/api/v1/cases/{case_id}/links/{other_id}"): None,
    ("POST", "/api/v1/cases/{case_id}/merge"): {"acting_user": "ole", "primary_id": "C-000001"},
    ("POST", "/api/v1/cases/{case_id}/unmerge"): {"acting_user": "ole"},
    ("POST", "/api/v1/cases/{case_id}/watchers"): {"acting_user": "ole", "user_id": "alex"},
    ("DELETE", "/api/v1/cases/{case_id}/watchers/{user_id}"): None,
    ("POST", "/api/v1/cases/{case_id}/close"): {
        "acting_user": "ole",
        "closing_status": "resolved",
        "root_causes": ["staff"],
        "resolution_methods": ["apology"],
        "final_note": "Apologised",
    },
    ("POST", "/api/v1/cases/{case_id}/remeasurement"): {
        "satisfaction": 4,
        "resolved": True,
        "comment": "Fine",
    },
    ("POST", "/api/v1/survey-responses"): SURVEY,
    ("POST", "/api/v1/customers/{customer_id}/merge"): {"merged_id": 2, "note": "Same guest"},
    ("PUT", "/api/v1/config"): "/api/v1/config",
    ("GET", "/api/v1/config/programs/{program_id}"): None,
    ("PUT", "/api/v1/config/programs/{program_id}"): "/api/v1/config/programs/recovery",
    ("PATCH", "/api/v1/config/programs/{program_id}"): {"name": "Guest Recovery"},
    ("GET", "/api/v1/config/units/{unit_id}"): None,
    ("PUT", "/api/v1/config/units/{unit_id}"): "/api/v1/config/units/4723",
    ("PATCH", "/api/v1/config/units/{unit_id}"): {"name": "Oslo Harbour"},
    ("GET", "/api/v1/config/users/{user_id}"): None,
    ("PUT", "/api/v1/config/users/{user_id}"): "/api/v1/config/users/ole",
    ("PATCH", "/api/v1/config/users/{user_id}"): {"name": "Ole Owner"},
    ("POST", "/api/v1/api-clients"): {"name": "crm", "scopes": ["cases:read"]},
    ("POST", "/api/v1/api-clients/{client_id}/rotate"): {"overlap_seconds": 0},
    ("GET", "/api/v1/audit"): None,
    ("GET", "/api/v1/reports/summary"): None,
    ("GET", "/api/v1/templates/{program_id}"): None,
    ("PUT", "/api/v1/templates/{program_id}/{kind}"): {
        "subject": "Case {{ case.id }}",
        "text": "Hello",
        "html": "<p>Hello</p>",
    },
    ("DELETE", "/api/v1/templates/{program_id}/{kind}"): None,
    ("POST", "/api/v1/templates/preview"): {
        "kind": "alert",
        "subject": "Case {{ case.id }}",
        "text": "Hello",
        "html": "<p>Hello</p>",
        "program_id": "recovery",
        "case_id": CASE,
    },
    ("GET", "/api/v1/kb/articles"): None,
    ("POST", "/api/v1/kb/articles"): {
        "program_id": "recovery",
        "title": "Refunds",
        "body": "Refund **one night**.",
        "status": "draft",
    },
    ("PATCH", "/api/v1/kb/articles/{article_id}"): {"title": "Refunds", "body": "A night."},
    ("GET", "/api/v1/cases/{case_id}/reply-templates"): None,
    ("POST", "/api/v1/webhooks"): {"url": "https://crm.example.com/hook", "events": ["opened"]},
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): {
        "url": "https://crm.example.com/hook",
        "events": ["closed"],
    },
    ("POST", "/api/v1/webhooks/{subscription_id}/rotate"): {"overlap_seconds": 60},
    ("POST", "/api/v1/cases/{case_id}/replies"): {
        "acting_user": "ole",
        "template_key": "apology",
        "subject": "Our apologies",
        "text": "Dear guest",
    },
}
# Valid values of the parameters.
PARAMS = {
    "case_id": CASE,
    "user_id": "mia",
    "program_id": "recovery",
    "unit_id": "4723",
    "kind": "alert",
    "acting_user": "ole",
    "customer_id": "1",
    "client_id": "1",
    "article_id": "1",
    "subscription_id": "1",
    "delivery_id": "1",
    "task_id": "1",
    "other_id": "C-000001",
}


@dataclass
class Poisoned:
    method: str
    path: str
    where: str  # body | query | path | header
    field: tuple[Any, ...]

    @property
    def id(self) -> str:
        parts = ".".join("<key>" if p is KEY else str(p) for p in self.field)
        return f"{self.method} {self.path} {self.where}:{parts}"


def _schema() -> dict[str, Any]:
    from api import create_app

    schema: dict[str, Any] = create_app(Settings()).openapi()
    return schema


SPEC = _schema()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = SPEC["components"]["schemas"][name]
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    alts = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if not alts:
        return [schema]
    return [b for alt in alts for b in _branches(alt)]


def text_fields(schema: dict[str, Any], value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple]:
    """Every place a string can go in a value of `schema` (guided by a valid `value`)."""
    branches = _branches(schema)
    objects = [b for b in branches if b.get("type") == "object" or "properties" in b]
    if isinstance(value, dict) and len(objects) > 1:  # a union: the variant the value is
        objects = [b for b in objects if _is_variant(b, value)] or objects
    arrays = [b for b in branches if b.get("type") == "array"]
    if objects and (isinstance(value, dict) or value is None):
        props: dict[str, Any] = {}
        for b in objects:
            props.update(b.get("properties", {}))
        for name, sub in props.items():
            yield from text_fields(sub, (value or {}).get(name), (*at, name))
        for b in objects:
            extra = b.get("additionalProperties")
            if isinstance(extra, dict):
                names = _resolve(b.get("propertyNames", {})).get("enum", ["k"])
                keys = list(value) if value else names[:1]
                yield (*at, keys[0], KEY)
                for key in keys:
                    yield from text_fields(extra, (value or {}).get(key), (*at, key))
        return
    if arrays and (isinstance(value, list) or value is None):
        item = value[0] if value else None
        yield from text_fields(arrays[0].get("items", {}), item, (*at, 0))
        return
    if any(b.get("type") == "string" for b in branches):
        yield at


def _is_variant(branch: dict[str, Any], value: dict[str, Any]) -> bool:
    props = branch.get("properties", {})
    if not set(value) <= set(props):
        return False
    for key, sub in props.items():
        allowed = _resolve(sub).get("enum") or (
            [_resolve(sub)["const"]] if "const" in _resolve(sub) else None
        )
        if allowed is not None and key in value and value[key] not in allowed:
            return False
    return True


def _cases() -> list[Poisoned]:
    found: list[Poisoned] = []
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            key = (method.upper(), path)
            params = [p for p in op.get("parameters", []) if "string" in json.dumps(p["schema"])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not params and not body:
                continue
            assert key in BODIES, f"give a valid request for {key} in BODIES"
            for p in params:
                found.append(Poisoned(key[0], path, p["in"], (p["name"],)))
            if body:
                base = BODIES[key]
                seen = set()
                for field in text_fields(body["schema"], None if isinstance(base, str) else base):
                    if field not in seen:
                        seen.add(field)
                        found.append(Poisoned(key[0], path, "body", field))
    return found


CASES = _cases()


def _set(body: Any, field: tuple[Any, ...], poison: str) -> Any:
    """`body` with the value (or key) at `field` poisoned; containers made on the way."""
    body = copy.deepcopy(body)
    target = body
    for i, part in enumerate(field[:-1]):
        nxt = field[i + 1]
        if nxt is KEY:
            value = target.pop(part, "x") if isinstance(target, dict) else "x"
            target[f"{part}{poison}"] = value
            return body
        if isinstance(target, list):
            while len(target) <= part:
                target.append({} if not isinstance(nxt, int) else [])
            if not isinstance(target[part], dict | list):
                target[part] = {} if not isinstance(nxt, int) else []
            target = target[part]
        else:
            if not isinstance(target.get(part), dict | list):
                target[part] = [] if isinstance(nxt, int) else {}
            target = target[part]
    last = field[-1]
    if isinstance(target, list):
        while len(target) <= last:
            target.append("")
        target[last] = f"x{poison}y"
    else:
        old = target.get(last)
        target[last] = f"{old if isinstance(old, str) else 'x'}{poison}"
    return body


def _expected_field(field: tuple[Any, ...]) -> str:
    """The field the problem must name: for a poisoned map key, the map."""
    return ".".join(str(p) for p in (field[:-2] if field[-1] is KEY else field))


def _names(expected: str, field: str) -> bool:
    """`field` is `expected`, a part of it, or it with a union's tag inserted
    ("alert_rules.0.concern.question" for "alert_rules.0.question")."""
    if field == expected or field.startswith(f"{expected}."):
        return True
    if expected.endswith(".kind") and field == expected.removesuffix(".kind"):
        return True  # a union's tag: pydantic names the union
    parts, want = field.split("."), expected.split(".")
    return any(parts[:i] + parts[i + 1 :] == want for i in range(len(parts)))


@dataclass
class PoisonApp:
    client: httpx.AsyncClient
    engine: Engine
    case_id: str


@pytest.fixture(scope="module")
async def poison_app(
    ts_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PoisonApp]:
    """One app, worker, database and case for the module: every request here is refused."""
    import uuid

    from api import create_app
    from tests.factories import running_worker

    tmp = tmp_path_factory.mktemp("poison")
    url = sqlite_db(tmp)
    engine = make_engine(url)
    settings = Settings(
        database_url=url,
        task_queue=f"caseloop-poison-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp / "uploads",
        public_base_url="http://testserver",
    )
    doc = api_config()
    # Messaging configured too, so that its texts are in the bodies read back and poisoned.
    for program in doc.programs:
        program.notifications = NotificationsIn.model_validate(
            {
                "templates": {"alert": {"subject": "Case", "text": "Hi", "html": "<p>Hi</p>"}},
                "replies": [{"key": "sorry", "name": "Sorry", "subject": "Sorry", "body": "Dear"}],
            }
        )
    apply_config(engine, doc)
    token = create_client(engine, "admin", ["admin"]).token
    app = create_app(settings, temporal=ts_env.client, engine=engine)
    async with running_worker(ts_env.client, engine, settings):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=bearer(token)
        ) as client:
            r = await client.post("/api/v1/cases", json=BODY)
            assert r.status_code == 201, r.text
            case_id = r.json()["id"]
            # The case's alert is written once; from then on nothing may change.
            await eventually(lambda: fingerprint(engine)["notice"] > 0, what="the alert")
            yield PoisonApp(client, engine, case_id)
        await terminate_cases(ts_env, engine)
    engine.dispose()


def fingerprint(engine: Engine) -> dict[str, Any]:
    """Row counts of every table, and the configuration rows themselves."""
    meta = MetaData()
    meta.reflect(engine)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name in ("program", "unit", "user"):
                out[name] = sorted(map(repr, conn.execute(select(table)).all()))
            else:
                out[name] = conn.execute(select(func.count()).select_from(table)).scalar()
    return out


def _fill(value: Any, case_id: str) -> Any:
    if value == CASE:
        return case_id
    if isinstance(value, dict):
        return {k: _fill(v, case_id) for k, v in value.items()}
    return value


def test_every_text_input_of_the_api_is_covered() -> None:
    """The walk reaches the fields this issue names (a broken walk would test nothing)."""
    ids = {c.id for c in CASES}
    for expected in (
        "POST /api/v1/cases body:customer.name",
        "POST /api/v1/cases body:verbatim",
        "POST /api/v1/cases body:transaction.date",
        "POST /api/v1/cases/{case_id}/notes body:text",
        "POST /api/v1/cases/{case_id}/close body:final_note",
        "POST /api/v1/cases/{case_id}/close body:root_causes.0",
        "POST /api/v1/survey-responses body:answers.concern_text",
        "PUT /api/v1/config body:programs.0.name",
        "PUT /api/v1/config body:users.0.name",
        "GET /api/v1/cases query:q",
        "GET /api/v1/cases/{case_id} path:case_id",
        "POST /api/v1/cases header:Idempotency-Key",
    ):
        assert expected in ids, expected
    assert len(CASES) > 150


@pytest.mark.parametrize("poison", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_unstorable_text_is_refused_with_422_naming_the_field(
    poison_app: PoisonApp, case: Poisoned, poison: str
) -> None:
    client, case_id = poison_app.client, poison_app.case_id
    if case.where in ("path", "query", "header") and poison == SURROGATE:
        # A URL or header cannot carry a lone surrogate (it decodes as U+FFFD): NUL only.
        poison = NUL
    key = (case.method, case.path)
    base = BODIES[key]
    if isinstance(base, str):  # read the current item: a valid body to poison
        r = await client.get(base)
        assert r.status_code == 200, r.text
        base = r.json()
    body = _fill(base, case_id)
    params = {n: _fill(v, case_id) for n, v in PARAMS.items() if "{" + n + "}" in case.path}
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    op = SPEC["paths"][case.path][case.method.lower()]
    for p in op.get("parameters", []):
        if p["in"] == "query" and p.get("required"):
            query[p["name"]] = PARAMS[p["name"]]
    name = case.field[0]
    if case.where == "path":
        params[name] = f"{params[name]}{poison}"
    elif case.where == "query":
        query[name] = f"x{poison}"
    elif case.where == "header":
        headers[name] = f"x{poison}"
    else:
        body = _set(body, case.field, poison)
    url = case.path.format(**{n: quote(v, safe="") for n, v in params.items()})
    before = fingerprint(poison_app.engine)
    content = None if body is None else json.dumps(body)  # ASCII: surrogates as \ud800
    r = await client.request(
        case.method,
        url,
        params=query,
        content=content,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, (r.status_code, r.text[:500])
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    expected = _expected_field(case.field)
    fields = [e["field"] for e in problem.get("errors", [])] or [problem["field"]]
    if case.where == "header":  # header names are case-insensitive
        expected, fields = expected.lower(), [f.lower() for f in fields]
    assert any(_names(expected, f) for f in fields), (
        expected,
        problem,
    )
    assert fingerprint(poison_app.engine) == before, "a refused request wrote something"


@pytest.fixture
async def pg_client(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Engine]]:
    """The app on PostgreSQL, where the reported 500s came from (it refuses NUL in text)."""
    from api import create_app

    for url in migrated_db("postgresql", tmp_path, "caseloop_poison_api"):
        engine = make_engine(url)
        apply_config(engine, api_config())
        token = create_client(engine, "rw", ["cases:write", "cases:read", "delegate"]).token
        settings = Settings(database_url=url, public_base_url="http://testserver")
        app = create_app(settings, temporal=ts_env.client, engine=engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=bearer(token)
        ) as client:
            yield client, engine
        engine.dispose()


@pytest.mark.parametrize("field", ["customer.name", "verbatim", "q"])
async def test_nul_on_postgresql_is_a_422_not_a_500(
    pg_client: tuple[httpx.AsyncClient, Engine], field: str
) -> None:
    client, engine = pg_client
    if field == "q":
        r = await client.get("/api/v1/cases", params={"q": "Kari\x00"})
    else:
        body = _set({**BODY, "external_ref": "PG-1"}, tuple(field.split(".")), NUL)
        r = await client.post("/api/v1/cases", json=body)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert r.json()["field"] == field
    assert fingerprint(engine)["case_intake"] == 0
