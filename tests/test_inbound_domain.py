"""Reply addresses, classification of inbound mail and the customer's own words."""

from __future__ import annotations

from domain.inbound import (
    classify,
    message_ids,
    parse_reply_address,
    reply_address,
    strip_quotes,
)
from domain.vocabulary import InboundKind

KEY = b"k" * 32


def test_reply_address_round_trip_and_tampering() -> None:
    addr = reply_address(KEY, "cases", "reply.example", "C-000042")
    assert addr.startswith("cases+C-000042.")
    found = parse_reply_address(KEY, "cases", "reply.example", addr)
    assert found is not None and found.case_id == "C-000042"
    assert parse_reply_address(KEY, "cases", "REPLY.example", f"<{addr}>") is not None
    forged = addr.replace("C-000042", "C-000043")
    assert parse_reply_address(KEY, "cases", "reply.example", forged) is None
    assert parse_reply_address(b"x" * 32, "cases", "reply.example", addr) is None
    assert parse_reply_address(KEY, "cases", "other.example", addr) is None
    bare = parse_reply_address(KEY, "cases", "reply.example", "cases@reply.example")
    assert bare is not None and bare.case_id is None
    assert parse_reply_address(KEY, "cases", "reply.example", "sales@reply.example") is None


def test_classification() -> None:
    assert classify({}, "text/plain") == InboundKind.CUSTOMER
    assert classify({"auto-submitted": "no"}, "text/plain") == InboundKind.CUSTOMER
    assert classify({"auto-submitted": "auto-replied"}, "text/plain") == InboundKind.AUTO_REPLY
    assert classify({"x-autoreply": "yes"}, "text/plain") == InboundKind.AUTO_REPLY
    assert classify({"precedence": "bulk"}, "text/plain") == InboundKind.AUTO_REPLY
    assert classify({"precedence": "auto_reply"}, "text/plain") == InboundKind.AUTO_REPLY
    report = classify({}, "multipart/report", "delivery-status")
    assert report == InboundKind.BOUNCE
    daemon = {"return-path": "<>", "from": "MAILER-DAEMON@mx.example"}
    assert classify(daemon, "text/plain") == InboundKind.BOUNCE


def test_strip_quotes() -> None:
    text = (
        "Here is the receipt.\nThanks!\n\nOn Tue, 3 Dec 2026 at 10:00, Caseloop "
        "<caseloop@example.com> wrote:\n> Could you send the receipt?\n> Regards"
    )
    assert strip_quotes(text) == "Here is the receipt.\nThanks!"
    wrapped = "Yes.\n\nOn Tue, 3 Dec 2026 at 10:00, Recovery team\n<x@example.com> wrote:\n> a"
    assert strip_quotes(wrapped) == "Yes."
    norsk = "Ja, det stemmer.\n\nDen tir. 3. des. 2026 kl. 10:00 skrev Caseloop <c@e.no>:\n> Hei"
    assert strip_quotes(norsk) == "Ja, det stemmer."
    signed = "All good now.\n-- \nKari Nordmann\n+47 555 01 234"
    assert strip_quotes(signed) == "All good now."
    mobile = "Fine.\n\nSent from my iPhone"
    assert strip_quotes(mobile) == "Fine."
    outlook = "See attached.\n\nFrom: Caseloop\nSent: Tuesday\nTo: Kari\nSubject: Case"
    assert strip_quotes(outlook) == "See attached."
    assert strip_quotes("From: me, the customer") == "From: me, the customer"
    assert strip_quotes("> only quoted") == "> only quoted"
    assert strip_quotes("a\r\nb\r\n> c") == "a\nb"


def test_message_ids() -> None:
    assert message_ids("<a@x>", "<b@x> <a@x>\n <c@y>") == ["<a@x>", "<b@x>", "<c@y>"]
    assert message_ids(None, "garbage") == []


def test_erasure_keeps_no_words_of_a_customer_reply() -> None:
    from domain.erasure import scrub_event

    summary, data = scrub_event(
        "customer_reply", "The customer answered by email", {"inbound": "7", "text": "Kari here"}
    )
    assert data == {"inbound": "7"} and "Kari" not in summary
    summary, data = scrub_event("auto_reply", "Automatic reply received", {"inbound": "8"})
    assert (summary, data) == ("Automatic reply received", {"inbound": "8"})
