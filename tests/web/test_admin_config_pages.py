"""The program and unit admin pages over HTTP: admins only, errors at their inputs with nothing
saved, a stale form refused, every save audited as the admin through the page, and nobody
signed out by a configuration change."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import httpx
from sqlmodel import Session, col, select

from models.audit import AuditEntry
from models.case import CaseEvent
from services.config_writes import read_item
from tests.factories import case_row
from tests.web.conftest import LiveApp, page_token, sign_in

ETAG = re.compile(r'id="etag-(\w+)" name="etag" value="([^"]+)"')


def stored(live: LiveApp, kind: str, item_id: str) -> dict[str, Any]:
    found = read_item(live.engine, kind, item_id)
    assert found is not None
    return found[0]


def last_entry(live: LiveApp, object_id: str) -> AuditEntry:
    with Session(live.engine) as session:
        query = select(AuditEntry).where(col(AuditEntry.object_id) == object_id)
        return session.exec(query.order_by(col(AuditEntry.id).desc())).first()  # type: ignore[return-value]


def sla_form(token: str, tag: str, **sla: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "etag": tag,
        "sla.open_within": "1 business day",
        "sla.resolve_within": "3 business days",
        "sla.warn_before": "4 business hours",
        "sla.max_pause": "",
        "sla.priority_factors.urgent": "0.5",
        "calendar.timezone": "Europe/Oslo",
        "calendar.holiday_country": "NO",
        "preview_unit": "4723",
    }
    for d in range(5):
        form[f"calendar.week.{d}.open"], form[f"calendar.week.{d}.close"] = "09:00", "17:00"
    form.update(sla)
    return form


async def tag_of(client: httpx.AsyncClient, program_id: str, section: str = "sla") -> str:
    page = await client.get(f"/admin/programs/{program_id}")
    assert page.status_code == 200, page.text
    return html.unescape(dict(ETAG.findall(page.text))[section])


async def test_non_admins_get_403_on_every_page_and_endpoint(live: LiveApp) -> None:
    async with sign_in(live, "mia") as client:  # a manager: not an admin
        token = await page_token(client)
        assert 'href="/admin/programs"' not in (await client.get("/inbox")).text
        for path in ("/admin/programs", "/admin/programs/recovery", "/admin/units"):
            r = await client.get(path)
            assert r.status_code == 403, path
            assert r.headers["content-type"].startswith("text/html")
        posts = [
            "/admin/programs",
            "/admin/programs/recovery/preview",
            *(f"/admin/programs/recovery/{s}" for s in ("general", "sla", "taxonomy", "rules")),
            "/admin/programs/recovery/escalation",
            "/admin/units",
        ]
        before = stored(live, "programs", "recovery")
        for path in posts:
            r = await client.post(path, data={"csrf_token": token, "id": "x", "name": "Taken"})
            assert r.status_code == 403, path
        assert stored(live, "programs", "recovery") == before
        assert read_item(live.engine, "programs", "x") is None
    async with sign_in(live, "root") as client:
        assert 'href="/admin/programs"' in (await client.get("/inbox")).text
        assert 'href="/admin/units"' in (await client.get("/inbox")).text


async def test_an_invalid_section_shows_errors_at_the_inputs_and_saves_nothing(
    live: LiveApp,
) -> None:
    async with sign_in(live, "root") as client:
        token = await page_token(client, "/admin/programs")
        tag = await tag_of(client, "recovery")
        before = stored(live, "programs", "recovery")
        r = await client.post(
            "/admin/programs/recovery/sla",
            data=sla_form(
                token,
                tag,
                **{"sla.resolve_within": "soonish", "sla.priority_factors.high": "lots"},
            ),
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 422
        assert 'id="f-sla-resolve-within-error"' in r.text and "invalid duration" in r.text
        field = re.search(r'<input id="f-sla-resolve-within"[^>]*>', r.text)
        assert field and 'aria-invalid="true"' in field.group(0)
        described = re.search(r'aria-describedby="([^"]*)"', field.group(0))
        assert described and "f-sla-resolve-within-error" in described.group(1).split()
        assert 'value="soonish"' in field.group(0)  # what was typed stays
        assert 'id="f-sla-priority-factors-high-error"' in r.text
        assert stored(live, "programs", "recovery") == before
        # A model-level error (blended needs routing rules) lands at its input too.
        r = await client.post(
            "/admin/programs/recovery/rules",
            data={
                "csrf_token": token,
                "etag": tag,
                "questions": "[]",
                "alert_rules": "[",
                "routing_rules": "[]",
            },
        )
        assert r.status_code == 422 and 'id="f-alert-rules-error"' in r.text
        assert stored(live, "programs", "recovery") == before


async def test_a_stale_form_changes_nothing_and_says_so(live: LiveApp) -> None:
    async with sign_in(live, "root") as client:
        token = await page_token(client, "/admin/programs")
        old = await tag_of(client, "recovery")
        saved = await client.post(
            "/admin/programs/recovery/sla",
            data=sla_form(token, old, **{"sla.resolve_within": "4 business days"}),
            headers={"HX-Request": "true"},
        )
        assert saved.status_code == 200, saved.text
        # The other sections' forms get the new version (out of band): no false alarm.
        fresh = {k: html.unescape(t) for k, t in ETAG.findall(saved.text)}
        assert fresh["general"] == (await tag_of(client, "recovery", "general")) != old
        assert 'hx-swap-oob="true"' in saved.text
        now = stored(live, "programs", "recovery")
        entry = last_entry(live, "recovery")
        r = await client.post(
            "/admin/programs/recovery/sla",
            data=sla_form(token, old, **{"sla.resolve_within": "9 business days"}),
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 409
        assert "changed by someone else meanwhile" in r.text
        assert stored(live, "programs", "recovery") == now
        assert last_entry(live, "recovery").id == entry.id


async def test_units_are_created_and_changed_audited_as_the_admin(live: LiveApp) -> None:
    async with sign_in(live, "root") as client:
        token = await page_token(client, "/admin/units")
        r = await client.post(
            "/admin/units",
            data={"csrf_token": token, "id": "5100", "name": "Tromsø Harbour", "timezone": "Mars"},
        )
        assert r.status_code == 422 and 'id="u-new-timezone-error"' in r.text
        assert read_item(live.engine, "units", "5100") is None
        r = await client.post(
            "/admin/units",
            data={
                "csrf_token": token,
                "id": "5100",
                "name": "Tromsø Harbour",
                "timezone": "Europe/Oslo",
                "manager": "mia",
            },
        )
        assert r.status_code == 200, r.text
        assert stored(live, "units", "5100")["manager"] == "mia"
        tag = read_item(live.engine, "units", "5100")[1]  # type: ignore[index]
        form = {"csrf_token": token, "etag": tag, "id": "5100", "name": "Tromsø Quay"}
        r = await client.post("/admin/units", data={**form, "timezone": "Europe/Oslo"})
        assert r.status_code == 200 and stored(live, "units", "5100")["name"] == "Tromsø Quay"
        entry = last_entry(live, "5100")
        assert (entry.actor_id, entry.via, entry.action) == ("root", "page", "update")
        assert {d["field"] for d in entry.diff} == {"name", "manager"}
        again = await client.post("/admin/units", data={**form, "name": "Stale"})
        assert again.status_code == 409 and "changed by someone else meanwhile" in again.text
        assert stored(live, "units", "5100")["name"] == "Tromsø Quay"


async def test_saving_a_program_and_a_unit_signs_nobody_out(live: LiveApp) -> None:
    async with sign_in(live, "ole") as other, sign_in(live, "root") as admin:
        assert (await other.get("/inbox")).status_code == 200
        token = await page_token(admin, "/admin/programs")
        r = await admin.post(
            "/admin/programs/recovery/general",
            data={
                "csrf_token": token,
                "etag": await tag_of(admin, "recovery", "general"),
                "name": "Service Recovery (renamed)",
                "ownership_model": "field",
                "team_assignment": "round_robin",
                "central_team": "",
                "default_owner": "",
            },
        )
        assert r.status_code == 200, r.text
        assert stored(live, "programs", "recovery")["name"] == "Service Recovery (renamed)"
        unit = read_item(live.engine, "units", "4723")
        assert unit is not None
        form = {**unit[0], "csrf_token": token, "etag": unit[1], "name": "Oslo Central (new)"}
        r = await admin.post("/admin/units", data={k: v or "" for k, v in form.items()})
        assert r.status_code == 200, r.text
        for client in (other, admin):
            page = await client.get("/inbox", follow_redirects=False)
            assert page.status_code == 200, page.headers.get("location")


async def test_an_sla_saved_for_open_cases_too_moves_their_deadlines(live: LiveApp) -> None:
    """The SLA section's "Apply to": "new cases only" leaves an open case's deadline; "also
    cases already open" moves it (a longer time to resolve) and says so on its
    timeline; the audit entry records each choice."""
    case_id = await live.open_case()
    before = case_row(live.engine, case_id).resolve_due_at
    assert before is not None
    async with sign_in(live, "root") as client:
        token = await page_token(client, "/admin/programs")
        r = await client.post(
            "/admin/programs/recovery/sla",
            data=sla_form(
                token,
                await tag_of(client, "recovery"),
                **{"sla.resolve_within": "5 business days", "apply_to": "new"},
            ),
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200, r.text
        assert last_entry(live, "recovery").apply_to == "new"
        assert case_row(live.engine, case_id).resolve_due_at == before
        r = await client.post(
            "/admin/programs/recovery/sla",
            data=sla_form(
                token,
                await tag_of(client, "recovery"),
                **{"sla.resolve_within": "7 business days", "apply_to": "open"},
            ),
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200, r.text
        assert last_entry(live, "recovery").apply_to == "open"
    for _ in range(300):
        after = case_row(live.engine, case_id).resolve_due_at
        if after != before:
            break
        await asyncio.sleep(0.1)
    assert after is not None and after > before
    with Session(live.engine) as session:
        kinds = session.exec(select(CaseEvent.kind).where(col(CaseEvent.case_id) == case_id)).all()
    assert "deadline_moved" in kinds
