"""Errors on pages are pages in the site's layout; the API keeps problem+json. The admin's header
reaches every admin page."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.web.conftest import LiveApp, sign_in

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def is_page(r: httpx.Response) -> bool:
    return r.headers["content-type"].startswith("text/html") and "<header" in r.text


async def test_unknown_page_addresses_answer_an_html_page_with_the_users_header(
    live: LiveApp,
) -> None:
    async with sign_in(live, "root") as root:
        root.headers["Accept"] = BROWSER_ACCEPT
        for path in ("/admin", "/no-such-page", "/cases/x/y/z"):
            r = await root.get(path)
            assert r.status_code == 404, (path, r.text)
            assert is_page(r), (path, r.text[:300])
            assert "Page not found" in r.text
            assert "Signed in as <strong>Ada Admin</strong>" in r.text  # the header knows who
            assert 'href="/inbox">Back to your inbox' in r.text
            assert r.headers["content-security-policy"]  # a page's security headers
        # A page route's wrong method and a bad query value: pages too.
        r = await root.get("/logout")
        assert r.status_code == 405 and is_page(r) and "POST" in r.headers["allow"]
        r = await root.get("/admin/outbox?page=many")
        assert r.status_code == 400 and is_page(r) and "Bad request" in r.text
    # Signed out: the same page, pointing to the sign-in.
    async with httpx.AsyncClient(base_url=live.base_url) as anon:
        r = await anon.get("/nothing-here", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 404 and is_page(r)
        assert 'href="/login">Sign in to Caseloop' in r.text


async def test_a_customer_on_a_broken_survey_address_gets_the_surveys_page(live: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as customer:
        r = await customer.get("/survey/abc/def", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 404 and "This link does not work" in r.text
        assert "Sign in" not in r.text and "Inbox" not in r.text  # no staff chrome


async def test_the_api_and_json_clients_keep_problem_json(live: LiveApp) -> None:
    async with sign_in(live, "root") as root:
        for path, accept in (
            ("/api/v1/no-such-thing", BROWSER_ACCEPT),  # the API: always JSON
            ("/no-such-page", "application/json"),
            ("/no-such-page", "*/*"),  # a script's default
        ):
            r = await root.get(path, headers={"Accept": accept})
            assert r.status_code == 404
            assert r.headers["content-type"] == "application/problem+json", (path, accept)
            assert r.json()["status"] == 404
        r = await root.get("/static/nothing.css", headers={"Accept": "text/css,*/*;q=0.1"})
        assert r.status_code == 404 and not is_page(r)


async def test_htmx_gets_the_error_block_only(live: LiveApp) -> None:
    async with sign_in(live, "ole") as ole:
        r = await ole.get("/no-such-page", headers={"HX-Request": "true"})
        assert r.status_code == 404
        assert 'id="error-page"' in r.text and "<header" not in r.text


async def test_forbidden_admin_page_is_a_page(live: LiveApp) -> None:
    async with sign_in(live, "ole") as ole:
        r = await ole.get("/admin/outbox", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 403 and is_page(r)
        assert "Not allowed" in r.text
        assert ">Admin</summary>" not in r.text  # no admin menu for an owner


async def test_admin_menu_reaches_every_admin_page(browser: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    from tests.live import fill_login_form

    ctx = await browser.new_context(base_url=live.base_url)
    try:
        page = await ctx.new_page()
        await page.goto("/login")
        await fill_login_form(page, "root", "correct horse battery")
        await page.wait_for_url("**/inbox")
        nav = page.get_by_role("navigation", name="Main")
        pages = {
            "Outbox": re.compile("/admin/outbox$"),
            "Message templates": re.compile("/admin/templates$"),
            "Merge customers": re.compile("/admin/customers/merge$"),
        }
        for name, url in pages.items():
            await nav.get_by_text("Admin", exact=True).click()
            await nav.get_by_role("link", name=name).click()
            await expect(page).to_have_url(url)
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
        # Each program's templates are one step further.
        await nav.get_by_text("Admin", exact=True).click()
        await nav.get_by_role("link", name="Message templates").click()
        await page.get_by_role("main").get_by_role("link", name="Guest Recovery").click()
        await expect(page).to_have_url(re.compile("/admin/templates/recovery$"))
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Message templates")
        # A page that does not exist, in the same layout.
        await page.goto("/admin")
        await expect(page.get_by_role("heading", level=1, name="Page not found")).to_be_visible()
        await expect(nav.get_by_role("link", name="Inbox")).to_be_visible()
    finally:
        await ctx.close()
