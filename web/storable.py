"""Text the databases cannot store, refused where it enters: the URL, headers and page forms.

JSON bodies are checked by their models (`models.types.StorableStr`); this module applies the
same check to what no model describes — the path, query parameters and headers of every
request (an app-wide dependency), and the fields of the HTML forms.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from domain.fields import unstorable
from web.auth import PageError
from web.problems import Problem


def _first_problem(request: Request) -> tuple[str, str, str] | None:
    """(where, name, why) of the first unstorable part of the request's URL or headers."""
    if why := unstorable(request.url.path):
        name = next((k for k, v in request.path_params.items() if unstorable(str(v))), "path")
        return "path", name, why
    for key, value in request.query_params.multi_items():
        if why := unstorable(key) or unstorable(value):
            return "query", key if not unstorable(key) else "query", why
    for key, value in request.headers.items():
        if why := unstorable(value):
            return "header", key, why
    return None


async def refuse_unstorable_url(request: Request) -> None:
    """App-wide dependency: 422 before any route reads a poisoned path, parameter or header
    (problem+json on the API, an error page elsewhere)."""
    found = _first_problem(request)
    if found is None:
        return
    where, name, why = found
    if request.url.path.startswith("/api/"):
        message = f"Text {why}"
        errors = [{"field": name, "message": message}]
        raise Problem(422, "Invalid request", f"{name}: {message}", field=name, errors=errors)
    raise PageError(422, "Invalid address", f"The {where} parameter {name!r} {why}.")


def form_problems(form: FormData) -> dict[str, str]:
    """The form's fields (and uploaded file names) that cannot be stored, with the message
    to show next to each."""
    found: dict[str, str] = {}
    for key, value in form.multi_items():
        text = (value.filename or "") if isinstance(value, UploadFile) else value
        why = unstorable(key) or unstorable(text)
        if why and key not in found:
            name = key if not unstorable(key) else "form"
            found[name] = f"This {'file name' if isinstance(value, UploadFile) else 'text'} {why}."
    return found
