"""The pages' language: gettext catalogs (Babel) and Babel's dates and numbers.

A request's language is the signed-in user's choice (`User.locale`, copied into the session at
sign-in and refreshed on every page), else the browser's Accept-Language, else English. The
catalogs are `web/locale/<locale>/LC_MESSAGES/messages.po`, compiled to `.mo` next to them (both
committed, so a clone and the wheel work without a build step; `make messages` re-extracts
and recompiles). English is the source language: its msgids are the English text.

Templates use `{{ _("…") }}` / `{% trans %}` (jinja2.ext.i18n, installed in web.templating);
Python code marks a string with `N_` where it is defined and translates it with `gettext` where
it is shown, in the request's language (a context variable `render` and `LocaleMiddleware` set).
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.support import NullTranslations, Translations
from starlette.types import ASGIApp, Receive, Scope, Send

from web.accept import weighted

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
# Offered languages, with their names in their own language (the language picker shows these).
LANGUAGES = {"en": "English", "nb": "Norsk bokmål"}
# Browser tags that mean one of ours: Norwegian ("no") and Nynorsk readers get Bokmål.
ALIASES = {"no": "nb", "nn": "nb"}
SESSION_LOCALE = "locale"

_current: ContextVar[str] = ContextVar("caseloop_locale", default=DEFAULT)


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined; `gettext` translates it when shown."""
    return message


@functools.cache
def translations(locale: str) -> NullTranslations:
    if locale == DEFAULT or locale not in LANGUAGES:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], domain=DOMAIN)


def current() -> str:
    return _current.get()


def activate(locale: str) -> None:
    _current.set(locale if locale in LANGUAGES else DEFAULT)


def gettext(message: str, **variables: Any) -> str:
    text = translations(_current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(_current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def supported(tag: str | None) -> str | None:
    """One of our locales for a language tag ("nb-NO", "no", "en_GB"), or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    primary = ALIASES.get(primary, primary)
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The first of our locales in the browser's preference order (q-values respected)."""
    ranked = [(-q, i, tag) for i, (tag, q) in enumerate(weighted(header)) if tag and q > 0]
    for _, _, tag in sorted(ranked):
        found = supported(tag)
        if found:
            return found
    return None


def locale_for(session: dict[str, Any] | None, accept_language: str | None) -> str:
    chosen = (session or {}).get(SESSION_LOCALE)
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    return from_accept_language(accept_language) or DEFAULT


def locale_of_scope(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    session = scope.get("session") if "session" in scope else None
    return locale_for(session, accept)


class LocaleMiddleware:
    """Sets the request's language before any route code runs (inside the session middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            activate(locale_of_scope(scope))
        await self.app(scope, receive, send)


# ---------------------------------------------------------------- dates and numbers


def format_when(local: datetime) -> str:
    """A moment, already in its zone: "Mon 23 Nov 2026, 14:05" (English) / "man. 23. nov. 2026,
    14:05" (Bokmål)."""
    locale = Locale.parse(_current.get())
    day = dates.format_date(
        local, "EEE d MMM y" if locale.language == "en" else "EEE d. MMM y", locale=locale
    )
    return f"{day}, {dates.format_time(local, 'HH:mm', locale=locale)}"


def format_day(day: date) -> str:
    """A calendar day: "01 Nov 2026" / "01. nov. 2026"."""
    locale = Locale.parse(_current.get())
    pattern = "dd MMM y" if locale.language == "en" else "dd. MMM y"
    return dates.format_date(day, pattern, locale=locale)


def format_day_month(day: date) -> str:
    """A day of the year, for a chart's axis: "01 Nov" / "01. nov."."""
    locale = Locale.parse(_current.get())
    return dates.format_date(day, "dd MMM" if locale.language == "en" else "dd. MMM", locale=locale)


def format_number(value: float, digits: int | None = None) -> str:
    if digits is None:
        return numbers.format_decimal(value, locale=_current.get())
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return numbers.format_decimal(value, format=pattern, locale=_current.get())


def format_percent(value: float) -> str:
    """A percentage given as 0-100 (the reports' unit), up to one decimal."""
    return numbers.format_percent(value / 100, format="#,##0.#%", locale=_current.get())
