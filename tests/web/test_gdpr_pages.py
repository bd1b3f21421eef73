"""The admin's data protection page of a customer: export it all, erase after confirming."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.factories import case_row
from tests.web.conftest import LiveApp, page_token, sign_in


async def test_admin_exports_then_erases_a_customer_on_the_page(live: LiveApp) -> None:
    tag = uuid.uuid4().hex[:8]
    name, email = f"Wilma Quarry{tag}", f"wq{tag}@example.org"
    case_id = await live.open_case(
        customer={"name": name, "email": email}, verbatim=f"Lost ring {tag}"
    )
    customer_id = case_row(live.engine, case_id).customer_id
    page = f"/admin/customers/{customer_id}/privacy"
    async with sign_in(live, "ole") as client:
        assert (await client.get(page)).status_code == 403
        assert (await client.get(f"/admin/customers/{customer_id}/export")).status_code == 403
        token = await page_token(client)
        r = await client.post(
            f"/admin/customers/{customer_id}/erase",
            data={"csrf_token": token, "confirm": str(customer_id)},
        )
        assert r.status_code == 403
    async with sign_in(live, "root") as client:
        assert f'href="{page}"' in (await client.get(f"/cases/{case_id}")).text
        assert (await client.get("/admin/customers/987654/privacy")).status_code == 404
        r = await client.get(page)
        assert r.status_code == 200 and name in r.text and 'id="erase-form"' in r.text
        r = await client.get(f"/admin/customers/{customer_id}/export")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        assert r.json()["cases"][0]["verbatim"] == f"Lost ring {tag}"

        token = await page_token(client, page)
        erase = f"/admin/customers/{customer_id}/erase"
        r = await client.post(erase, data={"csrf_token": token, "confirm": "1" + str(customer_id)})
        assert r.status_code == 422 and 'id="erase-confirm-error"' in r.text
        assert case_row(live.engine, case_id).customer_name == name  # nothing was done

        r = await client.post(erase, data={"csrf_token": token, "confirm": str(customer_id)})
        assert r.status_code == 200, r.text
        assert "is erased" in r.text and name not in r.text and 'id="erased-at"' in r.text
        row = case_row(live.engine, case_id)
        assert (row.customer_name, row.verbatim, row.closing_status) == (
            "[erased]",
            "",
            "erased_on_request",
        )
        # Sent again (a double click, a reload): the same erasure.
        r = await client.post(erase, data={"csrf_token": token, "confirm": str(customer_id)})
        assert r.status_code == 200 and "was already erased" in r.text


async def test_admin_erases_a_customer_in_the_browser(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    tag = uuid.uuid4().hex[:8]
    name = f"Brage Vik{tag}"
    case_id = await live.open_case(customer={"name": name, "email": f"bv{tag}@example.org"})
    page = await open_page("root")
    await page.goto(f"/cases/{case_id}")
    await page.get_by_role("link", name="export or erase").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("data protection")
    await expect(page.locator("#privacy-record")).to_contain_text(name)
    await expect(page.get_by_role("link", name="Download all data (JSON)")).to_be_visible()

    number = str(case_row(live.engine, case_id).customer_id)
    confirm = page.get_by_label(re.compile("Type the record's number"))
    await confirm.fill("0")
    await page.get_by_role("button", name="Erase this customer's personal data").click()
    await expect(page.locator("#erase-confirm-error")).to_contain_text(f"Type {number}")
    await page.get_by_label(re.compile("Type the record's number")).fill(number)
    await page.get_by_role("button", name="Erase this customer's personal data").click()
    await expect(page.get_by_role("status")).to_contain_text("is erased", timeout=30_000)
    await expect(page.locator("#privacy-record")).not_to_contain_text(name)

    await page.goto(f"/cases/{case_id}")
    await expect(page.locator("body")).not_to_contain_text(name)
    await expect(page.locator(".case-head")).to_contain_text("Erased on request")
