"""The case page shows, from SQL, the customer's email answers its timeline does not carry:
one that came after the case closed, and one a case opened before inbound mail only used to
resume its pause. An answer the timeline names is not shown twice."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from models.case import CaseEvent
from models.inbound import InboundMessage
from tests.web.conftest import LiveApp, sign_in


def _row(n: int, case_id: str, outcome: str, text: str) -> InboundMessage:
    return InboundMessage(
        message_id=f"<late-{case_id}-{n}@customer.example>",
        kind="customer",
        outcome=outcome,
        case_id=case_id,
        from_addr="kari@example.com",
        subject=f"Re: case {n}",
        text=text,
    )


async def test_answers_off_the_timeline_are_shown_from_sql(live: LiveApp) -> None:
    case_id = await live.open_case(customer={"name": "Late Lars"})
    with Session(live.engine) as s:
        late = _row(1, case_id, "after_close", "It broke again after you closed it.")
        old = _row(2, case_id, "threaded", "Here is the receipt you asked for.")
        named = _row(3, case_id, "threaded", "This one is on the timeline already.")
        auto = InboundMessage(
            **{
                **_row(4, case_id, "after_close", "Out of office").model_dump(exclude={"id"}),
                "kind": "auto_reply",
            }
        )
        for row in (late, old, named, auto):
            s.add(row)
        s.flush()
        s.add(
            CaseEvent(
                case_id=case_id,
                seq=900,
                at=datetime.now(UTC),
                kind="customer_reply",
                actor="customer (email)",
                summary="The customer answered by email",
                data={"inbound": str(named.id), "text": "Timeline copy"},
            )
        )
        s.commit()

    async with sign_in(live, "ole") as client:
        page = (await client.get(f"/cases/{case_id}")).text
    assert "Reply received after the case closed" in page
    assert "It broke again after you closed it." in page
    assert "Here is the receipt you asked for." in page
    assert "This one is on the timeline already." not in page
    assert "Timeline copy" in page
    assert "Out of office" not in page

    async with sign_in(live, "alex") as client:  # no relation to the case
        refused = await client.get(f"/cases/{case_id}")
    assert refused.status_code in (403, 404)
    assert "It broke again" not in refused.text
