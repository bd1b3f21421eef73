"""Admin pages for messaging: the outbox (every message, sent or waiting) and template previews.

With no SMTP server configured every message stays `pending` here, readable in full, so a
default install works without a mail server. Admins only; anyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from markupsafe import escape
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from core.threads import in_thread
from domain.mail.preview import preview
from domain.mail.sandbox import KINDS, TemplateRejected
from domain.permissions import Viewer
from domain.vocabulary import OutboxStatus, values
from models.case import Outbox
from models.config import Program
from services.failures import flagged
from services.templates import effective_templates
from web.auth import CurrentUser, not_allowed, not_found, verify_csrf
from web.deps import EngineDep, SettingsDep
from web.i18n import N_, gettext
from web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

PAGE_SIZE = 50
STATUSES = values(OutboxStatus)
# The stored HTML body is shown in a sandboxed frame: no scripts, no forms, nothing remote.
BODY_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
)


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can read the outbox."))


def _list(engine: Engine, status: str | None, case_id: str | None, page: int) -> dict[str, Any]:
    with Session(engine) as session:
        query = select(Outbox)
        counted = select(func.count()).select_from(Outbox)
        if status:
            query = query.where(col(Outbox.status) == status)
            counted = counted.where(col(Outbox.status) == status)
        if case_id:
            query = query.where(col(Outbox.case_id) == case_id)
            counted = counted.where(col(Outbox.case_id) == case_id)
        total = session.exec(counted).one()
        rows = session.exec(
            query.order_by(col(Outbox.id).desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        ).all()
        by_status = dict(
            session.exec(select(Outbox.status, func.count()).group_by(col(Outbox.status))).all()
        )
        failures = flagged(session)
    return {
        "failures": failures,
        "rows": list(rows),
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "by_status": by_status,
    }


@router.get("/admin/outbox")
async def outbox_page(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    status: str | None = Query(default=None, max_length=20),
    case: str | None = Query(default=None, max_length=20),
    page: int = Query(default=1, ge=1, le=100_000),
) -> Response:
    _admin(viewer)
    status = status if status in STATUSES else None
    data = await in_thread(_list, engine, status, case or None, page)
    ctx = {
        **data,
        "title": N_("Outbox"),
        "status": status,
        "case_filter": case or "",
        "statuses": STATUSES,
        "smtp": settings.smtp_host,
    }
    return render(request, "outbox.html", ctx)


def _row(engine: Engine, outbox_id: int) -> Outbox:
    with Session(engine) as session:
        row = session.get(Outbox, outbox_id)
        if row is None:
            raise not_found("This message")
        session.expunge(row)
        return row


@router.get("/admin/outbox/{outbox_id}")
async def outbox_message(
    outbox_id: int, request: Request, viewer: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> Response:
    _admin(viewer)
    row = await in_thread(_row, engine, outbox_id)
    ctx = {"title": gettext("Message %(id)s", id=row.id), "row": row, "smtp": settings.smtp_host}
    return render(request, "outbox_message.html", ctx)


@router.get("/admin/outbox/{outbox_id}/body.html")
async def outbox_body(outbox_id: int, viewer: CurrentUser, engine: EngineDep) -> Response:
    _admin(viewer)
    row = await in_thread(_row, engine, outbox_id)
    return Response(
        row.body_html or "<p>(no HTML part)</p>",
        media_type="text/html",
        headers={
            "Content-Security-Policy": BODY_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- templates (read + preview)


def _program(engine: Engine, program_id: str) -> Program:
    with Session(engine) as session:
        program = session.get(Program, program_id) if len(program_id) <= 64 else None
        if program is None:
            raise not_found("This program")
        session.expunge(program)
        return program


def _programs(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(Program.id, Program.name).order_by(col(Program.name))).all()
    return [(pid, name) for pid, name in rows]


@router.get("/admin/templates")
async def templates_index(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    """Every program, each a link to its message templates."""
    _admin(viewer)
    programs = await in_thread(_programs, engine)
    return render(
        request, "templates_index.html", {"title": N_("Message templates"), "programs": programs}
    )


@router.get("/admin/templates/{program_id}")
async def templates_page(
    program_id: str, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    """The program's message templates (custom or default) with a demo-case preview each."""
    _admin(viewer)
    program = await in_thread(_program, engine, program_id)
    kinds = effective_templates(program)
    previews: dict[str, Any] = {}
    for item in kinds:
        source = {p: item[p]["source"] for p in ("subject", "text", "html") if item[p]["custom"]}
        try:
            previews[item["kind"]] = preview(item["kind"], source)
        except TemplateRejected as exc:
            previews[item["kind"]] = exc
    ctx = {
        "title": gettext("Templates · %(program)s", program=program.name),
        "program": program,
        "kinds": kinds,
        "previews": previews,
        "purposes": KINDS,
    }
    return render(request, "outbox_templates.html", ctx)


@router.get("/admin/templates/{program_id}/{kind}/preview.html")
async def template_preview_html(
    program_id: str, kind: str, viewer: CurrentUser, engine: EngineDep
) -> Response:
    """The HTML part of one kind's demo-case preview, for a sandboxed frame."""
    _admin(viewer)
    if kind not in KINDS:
        raise not_found("This message kind")
    program = await in_thread(_program, engine, program_id)
    item = next(i for i in effective_templates(program) if i["kind"] == kind)
    source = {p: item[p]["source"] for p in ("subject", "text", "html") if item[p]["custom"]}
    try:
        body = preview(kind, source).html
    except TemplateRejected as exc:
        body = f"<p>{escape(str(exc))}</p>"
    return Response(
        body,
        media_type="text/html",
        headers={
            "Content-Security-Policy": BODY_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )
