"""The public web form of a program (channel web_form): which fields it shows, what it accepts,
and the case it opens through intake — once per form token, however often it is submitted.

The form token (a random value in the page) is intake's idempotency key, scoped to the client
id "web-form": a double click or a resubmitted page answers with the case the first one opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic.networks import validate_email
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from core.settings import Settings
from core.threads import in_thread
from domain.program import IntakeIn
from domain.vocabulary import Channel, FieldUse, FormField
from models.api import CaseCreate
from services.configuration import load_program, program_config
from services.intake import IntakeKey, open_case

CLIENT_ID = "web-form"
LIMITS = {
    FormField.NAME: 200,
    FormField.EMAIL: 254,
    FormField.PHONE: 40,
    FormField.ORDER_REF: 200,
    FormField.CATEGORY: 200,
    FormField.MESSAGE: 5000,
}
_PHONE = re.compile(r"^[0-9 +().-]{3,40}$")


@dataclass(frozen=True)
class PublicForm:
    program_id: str
    program_name: str
    unit_id: str
    fields: dict[FormField, FieldUse]
    categories: list[str] = field(default_factory=list)

    def shown(self) -> list[FormField]:
        """The fields on the page, in the form's order."""
        return [f for f in FormField if self.fields.get(f, FieldUse.HIDDEN) != FieldUse.HIDDEN]


def form_for(engine: Engine, program_id: str) -> PublicForm | None:
    """The program's form; None when there is no such program or its form is off."""
    with Session(engine) as session:
        program = load_program(session, program_id)
    if program is None:
        return None
    intake = IntakeIn.model_validate(program.intake or {})
    if not intake.web_form.enabled or not intake.unit:
        return None
    categories = [c.name for c in program_config(program).categories]
    return PublicForm(
        program.id, program.name, intake.unit, dict(intake.web_form.fields), categories
    )


# Messages are keys for the page to translate (web/routes/forms.py).
REQUIRED, TOO_LONG, BAD_EMAIL, BAD_PHONE, BAD_CATEGORY = (
    "required",
    "too_long",
    "bad_email",
    "bad_phone",
    "bad_category",
)


def check(form: PublicForm, values: dict[str, str]) -> dict[str, str]:
    """Field -> what is wrong with it (a key of the messages above); empty: acceptable."""
    errors: dict[str, str] = {}
    for name in form.shown():
        value = values.get(name, "")
        if not value:
            if form.fields[name] == FieldUse.REQUIRED:
                errors[name] = REQUIRED
            continue
        if len(value) > LIMITS[name]:
            errors[name] = TOO_LONG
        elif name == FormField.EMAIL:
            try:
                validate_email(value)
            except ValueError:  # pydantic's error for an address it refuses
                errors[name] = BAD_EMAIL
        elif name == FormField.PHONE and not _PHONE.match(value):
            errors[name] = BAD_PHONE
        elif name == FormField.CATEGORY and form.categories and value not in form.categories:
            errors[name] = BAD_CATEGORY
    return errors


def case_body(form: PublicForm, values: dict[str, str]) -> CaseCreate:
    def get(name: FormField) -> str:
        return values.get(name, "") if name in form.shown() else ""

    message = get(FormField.MESSAGE)
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    order = get(FormField.ORDER_REF)
    return CaseCreate.model_validate(
        {
            "program_id": form.program_id,
            "unit_id": form.unit_id,
            "channel": Channel.WEB_FORM,
            "customer": {
                "name": get(FormField.NAME),
                "email": get(FormField.EMAIL) or None,
                "phone": get(FormField.PHONE) or None,
            },
            "category": get(FormField.CATEGORY),
            "reason": first_line[:200],
            "verbatim": message,
            "transaction": {"order_ref": order} if order else {},
        }
    )


async def submit(
    engine: Engine,
    client: Client,
    settings: Settings,
    form: PublicForm,
    values: dict[str, str],
    token: str,
) -> str:
    """Open the case (values already checked); its id. The same token: the same case."""
    body = await in_thread(case_body, form, values)
    result = await open_case(
        engine,
        client,
        settings,
        body,
        idempotency_key=IntakeKey(token, CLIENT_ID),
        opened_by="customer (web form)",
        acknowledge=True,
    )
    return result.case_id
