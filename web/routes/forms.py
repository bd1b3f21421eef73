"""The public web form `/forms/{program}`: customers open a case themselves, no sign-in.

Guards: the session's CSRF token (web/auth.py, as every page form); a honeypot field people and
assistive technology never see (filled: the confirmation is shown, no case is opened); a per-IP
limit on submissions (`form_limit` of web/rate_limit.py, FORM_RATE_LIMIT); the form token,
which makes a double submit open one case (services/public_form.py). After a submit the
browser is sent to the confirmation page (POST, redirect, GET); the case's reference travels in
the session only.
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from core.threads import in_thread
from domain.vocabulary import FieldUse, FormField
from services import public_form
from services.intake import IntakeError
from web.auth import verify_csrf
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.i18n import N_, format_number, gettext
from web.rate_limit import form_limit
from web.storable import form_problems
from web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

HONEYPOT = "website"  # a name form-filling bots like
TOKEN = "form_token"
SESSION_DONE = "form_done"  # program id -> the reference of the case just opened

LABELS = {
    FormField.NAME: N_("Your name"),
    FormField.EMAIL: N_("Email address"),
    FormField.PHONE: N_("Phone number"),
    FormField.ORDER_REF: N_("Order or booking reference"),
    FormField.CATEGORY: N_("What is it about?"),
    FormField.MESSAGE: N_("Your message"),
}
ERRORS = {
    public_form.REQUIRED: N_("Please fill in this field."),
    public_form.BAD_EMAIL: N_("Enter an email address like name@example.com."),
    public_form.BAD_PHONE: N_("Enter a phone number with digits, spaces and + only."),
    public_form.BAD_CATEGORY: N_("Choose one of the listed topics."),
}


RateLimited = Annotated[None, Depends(form_limit)]


async def _form(engine: Any, program_id: str) -> public_form.PublicForm:
    form = await in_thread(public_form.form_for, engine, program_id)
    if form is None:
        raise HTTPException(404)
    return form


def _page(
    request: Request,
    form: public_form.PublicForm,
    values: dict[str, str],
    errors: dict[str, str],
    token: str,
    status: int = 200,
) -> Response:
    ctx: dict[str, Any] = {
        "title": N_("Contact us"),
        "state": SimpleNamespace(program_name=form.program_name),
        "form": form,
        "fields": form.shown(),
        "labels": LABELS,
        "required": {f for f in form.shown() if form.fields[f] == FieldUse.REQUIRED},
        "limits": public_form.LIMITS,
        "values": values,
        "errors": errors,
        "token": token,
        "honeypot": HONEYPOT,
    }
    return render(request, "public_form.html", ctx, status=status)


@router.get("/forms/{program_id}")
async def form_page(program_id: str, request: Request, engine: EngineDep) -> Response:
    form = await _form(engine, program_id)
    return _page(request, form, {}, {}, secrets.token_urlsafe(24))


def _message(name: FormField, problem: str) -> str:
    if problem == public_form.TOO_LONG:
        return gettext("Up to %(n)s characters.", n=format_number(public_form.LIMITS[name]))
    return gettext(ERRORS[problem])


@router.post("/forms/{program_id}")
async def form_submit(
    program_id: str,
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    _limited: RateLimited,
) -> Response:
    form = await _form(engine, program_id)
    data = await request.form()

    def text(name: str) -> str:
        value = data.get(name)
        return (
            " ".join(value.split())
            if isinstance(value, str) and name != "message"
            else (value.strip() if isinstance(value, str) else "")
        )

    token = text(TOKEN)
    if not 16 <= len(token) <= 64:
        token = secrets.token_urlsafe(24)  # a page without one (or a forged one): a fresh key
    done = f"/forms/{program_id}/thanks"
    if text(HONEYPOT):  # a bot: it sees the confirmation, nothing is opened
        request.session[SESSION_DONE] = {program_id: ""}
        return RedirectResponse(done, status_code=303)
    values = {f.value: text(f.value) for f in form.shown()}
    problems = {k: "unstorable" for k in form_problems(data)}
    errors = {
        FormField(k): v for k, v in public_form.check(form, values).items() if k not in problems
    }
    messages = {f.value: _message(f, p) for f, p in errors.items()}
    for name in problems:
        messages[name] = gettext("This text contains characters that cannot be stored.")
        values.pop(name, None)
    if messages:
        return _page(request, form, values, messages, token, status=422)
    try:
        case_id = await public_form.submit(engine, temporal, settings, form, values, token)
    except (IntakeError, ValidationError):
        messages = {"form": gettext("Your message could not be sent. Please check the fields.")}
        return _page(request, form, values, messages, token, status=422)
    request.session[SESSION_DONE] = {program_id: case_id}
    return RedirectResponse(done, status_code=303)


@router.get("/forms/{program_id}/thanks")
async def form_thanks(program_id: str, request: Request, engine: EngineDep) -> Response:
    form = await _form(engine, program_id)
    done = request.session.get(SESSION_DONE) or {}
    if not isinstance(done, dict) or program_id not in done:
        return RedirectResponse(f"/forms/{program_id}", status_code=303)
    ctx = {
        "title": N_("Thank you"),
        "state": SimpleNamespace(program_name=form.program_name),
        "reference": str(done[program_id] or ""),
    }
    return render(request, "public_form_done.html", ctx)
