"""The webhooks admin page: admins only; every client's subscriptions and the delivery log;
the redeliver button sends a delivery again (a new row, audited)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.audit import AuditEntry
from models.webhooks import WebhookDelivery
from services.audit import cli_actor
from services.tokens import create_client
from services.webhooks import create
from tests.web.conftest import LiveApp, page_token, sign_in


def seed_webhook(live: LiveApp) -> tuple[int, int]:
    """A client's subscription with one delivery in its log: (subscription, delivery)."""
    client = create_client(live.engine, "crm-hooks", ["webhooks:manage"]).client
    sub = create(
        live.engine,
        live.settings,
        client,
        "https://crm.example.com/caseloop",
        ["opened", "closed"],
        cli_actor(),
    ).subscription
    assert sub.id is not None
    with Session(live.engine) as session:
        row = WebhookDelivery(
            subscription_id=sub.id,
            event_key="C-000001:1",
            message_id=f"msg_{sub.id}_C-000001_1",
            case_id="C-000001",
            event="opened",
            payload={"type": "case.opened", "data": {"case_id": "C-000001"}},
            status="delivered",
            attempts=2,
            http_status=200,
            latency_ms=37,
        )
        session.add(row)
        session.commit()
        assert row.id is not None
        return sub.id, row.id


async def test_admins_see_subscriptions_and_redeliver(live: LiveApp) -> None:
    sub_id, delivery_id = seed_webhook(live)
    async with sign_in(live, "ole") as client:
        assert (await client.get("/admin/webhooks")).status_code == 403
        r = await client.post(f"/admin/webhooks/{sub_id}/deliveries/{delivery_id}/redeliver")
        assert r.status_code in (403, 422)
    async with sign_in(live, "root") as client:
        r = await client.get(f"/admin/webhooks?subscription={sub_id}")
        assert r.status_code == 200
        assert "https://crm.example.com/caseloop" in r.text and "crm-hooks" in r.text
        assert f'data-delivery="{delivery_id}"' in r.text and "37 ms" in r.text
        assert "whsec_" not in r.text
        token = await page_token(client, "/admin/webhooks")
        r = await client.post(
            f"/admin/webhooks/{sub_id}/deliveries/{delivery_id}/redeliver",
            data={"csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200 and 'id="redelivered"' in r.text
    with Session(live.engine) as session:
        again = session.exec(
            select(WebhookDelivery).where(col(WebhookDelivery.redelivery_of) == delivery_id)
        ).one()
        audited = session.exec(
            select(AuditEntry).where(
                col(AuditEntry.object_kind) == "webhook", col(AuditEntry.action) == "redeliver"
            )
        ).one()
    assert again.message_id == f"msg_{sub_id}_C-000001_1" and again.status == "pending"
    assert audited.actor_id == "root"
