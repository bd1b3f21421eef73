"""The audit page: admins only, filtered (HTMX block swap), a program restored in one click
(and audited); a version that no longer validates is refused at its entry. A configuration
reload signs nobody out."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import expect
from sqlmodel import Session, col, select

from domain.audit import Actor
from domain.program import ConfigDoc
from domain.vocabulary import AuditActor, AuditVia
from models.audit import AuditEntry
from models.config import User
from services.configuration import apply_config, export_config
from services.tokens import create_client
from tests.factories import config_with_passwords
from tests.web.conftest import PASSWORD, LiveApp, page_token, sign_in

CLIENT = Actor(AuditActor.CLIENT, "99", "crm-sync", AuditVia.API)


def set_resolve_within(live: LiveApp, program_id: str, value: str, actor: Actor) -> None:
    with Session(live.engine) as session:
        doc = export_config(session)
    [program] = [p for p in doc.programs if p.id == program_id]
    changed = program.model_copy(
        update={"sla": program.sla.model_copy(update={"resolve_within": value})}
    )
    apply_config(
        live.engine, ConfigDoc.model_construct(users=[], units=[], programs=[changed]), actor
    )


def entries_of(live: LiveApp, object_id: str) -> list[AuditEntry]:
    with Session(live.engine) as session:
        query = select(AuditEntry).where(col(AuditEntry.object_id) == object_id)
        return list(session.exec(query.order_by(col(AuditEntry.id))).all())


async def api_program(live: LiveApp, program_id: str) -> dict[str, Any]:
    token = create_client(live.engine, "audit-reader", ["admin"]).token
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as api:
        r = await api.get(
            f"/api/v1/config/programs/{program_id}", headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_only_admins_read_the_audit_log(live: LiveApp) -> None:
    async with sign_in(live, "ole") as client:
        r = await client.get("/admin/audit")
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert 'href="/admin/audit"' not in (await client.get("/inbox")).text
    async with sign_in(live, "root") as client:
        assert 'href="/admin/audit"' in (await client.get("/inbox")).text


async def test_filter_swaps_the_results_block(live: LiveApp) -> None:
    set_resolve_within(live, "recovery", "P2D", CLIENT)
    async with sign_in(live, "root") as client:
        full = await client.get("/admin/audit")
        assert full.status_code == 200 and 'id="audit-filters"' in full.text
        r = await client.get(
            "/admin/audit",
            params={"kind": "program", "object": "recovery", "actor": "99"},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200
        assert 'id="audit-filters"' not in r.text and 'id="audit-results"' in r.text
        rows = re.findall(r'data-entry="(\d+)"', r.text)
        assert rows == [str(e.id) for e in entries_of(live, "recovery") if e.actor_id == "99"][::-1]
        assert "<dt>sla.resolve_within</dt>" in r.text and "P2D" in r.text
        bad = await client.get("/admin/audit", params={"from": "yesterday"})
        assert bad.status_code == 422 and 'id="a-from-error"' in bad.text
        future = await client.get("/admin/audit", params={"from": "2999-01-01"})
        assert "No changes match." in future.text


async def test_restore_a_program_version_and_refuse_one_that_no_longer_validates(
    live: LiveApp,
) -> None:
    set_resolve_within(live, "fast", "PT9S", CLIENT)
    version = entries_of(live, "fast")[-1]
    set_resolve_within(live, "fast", "PT20S", CLIENT)
    assert (await api_program(live, "fast"))["sla"]["resolve_within"] == "PT20S"

    async with sign_in(live, "root") as client:
        token = await page_token(client, "/admin/audit")
        r = await client.post(
            f"/admin/audit/{version.id}/restore",
            data={"csrf_token": token, "object": "fast"},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200, r.text
        assert f"restored from entry {version.id}" in r.text
        assert (await api_program(live, "fast"))["sla"]["resolve_within"] == "PT9S"
        restored = entries_of(live, "fast")[-1]
        assert (restored.action, restored.restored_from) == ("restore", version.id)
        assert (restored.actor_id, restored.via) == ("root", "page")
        assert restored.diff[0]["field"] == "sla"

        # A stored version the schema no longer accepts: refused inline, nothing changes.
        with Session(live.engine) as session:
            broken = AuditEntry(
                actor_kind="client",
                actor_id="99",
                actor_name="crm-sync",
                via="api",
                object_kind="program",
                object_id="fast",
                action="update",
                diff=[{"field": "sla", "before": None, "after": {"open_within": "soonish"}}],
                snapshot={**version.snapshot, "sla": {"open_within": "soonish"}},  # type: ignore[dict-item]
            )
            session.add(broken)
            session.commit()
            broken_id = broken.id
        count = len(entries_of(live, "fast"))
        r = await client.post(
            f"/admin/audit/{broken_id}/restore",
            data={"csrf_token": token, "object": "fast"},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 422
        assert f'id="restore-{broken_id}-error"' in r.text and "no longer validates" in r.text
        assert (await api_program(live, "fast"))["sla"]["resolve_within"] == "PT9S"
        assert len(entries_of(live, "fast")) == count


async def test_a_config_reload_signs_nobody_out(live: LiveApp) -> None:
    async with sign_in(live, "ole") as client:
        assert (await client.get("/inbox")).status_code == 200
        with Session(live.engine) as session:
            hashes = {u.id: u.password_hash for u in session.exec(select(User))}
        doc = config_with_passwords(PASSWORD)
        apply_config(live.engine, doc)  # the same passwords, reloaded (other tests' changes go)
        with Session(live.engine) as session:
            before = len(session.exec(select(AuditEntry)).all())
            assert {u.id: u.password_hash for u in session.exec(select(User))} == hashes
        apply_config(live.engine, doc)  # again: nothing changes, so nothing is recorded
        with Session(live.engine) as session:
            assert len(session.exec(select(AuditEntry)).all()) == before
        r = await client.get("/inbox", follow_redirects=False)
        assert r.status_code == 200, r.headers.get("location")


async def test_admin_filters_and_restores_in_the_browser(live: LiveApp, open_page: Any) -> None:
    set_resolve_within(live, "recovery", "P5D", CLIENT)
    earlier = entries_of(live, "recovery")[-1]
    set_resolve_within(live, "recovery", "P6D", CLIENT)
    page = await open_page("root")
    await page.get_by_text("Admin", exact=True).click()
    await page.get_by_role("link", name="Audit log").click()
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    await page.get_by_label("Object", exact=True).select_option("recovery")
    await expect(page).to_have_url(re.compile(r"object=recovery"))
    rows = page.locator("tr[data-entry]")
    await expect(rows.first).to_contain_text("recovery")
    for text in await rows.all_inner_texts():
        assert "recovery" in text

    row = page.locator(f'tr[data-entry="{earlier.id}"]')
    await expect(row).to_contain_text("P5D")
    await row.get_by_role("button", name="Restore this version").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"Program recovery restored from entry {earlier.id}"
    )
    await expect(page.locator("tr[data-entry]").first).to_contain_text(
        f"restored from entry {earlier.id}"
    )
    assert (await api_program(live, "recovery"))["sla"]["resolve_within"] == "P5D"
