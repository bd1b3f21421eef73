"""The inbox: tabs, a summary strip per owner, status filter with counts, deadline and owner
filters, search across every case the viewer may see, orders, keyset pages (every choice in the
URL), saved views, bulk actions on selected rows with a people picker, live updates (the list is
re-fetched when the live stream says a case changed: web/routes/pages/live.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData, UploadFile

from core.threads import in_thread
from domain.permissions import Viewer
from models.config import Program, Unit, User
from services.inbox.bulk import ACTIONS, MAX_CASES, BulkRequest, Outcome, apply_bulk
from services.inbox.due import rows_due
from services.inbox.listing import (
    DUE_FILTERS,
    INBOX_STATUSES,
    SORTS,
    InboxQuery,
    end_of_day,
    inbox_page,
    tab_clause,
)
from services.inbox.people import active_user, find_people
from services.inbox.summary import my_summary, owner_summaries, viewer_timezone
from services.inbox.views import (
    ViewRejected,
    clean_params,
    delete_view,
    member_units,
    save_view,
    views_for,
)
from web import i18n
from web.auth import CurrentUser, PageError
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.i18n import N_, gettext, ngettext
from web.live import live_since
from web.storable import form_problems
from web.templating import FLASH, is_htmx, render, templates

router = APIRouter()

TAB_LABELS = {
    "mine": N_("Mine"),
    "watching": N_("Watching"),
    "escalated": N_("Escalated to me"),
    "units": N_("My units"),
    "all": N_("All cases"),
}
# The services' words the inbox shows (the template translates them with `tr`).
SERVICE_WORDS = (
    N_("Reassign"),
    N_("Add a watcher"),
    N_("Close as unresolved"),
    N_("Most urgent first"),
    N_("Highest priority first"),
    N_("Newest first"),
    N_("Oldest first"),
    N_("Due today"),
    N_("Past due"),
    N_("Give the view a name."),
    N_("You can share a view only with a unit you belong to."),
)

Tab = Annotated[str, Query(max_length=20)]
Short = Annotated[str | None, Query(max_length=64)]


def tabs_for(viewer: Viewer) -> list[str]:
    tabs = ["mine", "watching", "escalated"]
    if viewer.managed_units:
        tabs.append("units")
    if viewer.is_admin:
        tabs.append("all")
    return tabs


def inbox_url(**params: str | None) -> str:
    clean = {k: v for k, v in params.items() if v}
    return "/inbox" + (f"?{urlencode(clean)}" if clean else "")


def query_params(query: InboxQuery) -> dict[str, str | None]:
    """The URL of a query's first page (what a saved view keeps)."""
    default_status = "all" if query.searching else "open"
    return {
        "tab": query.tab if query.tab != "mine" else None,
        "status": query.status if query.status != default_status else None,
        "q": query.q,
        "sort": query.sort if query.sort != "due" else None,
        "due": query.due,
        "owner": query.owner,
        "escalated": "1" if query.escalated else None,
    }


@dataclass
class Links:
    """URLs of the page's choices: each keeps every other choice (and drops the cursor)."""

    query: InboxQuery
    viewer_id: str = ""  # the viewer's own figures open their own tabs

    def with_(self, **changes: str | None) -> str:
        params = query_params(self.query)
        if "status" not in changes and self.query.searching and "q" in changes:
            params["status"] = None
        params.update(changes)
        return inbox_url(**params)

    def tab(self, tab: str) -> str:
        # A tab leaves the search and the one-owner filters behind: it is a new list.
        return inbox_url(tab=tab if tab != "mine" else None, sort=query_params(self.query)["sort"])

    def status(self, status: str) -> str:
        return self.with_(status=status)

    def sort(self, sort: str) -> str:
        return self.with_(sort=sort if sort != "due" else None)

    def owner_figure(self, owner: str, figure: str) -> str:
        """The list behind one number of the summary strip."""
        tab = "mine" if owner == self.viewer_id else self.query.tab
        base: dict[str, str | None] = {"tab": tab if tab != "mine" else None}
        if tab != "mine":
            base["owner"] = owner
        if figure == "today":
            base["due"] = "today"
        elif figure == "past":
            base["due"] = "past"
        elif figure == "escalated":
            if tab == "mine":
                return inbox_url(tab="escalated")
            base["escalated"] = "1"
        return inbox_url(**base)


def inbox_context(session: Session, viewer: Viewer, query: InboxQuery) -> dict[str, Any]:
    # Taken before the rows: a change landing in between makes one extra refresh, never a miss.
    since = live_since(session)
    try:
        page = inbox_page(session, viewer, query)
    except ValueError as exc:
        raise PageError(
            400, gettext("Bad request"), gettext("That page link is not valid any more.")
        ) from exc
    owner_ids = {c.owner_id for c in page.rows}
    unit_ids = {c.unit_id for c in page.rows}
    users = dict(session.exec(select(User.id, User.name).where(col(User.id).in_(owner_ids))).all())
    units = dict(session.exec(select(Unit.id, Unit.name).where(col(Unit.id).in_(unit_ids))).all())
    assert query.day_ends is not None
    mine = my_summary(session, viewer.user_id, viewer.name, query.now, query.day_ends)
    owners = []
    if query.tab in ("units", "all") and not query.searching:
        owners = owner_summaries(session, tab_clause(viewer, query.tab), query.now, query.day_ends)
    links = Links(query, viewer_id=viewer.user_id)
    my_units = member_units(session, viewer.user_id)
    params = query_params(query)
    owner_name = None
    if query.owner:
        owner_name = (
            users.get(query.owner)
            or session.exec(select(User.name).where(col(User.id) == query.owner)).first()
        )
    return {
        "page": page,
        "query": query,
        "params": params,
        "tabs": [(t, gettext(TAB_LABELS[t])) for t in tabs_for(viewer)],
        "tab_label": gettext(TAB_LABELS[query.tab]),
        "statuses": INBOX_STATUSES,
        "sorts": SORTS,
        "due_filters": DUE_FILTERS,
        "user_names": users,
        "unit_names": units,
        "owner_name": owner_name or query.owner,
        "due": rows_due(session, page.rows, query.now, i18n.translations(i18n.current())),
        "mine": mine,
        "owners": owners,
        "links": links,
        "self_url": inbox_url(**params, cursor=query.cursor),
        "first_url": inbox_url(**params),
        "next_url": inbox_url(**params, cursor=page.next_cursor) if page.next_cursor else None,
        "live_since": since,
        "views": views_for(session, viewer.user_id, my_units),
        "view_url": lambda v: inbox_url(**v.params),
        "my_units": my_units,
        "root_causes": _root_causes(session),
        "bulk_actions": ACTIONS,
        "outcomes": [],
        "selected": set(),
    }


def _root_causes(session: Session) -> list[str]:
    """Every program's root causes (a bulk close offers one; the workflow checks it is the
    case's program's)."""
    causes: dict[str, None] = {}
    for rc in session.exec(select(Program.root_causes)).all():
        for c in rc or []:
            causes[str(c)] = None
    return sorted(causes)


def parse_query(
    session: Session,
    viewer: Viewer,
    *,
    tab: str | None,
    status: str | None,
    q: str | None,
    cursor: str | None = None,
    sort: str | None = None,
    due: str | None = None,
    owner: str | None = None,
    escalated: str | None = None,
) -> InboxQuery:
    q = (q or "").strip() or None
    tab = tab if tab in tabs_for(viewer) else "mine"
    default_status = "all" if q else "open"
    status = status if status in INBOX_STATUSES else default_status
    now = datetime.now(UTC)
    return InboxQuery(
        tab=tab,
        status=status,
        q=q,
        cursor=cursor or None,
        sort=sort if sort in SORTS else "due",
        due=due if due in DUE_FILTERS else None,
        owner=(owner or "").strip() or None,
        escalated=escalated in ("1", "true", "on"),
        now=now,
        day_ends=end_of_day(now, viewer_timezone(session, viewer.user_id)),
    )


def _title(ctx: dict[str, Any]) -> str:
    return gettext("%(tab)s · Inbox", tab=ctx["tab_label"])


