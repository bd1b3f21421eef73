"""Who a contact is (domain/customers.py): the rules, without a database.

A case's customer record drives "earlier cases" and the profile; the case's own contact (what
intake was given) is where its mail goes. A shared phone number must never make one person's
case another person's.
"""

from __future__ import annotations

import pytest

from domain.customers import Contact, Known, identify, merge_fill
from domain.vocabulary import CustomerMatch

ANN = Known(1, name="Ann Berg", email="ann@example.com", phone="+4755500001")


def given(**fields: str) -> Contact:
    return Contact.given(source="contact_center", **fields)


def test_given_contact_is_normalised() -> None:
    c = Contact.given(
        name="  Ann  Berg ", email=" Ann@Example.COM ", phone="+47 555-00 001", source="email"
    )
    assert c == Contact("Ann  Berg", "ann@example.com", "+4755500001", None, "email")
    assert Contact.given(email="", phone=" ") == Contact()


def test_email_match_wins_even_with_another_phone_and_name_spelling() -> None:
    found = identify(given(name="A. Berg", email="ANN@example.com", phone="+4799999999"), [ANN])
    assert (found.customer_id, found.matched_by) == (1, CustomerMatch.EMAIL)
    # The case keeps what it was given; the record keeps its own phone and name.
    assert found.contact.name == "A. Berg" and found.contact.phone == "+4799999999"
    assert found.fill == {}


def test_phone_shared_but_another_email_is_a_new_customer() -> None:
    found = identify(given(name="Bob Dahl", email="bob@example.com", phone="+4755500001"), [ANN])
    assert (found.customer_id, found.matched_by) == (None, CustomerMatch.NEW)
    assert found.contact == given(name="Bob Dahl", email="bob@example.com", phone="+4755500001")


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Bob Dahl", "phone": "+4755500001"},  # another name, no email
        {"name": "Ann Berg", "email": "ann.b@example.com", "phone": "+4755500001"},  # same name
        {"email": "bob@example.com", "phone": "+4755500001"},  # an email and no name
    ],
)
def test_phone_only_match_needs_name_and_email_to_agree(fields: dict[str, str]) -> None:
    found = identify(given(**fields), [ANN])
    assert found.customer_id is None and found.fill == {}


def test_phone_match_with_the_same_name_is_the_customer() -> None:
    found = identify(given(name="ann  BERG", phone="+47 555 00 001"), [ANN])
    assert (found.customer_id, found.matched_by) == (1, CustomerMatch.PHONE)
    # A phone match never completes the case's contact from the record: no guessed address.
    assert found.contact.email is None and found.fill == {}


def test_accents_and_case_do_not_make_names_differ() -> None:
    record = Known(7, name="Åse Ødegård", phone="+4790000000")
    found = identify(given(name="ase odegard", phone="+4790000000"), [record])
    assert found.customer_id == 7


def test_phone_match_with_the_same_name_fills_an_empty_email() -> None:
    record = Known(2, name="Ann Berg", phone="+4755500001")
    found = identify(given(name="Ann Berg", email="ann@example.com", phone="+4755500001"), [record])
    assert found.customer_id == 2 and found.fill == {"email": "ann@example.com"}


def test_phone_only_contact_links_to_the_one_record_with_that_phone() -> None:
    found = identify(given(phone="+4755500001"), [ANN])
    assert (found.customer_id, found.matched_by) == (1, CustomerMatch.PHONE)
    assert found.contact.name == "" and found.contact.email is None


def test_phone_shared_by_several_people_is_ambiguous_without_a_name() -> None:
    bob = Known(2, name="Bob Berg", email="bob@example.com", phone="+4755500001")
    assert identify(given(phone="+4755500001"), [ANN, bob]).customer_id is None
    # ... unless a record made for exactly this (an earlier anonymous call) is there.
    anonymous = Known(3, phone="+4755500001")
    assert identify(given(phone="+4755500001"), [ANN, bob, anonymous]).customer_id == 3
    # A name picks its record among them.
    assert identify(given(name="Bob Berg", phone="+4755500001"), [ANN, bob]).customer_id == 2


def test_a_name_given_to_a_nameless_record_links_but_fills_nothing() -> None:
    record = Known(4, email="someone@example.com", phone="+4755500001")
    found = identify(given(name="Bob Dahl", phone="+4755500001"), [record])
    assert found.customer_id == 4 and found.fill == {}
    assert found.contact.name == "Bob Dahl" and found.contact.email is None


def test_external_ref_of_the_same_source_identifies_the_customer() -> None:
    record = Known(
        5,
        name="Ann Berg",
        email="ann@example.com",
        external_ref="CRM-7",
        external_source="contact_center",
    )
    found = identify(given(external_ref="CRM-7", email="new@example.com"), [record])
    assert (found.customer_id, found.matched_by) == (5, CustomerMatch.EXTERNAL_REF)
    # Replies go to the address given now; the record's email is not overwritten.
    assert found.contact.email == "new@example.com" and found.fill == {}
    # Without contact details the case's contact is completed from the identified record.
    found = identify(given(external_ref="CRM-7"), [record])
    assert found.contact.name == "Ann Berg" and found.contact.email == "ann@example.com"


def test_external_ref_of_another_source_is_another_customer() -> None:
    record = Known(5, name="Ann Berg", external_ref="7", external_source="web_form")
    assert identify(given(external_ref="7", name="Bob Dahl"), [record]).customer_id is None
    # A reference stored before sources were recorded matches, and learns its source.
    legacy = Known(6, name="Ann Berg", external_ref="7")
    found = identify(given(external_ref="7"), [legacy])
    assert found.customer_id == 6 and found.fill == {"external_source": "contact_center"}


def test_a_different_reference_of_the_same_source_is_another_person() -> None:
    record = Known(
        5,
        name="Ann Berg",
        phone="+4755500001",
        external_ref="CRM-7",
        external_source="contact_center",
    )
    found = identify(given(name="Ann Berg", phone="+4755500001", external_ref="CRM-8"), [record])
    assert found.customer_id is None


def test_strong_match_fills_only_empty_fields() -> None:
    record = Known(8, email="ann@example.com")
    found = identify(
        given(name="Ann Berg", email="ann@example.com", phone="+4755500001", external_ref="C1"),
        [record],
    )
    assert found.fill == {
        "name": "Ann Berg",
        "phone": "+4755500001",
        "external_ref": "C1",
        "external_source": "contact_center",
    }


def test_a_merged_record_leads_to_the_one_it_was_merged_into() -> None:
    old = Known(9, name="Ann Berg", email="ann.old@example.com", merged_into=1)
    found = identify(given(email="ann.old@example.com"), [old, ANN])
    assert found.customer_id == 1
    # Completed from the surviving record (the customer's current details), never filled.
    assert found.contact.email == "ann.old@example.com" and found.contact.name == "Ann Berg"
    assert found.fill == {}


def test_no_contact_details_is_a_new_customer() -> None:
    assert identify(given(name="Ann Berg"), [ANN]).customer_id is None


def test_merge_fills_the_survivors_empty_fields_from_the_merged_record() -> None:
    survivor = Known(1, name="Ann Berg", email="ann@example.com")
    merged = Known(
        2,
        name="A. Berg",
        email="a@example.com",
        phone="+4755500001",
        external_ref="CRM-7",
        external_source="web_form",
    )
    assert merge_fill(survivor, merged) == {
        "phone": "+4755500001",
        "external_ref": "CRM-7",
        "external_source": "web_form",
    }
