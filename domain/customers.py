"""Who a contact is: the customer record a case belongs to, and the contact it mails.

A customer record is the long-lived profile (earlier cases); a case's *contact* is what intake
was given, and the case's mail goes there. The rules, strongest first:

1. The same external reference from the same source (the intake's channel) is the customer.
   A reference stored before sources were recorded matches a reference from any source.
2. The same email address is the customer ("email match wins": over a different phone or name).
3. The same phone number is the customer only when nothing contradicts it: names and emails
   either agree or are absent on one side, references of the same source do not differ, and a
   contact that gives an email (which no record has) also gives the record's name. Among
   several such records: the earliest whose name agrees; else the earliest that is exactly
   this contact (an earlier anonymous call from the number); else the only one; else none.
4. Otherwise a new record.

A match fills only empty fields of the record, never overwrites one: after an external
reference or email match, and after a phone match whose name agrees. The case's contact is as
given; after an external reference or email match its missing name, email and phone come from
the record. A phone match never supplies an address: that is how one person's case would mail
another. Records are merged only explicitly (services/customer_merge.py); a merged record
leads to the one it was merged into.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.vocabulary import CustomerMatch

# A record's fields a match or a merge may fill in, in this order.
FILLABLE = ("name", "email", "phone", "external_ref", "external_source")


def normal_email(email: str | None) -> str | None:
    return (email.strip().lower() or None) if email else None


def normal_phone(phone: str | None) -> str | None:
    """Digits and a leading plus: "+47 555-00 001" and "+4755500001" are one number."""
    return ("".join(ch for ch in phone if ch.isdigit() or ch == "+") or None) if phone else None


# Letters that Unicode does not decompose into a base letter and an accent.
_PLAIN = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "þ": "th", "\u0131": "i"}  # dotless i
)


def name_key(name: str) -> str:
    """What two spellings of one name share: case, accents and spacing aside."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.translate(_PLAIN).split())


@dataclass(frozen=True)
class Contact:
    """A contact as given at intake, normalised; `source` is the channel its reference is from."""

    name: str = ""
    email: str | None = None
    phone: str | None = None
    external_ref: str | None = None
    source: str = ""

    @classmethod
    def given(
        cls,
        *,
        name: str = "",
        email: str | None = None,
        phone: str | None = None,
        external_ref: str | None = None,
        source: str = "",
    ) -> Contact:
        return cls(
            name=name.strip(),
            email=normal_email(email),
            phone=normal_phone(phone),
            external_ref=(external_ref or "").strip() or None,
            source=source,
        )


@dataclass(frozen=True)
class Known:
    """A stored customer record; `merged_into` names the record it was merged into."""

    id: int
    name: str = ""
    email: str | None = None
    phone: str | None = None
    external_ref: str | None = None
    external_source: str | None = None
    merged_into: int | None = None


@dataclass(frozen=True)
class Identity:
    """The record a contact belongs to (None: create one from `contact`) and the case's contact.

    `fill` holds the empty fields of that record to set, by field name.
    """

    customer_id: int | None
    matched_by: CustomerMatch
    contact: Contact
    fill: Mapping[str, str] = field(default_factory=dict)


def _agree(a: str | None, b: str | None) -> bool | None:
    """True or False when both sides have a value; None when one side has none."""
    return None if not a or not b else a == b


def _names_agree(a: str, b: str) -> bool | None:
    return _agree(name_key(a), name_key(b))


def _ref_matches(given: Contact, record: Known) -> bool:
    return (
        given.external_ref is not None
        and record.external_ref == given.external_ref
        and record.external_source in (None, given.source)
    )


def _ref_differs(given: Contact, record: Known) -> bool:
    return (
        record.external_source in (None, given.source)
        and _agree(given.external_ref, record.external_ref) is False
    )


def _phone_candidate(given: Contact, record: Known) -> bool:
    """Nothing contradicts the phone: names, emails, references; an email needs the name."""
    names = _names_agree(given.name, record.name)
    return (
        names is not False
        and _agree(given.email, record.email) is not False
        and not _ref_differs(given, record)
        and (given.email is None or names is True)
    )


def _fill(record: Known, values: Mapping[str, str | None]) -> dict[str, str]:
    """The record's empty fields that `values` has; a reference brings its source along, and a
    reference stored without a source learns it from the same reference."""
    out = {f: v for f in ("name", "email", "phone") if not getattr(record, f) and (v := values[f])}
    ref, source = values["external_ref"], values["external_source"]
    if ref and not record.external_ref:
        out["external_ref"] = ref
        if source:
            out["external_source"] = source
    elif ref and ref == record.external_ref and source and not record.external_source:
        out["external_source"] = source
    return out


def _values(given: Contact) -> dict[str, str | None]:
    return {
        "name": given.name,
        "email": given.email,
        "phone": given.phone,
        "external_ref": given.external_ref,
        "external_source": given.source or None,
    }


def merge_fill(survivor: Known, merged: Known) -> dict[str, str]:
    """The surviving record's empty fields that the merged one has."""
    return _fill(survivor, {f: getattr(merged, f) for f in FILLABLE})


def _completed(given: Contact, record: Known) -> Contact:
    """The case's contact after a strong match: the record supplies what was not given."""
    return Contact(
        name=given.name or record.name,
        email=given.email or record.email,
        phone=given.phone or record.phone,
        external_ref=given.external_ref,
        source=given.source,
    )


def identify(given: Contact, records: Iterable[Known]) -> Identity:
    """Apply the module's rules to `given` and the stored records that share its reference,
    email or phone (with the records those were merged into)."""
    by_id = {r.id: r for r in records}
    ordered = sorted(by_id.values(), key=lambda r: r.id)

    def survivor(record: Known) -> Known:
        return by_id.get(record.merged_into or 0, record)

    def found(record: Known, how: CustomerMatch, fills: bool) -> Identity:
        live = survivor(record)
        # Matched through a merged record: the survivor is not filled from that history.
        fill = _fill(live, _values(given)) if fills and live is record else {}
        contact = given if how == CustomerMatch.PHONE else _completed(given, live)
        return Identity(live.id, how, contact, fill)

    for record in ordered:
        if _ref_matches(given, record):
            return found(record, CustomerMatch.EXTERNAL_REF, fills=True)
    for record in ordered:
        if given.email is not None and record.email == given.email:
            return found(record, CustomerMatch.EMAIL, fills=True)
    if given.phone is not None:
        phones = [r for r in ordered if r.phone == given.phone and _phone_candidate(given, r)]
        agreeing = [r for r in phones if _names_agree(given.name, r.name)]
        if agreeing:
            return found(agreeing[0], CustomerMatch.PHONE, fills=True)
        # No name to go by (see _phone_candidate): an anonymous contact is the record of an
        # earlier anonymous call from the number, if any; else the one customer it can be.
        anonymous = [r for r in phones if not (given.name or r.name or r.email)]
        if anonymous:
            return found(anonymous[0], CustomerMatch.PHONE, fills=False)
        if len({survivor(r).id for r in phones}) == 1:
            return found(phones[0], CustomerMatch.PHONE, fills=False)
    return Identity(None, CustomerMatch.NEW, given)
