"""In-app notifications: the badge and the list tell of the same events as the emails, per user."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from activities.notifications import Notification, NotificationActivities
from models.case import Notice, Outbox
from tests.live import eventually, sse_events
from tests.web.conftest import LiveApp, page_token, sign_in


def notices(live: LiveApp, user_id: str, case_id: str | None = None) -> list[Notice]:
    with Session(live.engine) as session:
        stmt = select(Notice).where(col(Notice.user_id) == user_id)
        if case_id:
            stmt = stmt.where(col(Notice.case_id) == case_id)
        return list(session.exec(stmt.order_by(col(Notice.id))).all())


async def first_badge(client: Any) -> str:
    """The first `badge` event of the live stream: the badge's HTML at connection time."""
    async with client.stream("GET", "/events") as r:
        assert r.status_code == 200
        async for event in sse_events(r):
            if event.event == "badge":
                return str(json.loads(event.data))
    raise AssertionError("the stream ended without a badge event")


async def test_a_new_case_notifies_its_owner_and_watchers_once(live: LiveApp) -> None:
    case_id = await live.open_case()
    [alert] = await eventually(
        lambda: [r for r in notices(live, "ole", case_id) if r.kind == "alert"],
        what="the owner's alert notice",
    )
    with Session(live.engine) as session:
        outbox = session.exec(
            select(Outbox).where(col(Outbox.case_id) == case_id, col(Outbox.kind) == "alert")
        ).one()
    # The same event as the email: same key, same subject; watchers (Cc) get theirs too.
    assert (alert.event_key, alert.subject) == (outbox.event_key, outbox.subject)
    assert case_id in alert.subject and alert.seen_at is None
    assert [n.kind for n in notices(live, "mia", case_id)] == ["alert"]
    assert [n.kind for n in notices(live, "fred", case_id)] == ["alert"]

    # A retried or replayed notify activity adds nothing.
    again = Notification(case_id, alert.event_key, "alert", ["ole"], ["mia", "fred"])
    NotificationActivities(live.engine, live.settings).enqueue(again)
    assert len(notices(live, "ole", case_id)) == 1
    assert len(notices(live, "mia", case_id)) == 1


async def test_the_badge_counts_unseen_notices_and_the_page_marks_them_seen(
    live: LiveApp,
) -> None:
    case_id = await live.open_case()
    await eventually(lambda: notices(live, "ole", case_id), what="ole's notice")
    unseen = sum(1 for n in notices(live, "ole") if n.seen_at is None)
    async with sign_in(live, "ole") as ole:
        badge = await first_badge(ole)
        assert f"{unseen} unread notification" in badge
        r = await ole.get("/notifications")
        assert r.status_code == 200 and "<title>Notifications · Caseloop</title>" in r.text
        assert f'href="/cases/{case_id}"' in r.text and "New" in r.text
        newest = max(n.id or 0 for n in notices(live, "ole"))
        assert f'name="up_to" value="{newest}"' in r.text
        # Without the CSRF token nothing is marked.
        refused = await ole.post("/notifications/seen", data={"up_to": str(newest)})
        assert refused.status_code == 403
        assert any(n.seen_at is None for n in notices(live, "ole"))
        token = await page_token(ole, "/notifications")
        r = await ole.post(
            "/notifications/seen",
            data={"up_to": str(newest)},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert r.status_code == 204
        assert all(n.seen_at is not None for n in notices(live, "ole"))
        assert await first_badge(ole) == ""
        # Marking again (a retried request) is harmless.
        r = await ole.post("/notifications/seen", data={"up_to": str(newest), "csrf_token": token})
        assert r.status_code in (200, 303)


async def test_nobody_sees_or_marks_another_users_notices(live: LiveApp) -> None:
    case_id = await live.open_case()
    await eventually(lambda: notices(live, "ole", case_id), what="ole's notice")
    before = [(n.id, n.seen_at) for n in notices(live, "ole")]
    async with sign_in(live, "alex") as alex:
        r = await alex.get("/notifications")
        assert r.status_code == 200 and case_id not in r.text
        token = await page_token(alex, "/notifications")
        r = await alex.post(
            "/notifications/seen",
            data={"up_to": str(10**9)},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert r.status_code == 204
    assert [(n.id, n.seen_at) for n in notices(live, "ole")] == before
    async with sign_in(live, "ole") as ole:
        assert case_id in (await ole.get("/notifications")).text


async def test_signed_out_visitors_get_no_notifications(live: LiveApp) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=live.base_url) as anon:
        for path in ("/notifications", "/events"):
            r = await anon.get(path)
            assert r.status_code in (302, 303, 401) and "login" in r.headers.get("location", "")


async def test_the_badge_updates_live_in_the_browser(
    open_page: Any, live: LiveApp, artifacts: Path
) -> None:
    from playwright.async_api import expect

    page = await open_page("ole")
    # Start from zero: everything so far is marked seen through the page itself.
    await page.get_by_role("link", name=re.compile("^Notifications")).click()
    await page.wait_for_url("**/notifications")
    badge = page.locator("#notice-badge")
    await expect(badge).to_have_text("", timeout=15_000)

    case_id = await live.open_case()
    await expect(badge.locator(".notice-count")).to_be_visible(timeout=15_000)
    await expect(badge).to_contain_text("1 unread notification")
    await page.screenshot(path=str(artifacts / "notification-badge.png"))

    await page.get_by_role("link", name=re.compile("^Notifications")).click()
    await page.wait_for_url("**/notifications")
    await expect(page.locator(".notice-new")).to_contain_text(case_id)
    await expect(badge).to_have_text("", timeout=15_000)
    await page.screenshot(path=str(artifacts / "notifications.png"), full_page=True)
    await page.locator(".notice-new a").first.click()
    await page.wait_for_url(f"**/cases/{case_id}")
