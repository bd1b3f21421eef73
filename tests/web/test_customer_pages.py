"""The case page's contact, and the admin's merge page, over real HTTP against the running app."""

from __future__ import annotations

import html
import re

from tests.factories import case_row
from tests.web.conftest import LiveApp, page_token, sign_in

ANN = {"name": "Ann Berg", "email": "ann@example.com", "phone": "+47 555 00 001"}


def contact_block(page: str) -> str:
    found = re.search(r'<dl class="facts" id="case-contact">(.*?)</dl>', page, re.S)
    assert found, "no contact on the case page"
    return html.unescape(found.group(1))


async def test_case_page_shows_its_own_contact_not_the_phone_sharer(live: LiveApp) -> None:
    ann = await live.open_case(customer=ANN)
    bob = await live.open_case(customer={"name": "Bob Dahl", "phone": ANN["phone"]})
    async with sign_in(live, "ole") as client:
        page = (await client.get(f"/cases/{bob}")).text
    contact = contact_block(page)
    assert "Bob Dahl" in contact and "+4755500001" in contact
    assert "Ann" not in contact and "ann@example.com" not in contact
    assert "no email replies" in contact
    assert f"#{case_row(live.engine, bob).customer_id}" in contact
    assert "merge another record" not in contact  # only admins merge
    assert case_row(live.engine, ann).customer_id != case_row(live.engine, bob).customer_id


async def test_admin_reviews_and_merges_two_records_on_the_page(live: LiveApp) -> None:
    first = await live.open_case(customer={**ANN, "email": "ann.p@example.com"})
    second = await live.open_case(customer={**ANN, "email": "ann.q@example.com"})
    keep = case_row(live.engine, first).customer_id
    gone = case_row(live.engine, second).customer_id
    assert keep != gone
    async with sign_in(live, "ole") as client:
        assert (await client.get("/admin/customers/merge")).status_code == 403
    async with sign_in(live, "root") as client:
        page = (await client.get(f"/cases/{first}")).text
        assert f'href="/admin/customers/merge?into={keep}"' in page
        r = await client.get("/admin/customers/merge", params={"into": keep, "merged": gone})
        assert r.status_code == 200, r.text
        assert f'data-record="{keep}"' in r.text and f'data-record="{gone}"' in r.text
        assert "ann.q@example.com" in r.text and 'id="merge-confirm"' in r.text
        token = await page_token(client, "/admin/customers/merge")

        form = {"csrf_token": token, "into": str(keep), "merged": str(gone)}
        r = await client.post("/admin/customers/merge", data={**form, "note": "x" * 501})
        assert r.status_code == 422 and 'id="merge-note-error"' in r.text
        assert case_row(live.engine, second).customer_id == gone  # nothing was done

        r = await client.post("/admin/customers/merge", data={**form, "note": "same guest"})
        assert r.status_code == 200, r.text
        assert "is now merged" in r.text and f'href="/cases/{second}"' in r.text
        assert case_row(live.engine, second).customer_id == keep
        # The moved case still shows (and mails) the contact it was opened with.
        assert "ann.q@example.com" in contact_block((await client.get(f"/cases/{second}")).text)

        r = await client.post("/admin/customers/merge", data={**form, "note": "same guest"})
        assert r.status_code == 200 and "was already" in r.text
        r = await client.post(
            "/admin/customers/merge",
            data={"csrf_token": token, "into": str(gone), "merged": str(keep)},
        )
        assert r.status_code == 409 and 'id="merge-into-error"' in r.text
        r = await client.post("/admin/customers/merge", data={**form, "into": "abc"})
        assert r.status_code == 422 and 'id="merge-into-error"' in r.text
