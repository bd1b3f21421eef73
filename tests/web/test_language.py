"""The pages in English and Norwegian Bokmål: the user's profile, else the browser's
Accept-Language; a page in `nb` has no English left in its chrome; the catalogs are complete
and compiled; dates and numbers follow the language (Babel) in the unit's time zone."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlmodel import Session

from models.case import Case
from models.config import User
from tests.live import csrf_of, fill_login_form
from tests.web.conftest import PASSWORD, LiveApp, sign_in
from web import i18n
from web.templating import when

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "web" / "locale"
PO = LOCALE / "nb" / "LC_MESSAGES" / "messages.po"
MO = LOCALE / "nb" / "LC_MESSAGES" / "messages.mo"
# What the test pages show from the database (people, places, programs): not the pages' wording.
DATA = (
    "Ada Admin", "Ole Owner", "Mia Manager", "Dora Director", "Fred Field", "Alex Agent",
    "Kari Nordmann", "Oslo Harbour", "Bergen Quay", "Guest Recovery", "Fast Lane",
)  # fmt: skip
BROWSER_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|<[^>]+>|&lt;|&gt;")


def catalog() -> Any:
    with PO.open("rb") as f:
        return read_po(f, locale="nb")


def english_fragments() -> set[str]:
    """The English text of every message whose Norwegian differs: the parts between
    placeholders and tags ("Signed in as <strong>%(name)s</strong>" -> "Signed in as")."""
    found: set[str] = set()
    norwegian = " | ".join(
        t
        for m in catalog()
        if m.id
        for t in (m.string if isinstance(m.string, tuple) else (m.string,))
    )
    for m in catalog():
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for msgid, text in zip(ids, strings, strict=False):
            if text == msgid:
                continue
            for part in PLACEHOLDER.split(msgid):
                part = (part or "").strip(" .,:;()")
                if len(part) >= 2 and not part.isdigit():
                    found.add(part)
    # Words both languages spell alike ("To", "Status", "Program") are no sign of English.
    return {f for f in found if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", norwegian)}


class Chrome(HTMLParser):
    """The text a reader meets in the page's chrome (header, footer; with `whole`, everything
    in <body>), and the labels in attributes."""

    ATTRS = ("aria-label", "title", "placeholder", "data-busy-label", "alt")

    def __init__(self, whole: bool) -> None:
        super().__init__()
        self.whole, self.depth = whole, 0
        self.parts: list[str] = []
        self.skip = 0
        self.lang = ""

    def inside(self) -> bool:
        return (self.whole or self.depth > 0) and not self.skip

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang") or ""
        if tag in ("header", "footer"):
            self.depth += 1
        if tag in ("script", "style", "option"):  # a language's own name stays its own
            self.skip += 1
        if self.inside():
            self.parts += [v for k, v in attrs if k in self.ATTRS and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("header", "footer"):
            self.depth -= 1
        if tag in ("script", "style", "option"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.inside() and data.strip():
            self.parts.append(data.strip())


def english_left(
    html: str, whole: bool = False, data: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """The page's language, and the English catalog texts found in its chrome (`data`: what
    the page shows from the database, such as the user's name, is not the page's wording)."""
    page = Chrome(whole)
    page.feed(html)
    text = " | ".join(page.parts)
    for value in data:
        text = text.replace(value, "")
    left = sorted(
        f for f in english_fragments() if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)
    )
    return page.lang, left


def flat(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def set_locale(live: LiveApp, user_id: str, locale: str | None) -> None:
    with Session(live.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.locale = locale
        session.add(user)
        session.commit()


# ---------------------------------------------------------------- the catalogs


def test_every_message_has_a_norwegian_translation_and_the_mo_is_compiled() -> None:
    untranslated = [
        m.id
        for m in catalog()
        if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    assert not untranslated, untranslated
    with MO.open("rb") as f:
        compiled = {flat(m.id): flat(m.string) for m in read_mo(f) if m.id}
    written = {flat(m.id): flat(m.string) for m in catalog() if m.id}
    assert compiled == written, "the .mo is older than the .po: run `make messages`"


def test_the_catalog_holds_every_string_the_pages_mark(tmp_path: Path) -> None:
    """A string marked in web/ but missing from messages.pot means `make messages` was not run."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "--no-location",
         "--omit-header", "-F", "babel.cfg", "-k", "N_", "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with pot.open("rb") as f:
        marked = {m.id for m in read_po(f) if m.id}
    with (LOCALE / "messages.pot").open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    assert marked == committed


