"""The users page: admins change a role, deactivate (that user is signed out at once, nobody
else) and reactivate; each change is audited; an admin cannot lock themselves out."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from sqlmodel import Session, col, select

from models.audit import AuditEntry
from models.config import User
from models.sessions import WebSession
from tests.web.conftest import LiveApp, page_token, sign_in


def user(live: LiveApp, user_id: str) -> User:
    with Session(live.engine) as session:
        found = session.get(User, user_id)
        assert found is not None
        return found


def last_entry(live: LiveApp, user_id: str) -> AuditEntry:
    with Session(live.engine) as session:
        query = select(AuditEntry).where(col(AuditEntry.object_id) == user_id)
        return session.exec(query.order_by(col(AuditEntry.id).desc())).first()  # type: ignore[return-value]


async def test_only_admins_manage_users(live: LiveApp) -> None:
    async with sign_in(live, "ole") as client:
        r = await client.get("/admin/users")
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
        r = await client.post("/admin/users/ole", data={"role": "admin"})
        assert r.status_code in (403, 422) and user(live, "ole").role == "agent"


async def test_role_change_and_deactivation_are_audited_and_sign_out_only_that_user(
    live: LiveApp,
) -> None:
    async with (
        sign_in(live, "root") as admin,
        sign_in(live, "alex") as alex,
        sign_in(live, "ole") as ole,
    ):
        token = await page_token(admin, "/admin/users")
        r = await admin.post("/admin/users/ole", data={"csrf_token": token, "role": "manager"})
        assert r.status_code == 200, r.text
        assert user(live, "ole").role == "manager"
        entry = last_entry(live, "ole")
        assert (entry.actor_id, entry.via, entry.object_kind) == ("root", "page", "user")
        assert entry.diff == [{"field": "role", "before": "agent", "after": "manager"}]

        r = await admin.post("/admin/users/alex", data={"csrf_token": token, "active": "false"})
        assert r.status_code == 200, r.text
        assert not user(live, "alex").active
        assert last_entry(live, "alex").diff == [
            {"field": "active", "before": True, "after": False}
        ]
        with Session(live.engine) as session:
            left = session.exec(select(WebSession).where(col(WebSession.user_id) == "alex"))
            assert left.all() == []
        assert (await alex.get("/inbox", follow_redirects=False)).status_code == 303
        assert (await ole.get("/inbox", follow_redirects=False)).status_code == 200
        assert (await admin.get("/inbox", follow_redirects=False)).status_code == 200

        r = await admin.post("/admin/users/alex", data={"csrf_token": token, "active": "true"})
        assert r.status_code == 200 and user(live, "alex").active
        r = await admin.post("/admin/users/ole", data={"csrf_token": token, "role": "agent"})
        assert r.status_code == 200 and user(live, "ole").role == "agent"

        count = last_entry(live, "root")
        r = await admin.post("/admin/users/root", data={"csrf_token": token, "active": "false"})
        assert r.status_code == 422 and "deactivate yourself" in r.text
        r = await admin.post("/admin/users/root", data={"csrf_token": token, "role": "agent"})
        assert r.status_code == 422 and user(live, "root").role == "admin"
        assert last_entry(live, "root") == count  # nothing recorded


async def test_admin_deactivates_and_reactivates_in_the_browser(
    live: LiveApp, open_page: Any
) -> None:
    page = await open_page("root")
    await page.get_by_text("Admin", exact=True).click()
    await page.get_by_role("link", name="Users").click()
    row = page.locator('tr[data-user="fred"]')
    await row.get_by_role("button", name="Deactivate Fred Field").click()
    await expect(page.get_by_role("status")).to_contain_text("User fred changed: active.")
    await expect(row).to_contain_text("Deactivated")
    await row.get_by_role("button", name="Reactivate Fred Field").click()
    await expect(row).to_contain_text("Active")
    assert user(live, "fred").active
    await row.get_by_label("Role of Fred Field").select_option("agent")
    await row.get_by_role("button", name="Change role").click()
    await expect(page.get_by_role("status")).to_contain_text("User fred changed: role.")
    assert user(live, "fred").role == "agent"