@router.get("/inbox")
def inbox(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    tab: Tab = "mine",
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    sort: Short = None,
    due: Short = None,
    owner: Short = None,
    escalated: Short = None,
) -> Response:
    with Session(engine) as session:
        query = parse_query(
            session,
            viewer,
            tab=tab,
            status=status,
            q=q,
            cursor=cursor,
            sort=sort,
            due=due,
            owner=owner,
            escalated=escalated,
        )
        ctx = inbox_context(session, viewer, query)
    ctx["title"] = _title(ctx)
    flash = None if is_htmx(request) else request.session.pop(FLASH, None)
    ctx["flash"] = flash if isinstance(flash, str) else ""
    return render(request, "inbox.html", ctx, block="results")


# ---------------------------------------------------------------- the people picker


@router.get("/inbox/people")
def people(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    """<option>s of the active people matching what was typed (any field the picker names)."""
    term = ""
    for name in ("q", "new_owner", "watcher"):
        value = request.query_params.get(name)
        if value:
            term = value[:100]
            break
    with Session(engine) as session:
        found = find_people(session, term)
    return templates.TemplateResponse(
        request,
        "inbox.html",
        {"people": found},
        block_name="people",
        headers={"Vary": "HX-Request", "Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- bulk actions


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _form_query(session: Session, viewer: Viewer, form: FormData) -> InboxQuery:
    return parse_query(
        session,
        viewer,
        tab=_text(form, "tab", 20),
        status=_text(form, "status", 20) or None,
        q=_text(form, "q", 200),
        cursor=_text(form, "cursor", 500),
        sort=_text(form, "sort", 20),
        due=_text(form, "due", 20),
        owner=_text(form, "owner", 64),
        escalated=_text(form, "escalated", 5),
    )


def _bulk_request(session: Session, form: FormData) -> tuple[BulkRequest | None, str]:
    """The bulk request, or None and why it cannot be sent."""
    action = _text(form, "action", 20)
    case_ids = [v.strip() for v in form.getlist("case") if isinstance(v, str) and v.strip()]
    key = _text(form, "action_id", 100)
    if action not in ACTIONS:
        return None, gettext("Choose what to do with the selected cases.")
    if not case_ids:
        return None, gettext("Select at least one case first.")
    if len(case_ids) > MAX_CASES:
        return None, gettext("Select at most %(n)s cases at a time.", n=MAX_CASES)
    if not key:
        return None, gettext("The form is out of date. Reload the page and try again.")
    person, person_name, text, cause = "", "", "", ""
    if action in ("reassign", "watch"):
        field = "new_owner" if action == "reassign" else "watcher"
        found = active_user(session, _text(form, field, 64))
        if found is None:
            if action == "reassign":
                return None, gettext("Choose the new owner from the list of people.")
            return None, gettext("Choose the watcher from the list of people.")
        person, person_name = found
    if action == "reassign":
        text = _text(form, "reason", 2001)
        if not text:
            return None, gettext("Say why the cases change hands.")
        if len(text) > 2000:
            return None, gettext("The reason is limited to 2,000 characters.")
    if action == "close":
        text = _text(form, "note", 20_001)
        cause = _text(form, "root_cause", 200)
        if not text:
            return None, gettext("Write a final note: why the cases close unresolved.")
        if len(text) > 20_000:
            return None, gettext("The final note is limited to 20,000 characters.")
    return BulkRequest(action, case_ids, key, person, person_name, text, cause), ""


def _storable(form: FormData) -> tuple[FormData, str]:
    """The form without its fields the databases cannot store, and what was wrong with them."""
    problems = form_problems(form)
    if not problems:
        return form, ""
    kept: list[tuple[str, str | UploadFile]] = [
        (k, v) for k, v in form.multi_items() if k not in problems and isinstance(v, str)
    ]
    return FormData(kept), " ".join(dict.fromkeys(problems.values()))


def _bulk_context(engine: Any, viewer: Viewer, form: FormData) -> tuple[dict[str, Any], Any]:
    clean, unstorable = _storable(form)
    with Session(engine) as session:
        query = _form_query(session, viewer, clean)
        if unstorable:
            return {"query": query, "problem": unstorable}, None
        req, problem = _bulk_request(session, form)
    return {"query": query, "problem": problem}, req


# Told to the page after a bulk action: it clears the selection and re-fetches the list.
BULK_DONE = "inbox-bulk-done"


def _render_after(
    engine: Any,
    viewer: Viewer,
    request: Request,
    query: InboxQuery,
    extra: dict[str, Any],
    status: int = 200,
) -> Response:
    """The outcome (HTMX: beside the list, which the page then re-fetches), or the whole page
    with it."""
    headers = {"HX-Trigger": BULK_DONE} if status < 400 else None
    if is_htmx(request):
        return render(request, "inbox.html", extra, block="outcome", status=status, headers=headers)
    with Session(engine) as session:
        ctx = inbox_context(session, viewer, replace(query, now=datetime.now(UTC)))
    ctx.update(extra)
    ctx["title"] = _title(ctx)
    ctx["flash"] = ""
    return render(request, "inbox.html", ctx, status=status)


@router.post("/inbox/bulk")
async def bulk(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    info, req = await in_thread(_bulk_context, engine, viewer, form)
    query: InboxQuery = info["query"]
    if req is None:
        # Refused as a whole: the selection stays, to correct the form and send it again.
        selected = {v for v in form.getlist("case") if isinstance(v, str) and v.isprintable()}
        extra = {"bulk_problem": info["problem"], "selected": selected}
        return await in_thread(_render_after, engine, viewer, request, query, extra, 422)
    outcomes: list[Outcome] = await apply_bulk(
        temporal,
        engine,
        viewer,
        req,
        settings.update_wait_seconds,
        i18n.translations(i18n.current()),
    )
    done = sum(1 for o in outcomes if o.ok)
    extra = {
        "outcomes": outcomes,
        "bulk_summary": ngettext(
            "%(action)s: %(done)s of %(num)d case done.",
            "%(action)s: %(done)s of %(num)d cases done.",
            len(outcomes),
            action=gettext(ACTIONS[req.action]),
            done=done,
        ),
    }
    return await in_thread(_render_after, engine, viewer, request, query, extra)


# ---------------------------------------------------------------- saved views


def _views_response(
    request: Request,
    engine: Any,
    viewer: Viewer,
    query: InboxQuery,
    extra: dict[str, Any],
    status: int = 200,
) -> Response:
    if not is_htmx(request) and status < 400:
        return RedirectResponse(inbox_url(**query_params(query)), status_code=303)
    with Session(engine) as session:
        ctx = inbox_context(session, viewer, query)
    ctx.update(extra)
    ctx["title"] = _title(ctx)
    ctx["flash"] = ""
    return render(request, "inbox.html", ctx, block="views", status=status)


@router.post("/inbox/views")
async def save_inbox_view(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    form = await request.form()

    def work() -> Response:
        clean, unstorable = _storable(form)
        with Session(engine) as session:
            query = _form_query(session, viewer, clean)
        params = clean_params({k: v for k, v in query_params(query).items()})
        name, unit = _text(clean, "view_name", 200), _text(clean, "view_unit", 64)
        if unstorable:
            extra = {"view_error": unstorable, "view_name": name}
            return _views_response(request, engine, viewer, query, extra, 422)
        try:
            save_view(engine, viewer.user_id, name, unit or None, params)
        except ViewRejected as exc:
            extra = {"view_error": gettext(exc.message), "view_name": name}
            return _views_response(request, engine, viewer, query, extra, 422)
        return _views_response(
            request,
            engine,
            viewer,
            query,
            {"view_saved": gettext("Saved “%(name)s”.", name=" ".join(name.split()))},
        )

    return await in_thread(work)


@router.post("/inbox/views/{view_id}/delete")
async def delete_inbox_view(
    view_id: int, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    form = await request.form()

    def work() -> Response:
        with Session(engine) as session:
            query = _form_query(session, viewer, form)
        gone = delete_view(engine, viewer.user_id, view_id)
        news = (
            gettext("View deleted.")
            if gone
            else gettext("That view is not yours, or was deleted already.")
        )
        return _views_response(request, engine, viewer, query, {"view_saved": news})

    return await in_thread(work)