def test_dates_and_numbers_follow_the_language_in_the_units_zone() -> None:
    moment = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)
    try:
        i18n.activate("nb")
        assert when(moment, "Europe/Oslo") == "man. 23. nov. 2026, 14:05 CET"
        assert i18n.format_number(1234.5, 2) == "1\xa0234,50"
        assert i18n.format_percent(92.5) == "92,5\xa0%" or i18n.format_percent(92.5) == "92,5%"
        i18n.activate("en")
        assert when(moment, "Europe/Oslo") == "Mon 23 Nov 2026, 14:05 CET"
        assert when(moment, "America/New_York") == "Mon 23 Nov 2026, 08:05 EST"
        assert i18n.format_number(1234.5, 2) == "1,234.50"
    finally:
        i18n.activate("en")


def test_deadlines_bulk_outcomes_and_filter_messages_in_the_readers_language() -> None:
    from services.inbox.due import ENGLISH, closed_text, late_text, span, to_goal
    from web.report_deps import page_message

    words = i18n.translations("nb")
    assert late_text(5, words) == "Forfalt med 5 arbeidstimer"
    assert late_text(1, words) == "Forfalt med 1 arbeidstime"
    assert late_text(0, words) == "Forfalt med under 1 arbeidstime"
    assert to_goal(span(timedelta(minutes=30), words), True, words) == (
        "30 minutter til første kontakt"
    )
    assert to_goal(span(timedelta(hours=1), words), False, words) == "1 time til løsning"
    assert closed_text("resolved", words) == "Lukket · løst"
    # English, the services' own words, stays as it was.
    assert late_text(5, ENGLISH) == "5 business hours past due"
    assert to_goal(span(timedelta(minutes=1)), True) == "1 minute to first contact"
    try:
        i18n.activate("nb")
        assert page_message("The range is limited to 366 days") == (
            "Perioden kan være høyst 366 dager"
        )
        assert page_message("Unknown time zone 'Mars/Base'") == "Ukjent tidssone 'Mars/Base'"
        assert page_message("Input should be 'day' or 'week'") == (
            "Denne verdien kan ikke brukes her."
        )
        i18n.activate("en")
        assert page_message("Input should be 'day' or 'week'") == "Input should be 'day' or 'week'"
    finally:
        i18n.activate("en")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nb-NO,nb;q=0.9,en;q=0.8", "nb"),
        ("no", "nb"),
        ("en-GB,en;q=0.9,nb;q=0.8", "en"),
        ("de-DE,de;q=0.9,nb;q=0.5", "nb"),
        ("nb;q=0.2,en;q=0.9", "en"),
        ("de", None),
        ("", None),
    ],
)
def test_accept_language_picks_ours_in_the_browsers_order(header: str, expected: str) -> None:
    assert i18n.from_accept_language(header) == expected


# ---------------------------------------------------------------- the pages


async def test_accept_language_nb_gives_the_login_page_in_norwegian(live: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        r = await client.get("/login", headers={"Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"})
        assert r.status_code == 200
        lang, left = english_left(r.text, whole=True)
        assert lang == "nb" and not left, left
        assert "Logg inn i Caseloop" in r.text and "Brukernavn" in r.text
        assert "Accept-Language" in r.headers["vary"]  # no cache mixes the languages
        # A failed sign-in says so in Norwegian.
        token = csrf_of(r.text)
        r = await client.post(
            "/login",
            data={"username": "ole", "password": "wrong password", "csrf_token": token},
            headers={"Accept-Language": "nb"},
        )
        assert r.status_code == 401
        assert "Brukernavnet og passordet passer ikke sammen" in r.text
        # Without the header: English (and the check above can fail: it finds the English).
        r = await client.get("/login")
        lang, left = english_left(r.text, whole=True)
        assert lang == "en" and "Sign in to Caseloop" in left and "User name" in left
        # An error page and a survey link that does not work, for a Norwegian reader.
        for path in ("/no-such-page", "/survey/not-a-token"):
            r = await client.get(path, headers={"Accept-Language": "nb", "Accept": BROWSER_ACCEPT})
            assert r.status_code == 404
            lang, left = english_left(r.text, whole=True)
            assert lang == "nb" and not left, (path, left)


async def test_the_survey_speaks_the_customers_language(live: LiveApp) -> None:
    from tests.web.test_accessibility import survey_waiting
    from tests.web.test_security import settled

    case_id = await live.open_case()
    await settled(live, case_id)  # the workflow's first projection is written
    token = survey_waiting(live, case_id)
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        r = await client.get(f"/survey/{token}", headers={"Accept-Language": "nb-NO"})
        assert r.status_code == 200
        lang, left = english_left(r.text, whole=True, data=DATA)
        assert lang == "nb" and not left, left
        assert "Hvordan gjorde vi det?" in r.text and "Svært fornøyd" in r.text
        # A refused answer, in Norwegian too.
        r = await client.post(
            f"/survey/{token}",
            data={"csrf_token": csrf_of(r.text), "comment": "Fint"},
            headers={"Accept-Language": "nb-NO"},
        )
        assert r.status_code == 422
        assert "Velg hvor fornøyd du er, fra 1 til 5." in r.text
        lang, left = english_left(r.text, whole=True, data=DATA)
        assert not left, left


async def test_a_user_with_norwegian_in_the_profile_reads_norwegian(live: LiveApp) -> None:
    # English first: a template module cached in whichever language came first would show here.
    async with sign_in(live, "mia") as mia:
        r = await mia.get("/dashboard", headers={"Accept-Language": "en"})
        assert "Time zone" in r.text
    set_locale(live, "root", "nb")
    try:
        async with sign_in(live, "root") as root:
            root.headers["Accept-Language"] = "en-US,en;q=0.9"  # the profile wins
            root.headers["Accept"] = BROWSER_ACCEPT
            for path, whole in (
                ("/inbox", False),
                ("/notifications", True),
                ("/admin/outbox", False),
                ("/admin/templates", True),
                ("/admin/customers/merge?into=1&merged=1", True),
                ("/dashboard", True),
                ("/dashboard/cases?status=open", True),
                ("/admin", True),  # the 404 page
            ):
                r = await root.get(path)
                lang, left = english_left(r.text, whole=whole, data=DATA)
                assert lang == "nb" and not left, (path, left)
            assert "Innlogget som <strong>Ada Admin</strong>" in r.text
            assert ">Administrasjon</summary>" in r.text
    finally:
        set_locale(live, "root", None)


async def test_the_inbox_and_a_case_page_have_no_english_left_for_a_norwegian_user(
    live: LiveApp,
) -> None:
    """The whole inbox and case page (labels, buttons, hints, deadlines, the timeline's words),
    not only their header and footer; what the case holds (its reason, the customer's words,
    the timeline's summaries the workflow wrote) is data, not the pages' wording."""
    from tests.web.test_security import settled

    case_id = await live.open_case()
    await settled(live, case_id)
    data = (
        *DATA, case_id, "Room not cleaned on arrival", "The room smelled of smoke and nobody came.",
        "Housekeeping", "kari@example.com",
        # What the workflow wrote into the opening event (stored English, shown as written).
        "field model: frontline owner of unit 4723",
    )  # fmt: skip
    set_locale(live, "root", "nb")
    try:
        async with sign_in(live, "root") as root:
            root.headers["Accept"] = BROWSER_ACCEPT
            r = await root.get("/inbox?tab=all")
            assert r.status_code == 200
            lang, left = english_left(r.text, whole=True, data=data)
            assert lang == "nb" and not left, ("/inbox", left)
            assert "Søk i saker" in r.text and "Lagrede visninger" in r.text
            assert re.search(r"\d+ (minutter|minutt|timer|time) til første kontakt", r.text)
            # A note added in Norwegian: the page says so in Norwegian.
            r = await root.get(f"/cases/{case_id}")
            token = csrf_of(r.text)
            r = await root.post(
                f"/cases/{case_id}/notes",
                data={"text": "Ringte kunden", "csrf_token": token},
                follow_redirects=True,
            )
            assert r.status_code == 200
            assert "Notatet er lagt til." in r.text
            lang, left = english_left(r.text, whole=True, data=(*data, "Ringte kunden"))
            assert lang == "nb" and not left, (f"/cases/{case_id}", left)
            assert "Behandle saken" in r.text and "Tidslinje" in r.text
            assert "Frist for første kontakt" in r.text
            assert "Sak opprettet fra Kundesenter; eier Ole Owner" in r.text
            # The page's scripts get their words (countdowns, errors) in Norwegian too.
            assert '"in": "om %(left)s"' in r.text and "Forfalt med %(late)s" in r.text
            # A refused form, in Norwegian too.
            r = await root.post(
                f"/cases/{case_id}/notes",
                data={"text": "", "csrf_token": token},
                headers={"HX-Request": "true"},
            )
            assert r.status_code == 422
            assert "Skriv notatet før du legger det til." in r.text
            assert "Rett opp de merkede feltene." in r.text
            # A bulk action refused as a whole, and dashboard filters refused, in Norwegian.
            r = await root.get("/inbox?tab=all")
            r = await root.post(
                "/inbox/bulk",
                data={"case": case_id, "action_id": "x1", "csrf_token": csrf_of(r.text)},
            )
            assert r.status_code == 422
            assert "Velg hva som skal gjøres med de valgte sakene." in r.text
            r = await root.get("/dashboard?from=2026-02-01&to=2026-01-01")
            assert r.status_code == 422
            assert "Sluttdatoen er før startdatoen" in r.text
            lang, left = english_left(r.text, whole=True, data=data)
            assert not left, left
            # The customer's data protection page (export, erase), and its refusal.
            with Session(live.engine) as session:
                case = session.get(Case, case_id)
                assert case is not None and case.customer_id is not None
            privacy = f"/admin/customers/{case.customer_id}/privacy"
            r = await root.get(privacy)
            assert r.status_code == 200
            lang, left = english_left(r.text, whole=True, data=data)
            assert lang == "nb" and not left, (privacy, left)
            assert "Slett kundens personopplysninger" in r.text
            r = await root.post(
                f"/admin/customers/{case.customer_id}/erase",
                data={"confirm": "0", "csrf_token": csrf_of(r.text)},
            )
            assert r.status_code == 422
            assert "oppføringens nummer, for å bekrefte slettingen" in r.text
            lang, left = english_left(r.text, whole=True, data=data)
            assert not left, left
    finally:
        set_locale(live, "root", None)
    # The same pages in English still speak English (the check above can fail).
    async with sign_in(live, "root") as root:
        r = await root.get(f"/cases/{case_id}", headers={"Accept-Language": "en"})
        lang, left = english_left(r.text, whole=True, data=data)
        assert lang == "en" and "Work the case" in left and "Timeline" in left


async def test_the_language_picker_keeps_the_choice_in_the_profile(
    browser: Any, live: LiveApp
) -> None:
    from playwright.async_api import expect

    ctx = await browser.new_context(base_url=live.base_url, locale="en-US")
    try:
        page = await ctx.new_page()
        await page.goto("/login")
        await fill_login_form(page, "alex", PASSWORD)
        await page.wait_for_url("**/inbox")
        await page.get_by_label("Language").select_option(label="Norsk bokmål")
        await page.get_by_role("button", name="Change language").click()
        await page.wait_for_url("**/inbox")
        nav = page.get_by_role("navigation", name="Hovedmeny")
        await expect(nav.get_by_role("link", name="Innboks")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "nb")
        with Session(live.engine) as session:
            user = session.get(User, "alex")
            assert user is not None and user.locale == "nb"
        # Signed out and in again, in a browser that asks for English: still Norwegian.
        await page.get_by_role("button", name="Logg ut").click()
        await page.wait_for_url("**/login")
        await fill_login_form(page, "alex", PASSWORD)
        await expect(nav.get_by_role("link", name="Varsler")).to_be_visible()
        # And back to English.
        await page.get_by_label("Språk").select_option(label="English")
        await page.get_by_role("button", name="Bytt språk").click()
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    finally:
        await ctx.close()
        set_locale(live, "alex", None)


async def test_the_pages_scripts_write_norwegian_for_a_norwegian_user(
    browser: Any, live: LiveApp
) -> None:
    """The countdown on the case page and the inbox's selection count are written by the
    scripts: in the page's language too."""
    from playwright.async_api import expect

    case_id = await live.open_case()
    set_locale(live, "ole", "nb")
    ctx = await browser.new_context(base_url=live.base_url, locale="en-US")
    try:
        page = await ctx.new_page()
        await page.goto("/login")
        await fill_login_form(page, "ole", PASSWORD)
        await page.wait_for_url("**/inbox")
        await page.get_by_role("checkbox", name=f"Velg {case_id}").check()
        await expect(page.locator("#selected-count")).to_have_text("1 sak valgt.")
        await page.goto(f"/cases/{case_id}")
        countdown = page.locator(".countdown").first
        # The script rewrites the countdowns every 30 s and after each swap: one swap now.
        await page.evaluate("document.dispatchEvent(new Event('htmx:afterSettle'))")
        await expect(countdown).to_have_text(
            re.compile(r"^(om \d+ (minutt|minutter|time|timer)|Forfalt med .+)$")
        )
    finally:
        await ctx.close()
        set_locale(live, "ole", None)
