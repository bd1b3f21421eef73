"""Message templates: one per kind (alert, escalation, survey, ...), per program if it wants.

Every message has three parts — a one-line subject, a plain-text body and an HTML body — rendered
by Jinja2 in an *immutable sandbox* that sees plain data only: the dicts built here from the read
model (`message_context`), never an ORM object, the settings or a Python callable. The defaults
are files under web/templates/mail/; a program overrides any part through its configuration
(`notifications.templates.<kind>.subject|text|html`, stored with the program).

An override is checked when it is saved, not when a customer is waiting (`check_template`):
it must parse, use only the context's names, reach no attribute or key starting with "_", nest
loops at most two deep, define no macros, and render the demo case within the size and time
budget. At send time an override that still fails (say, data no demo has) falls back to the
default for that part, so a message always goes out.

Scripted replies are not Jinja: their [[PLACEHOLDERS]] are filled in from the case
(`fill_placeholders`) and the owner edits the result before sending it.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from jinja2 import (
    BaseLoader,
    ChainableUndefined,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import Session, col, select

from domain.text import StorableStr
from models.case import Case, CaseEvent, CaseWatcher, Customer
from models.config import Program, Unit, User

log = logging.getLogger(__name__)

MAIL_DIR = Path(__file__).resolve().parent.parent / "web" / "templates" / "mail"

Part = Literal["subject", "text", "html"]
PARTS: tuple[Part, ...] = ("subject", "text", "html")

# What each kind is for (admin pages and the API list these).
KINDS: dict[str, str] = {
    "alert": "New case: to the owner, every watcher in Cc",
    "warning": "A deadline is near: to the owner",
    "overdue": "A deadline was missed: to the owner, full watchers in Cc",
    "escalation": "Escalated: to the designee, with the case history and the late owner",
    "reassignment": "Reassigned: to the new owner, the previous owner in Cc",
    "closing": "Closing summary: to the watchers (program setting notify_watchers_on_close)",
    "reopened": "Reopened after a failed recovery: to the owner, full watchers in Cc",
    "recovery_failed": "The customer's survey says the recovery failed: to the owner",
    "remeasure": "The resolution survey: to the customer",
    "remeasure_reminder": "The survey reminder: to the customer",
    "reply": "A scripted reply: to the customer (wraps the text the owner sent)",
}
MessageKind = Literal[
    "alert",
    "warning",
    "overdue",
    "escalation",
    "reassignment",
    "closing",
    "reopened",
    "recovery_failed",
    "remeasure",
    "remeasure_reminder",
    "reply",
]

# The names a template may use; everything else (settings, config, request, ...) is refused.
CONTEXT_NAMES = frozenset(
    {
        "case",
        "unit",
        "program",
        "customer",
        "transaction",
        "owner",
        "watchers",
        "late_owner",
        "previous_owner",
        "sender",
        "history",
        "event",
        "survey",
        "message",
    }
)
# Budgets: a template is data an admin typed, so it gets bounded work and output.
MAX_OUTPUT = 256 * 1024
MAX_SECONDS = 2.0
MAX_LOOP_DEPTH = 2
MAX_HISTORY = 100
SUBJECT_MAX = 200


class TemplateRejected(ValueError):
    """A template that must not be saved; names the part and, when known, the line."""

    def __init__(self, kind: str, part: str, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"[templates.{kind}.{part}] {where}{message}")
        self.kind, self.part, self.line, self.reason = kind, part, line, message


# ---------------------------------------------------------------- the sandbox

_PLAIN = (dict, list, tuple, str, int, float, bool, type(None), Markup, LoopContext)


class MailSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, narrowed to plain data and bounded arithmetic."""

    intercepted_binops = frozenset({"*", "**", "//", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or not isinstance(obj, _PLAIN):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("the power operator is not available in message templates")
        if operator == "*":
            sizes = [len(x) for x in (left, right) if isinstance(x, str | list | tuple)]
            counts = [x for x in (left, right) if isinstance(x, int)]
            if sizes and counts and sizes[0] * max(counts[0], 0) > MAX_OUTPUT:
                raise SecurityError("that repetition is too large for a message")
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _make_env(*, html_part: bool, strict: bool) -> MailSandbox:
    env = MailSandbox(
        loader=FileSystemLoader(str(MAIL_DIR)),
        autoescape=html_part,
        undefined=StrictUndefined if strict else ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
        auto_reload=False,
        cache_size=400,
    )
    env.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict
    return env


@lru_cache(maxsize=4)
def _env(html_part: bool, strict: bool) -> MailSandbox:
    return _make_env(html_part=html_part, strict=strict)


def _part_env(part: Part, strict: bool) -> MailSandbox:
    return _env(part == "html", strict)


def default_source(kind: str, part: Part) -> str:
    """The shipped template of one part (what an override replaces)."""
    name = _default_name(kind, part)
    loader = _env(part == "html", False).loader
    assert isinstance(loader, BaseLoader)
    source, _, _ = loader.get_source(_env(part == "html", False), name)
    return source


def _default_name(kind: str, part: Part) -> str:
    if kind not in KINDS:
        raise KeyError(kind)
    return f"{kind}.{ {'subject': 'subject.txt', 'text': 'txt', 'html': 'html'}[part] }"


# ---------------------------------------------------------------- checks at save time


def _static_check(kind: str, part: Part, ast: nodes.Template) -> None:
    """What the sandbox would only catch when a bad branch runs: refuse it up front."""

    def refuse(node: nodes.Node, message: str) -> None:
        raise TemplateRejected(kind, part, message, getattr(node, "lineno", None))

    for attr in ast.find_all(nodes.Getattr):
        if attr.attr.startswith("_"):
            refuse(attr, f"{attr.attr!r} is not reachable from a message template")
    for const in ast.find_all(nodes.Const):
        if isinstance(const.value, str) and "__" in const.value:
            refuse(const, f"{const.value!r} is not reachable from a message template")
    # A key or attribute name given as a string: `x["_y"]`, `x|attr("_y")`, `map(attribute=...)`.
    for node in ast.find_all((nodes.Getitem, nodes.Filter, nodes.Test)):
        names = [getattr(node, "arg", None), *getattr(node, "args", [])]
        names += [kw.value for kw in getattr(node, "kwargs", [])]
        for arg in names:
            if (
                isinstance(arg, nodes.Const)
                and isinstance(arg.value, str)
                and arg.value.startswith("_")
            ):
                refuse(node, f"{arg.value!r} is not reachable from a message template")
    for block in ast.find_all((nodes.Macro, nodes.CallBlock)):
        refuse(block, "macros are not available in message templates; use {% include %}")
    for stmt in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        target = getattr(stmt, "template", None)
        if not isinstance(target, nodes.Const) or not isinstance(target.value, str):
            refuse(stmt, "only a fixed template name can be included or extended")

    def depth(node: nodes.Node, level: int) -> None:
        for child in node.iter_child_nodes():
            here = level + 1 if isinstance(child, nodes.For) else level
            if here > MAX_LOOP_DEPTH:
                refuse(child, f"loops may nest at most {MAX_LOOP_DEPTH} deep")
            depth(child, here)

    depth(ast, 0)
    for name in ast.find_all(nodes.Name):
        if name.name == "self":
            refuse(name, "'self' is not available in message templates")
    try:
        undeclared = meta.find_undeclared_variables(ast)
    except TemplateSyntaxError as exc:  # e.g. an unknown filter, found when compiling
        raise TemplateRejected(kind, part, exc.message or "syntax error", exc.lineno) from exc
    unknown = sorted(undeclared - CONTEXT_NAMES - {"super"})
    if unknown:
        raise TemplateRejected(
            kind,
            part,
            f"unknown name(s) {', '.join(unknown)}; a template can use "
            f"{', '.join(sorted(CONTEXT_NAMES))}",
        )


def _bounded_render(template: Template, ctx: Mapping[str, Any]) -> str:
    started = time.monotonic()
    out: list[str] = []
    size = 0
    for chunk in template.generate(ctx):
        out.append(chunk)
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise SecurityError(f"the message is larger than {MAX_OUTPUT // 1024} KB")
        if time.monotonic() - started > MAX_SECONDS:
            raise SecurityError("the template takes too long to render")
    return "".join(out)


def check_template(kind: str, part: Part, source: str) -> str:
    """Compile, inspect and render `source` against the demo case; the rendered demo text.

    Raises `TemplateRejected` (a ValueError: pydantic reports it on the field) for anything
    that would fail or be unsafe when a real message is sent.
    """
    if kind not in KINDS:
        raise TemplateRejected(kind, part, f"unknown message kind; one of {', '.join(KINDS)}")
    env = _part_env(part, strict=True)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(kind, part, exc.message or "syntax error", exc.lineno) from exc
    _static_check(kind, part, ast)
    try:
        template = env.from_string(source)
        rendered = _bounded_render(template, demo_context(kind))
    except SecurityError as exc:
        raise TemplateRejected(kind, part, f"not allowed: {exc}") from exc
    except TemplateSyntaxError as exc:  # in an included template
        raise TemplateRejected(kind, part, exc.message or "syntax error", exc.lineno) from exc
    except TemplateError as exc:
        raise TemplateRejected(kind, part, _error_text(exc)) from exc
    except RecursionError as exc:
        raise TemplateRejected(kind, part, "the template recurses without end") from exc
    except Exception as exc:  # any Python error on the demo data
        raise TemplateRejected(kind, part, f"fails on the demo case: {_error_text(exc)}") from exc
    if part == "subject" and not _one_line(rendered):
        raise TemplateRejected(kind, part, "the subject renders empty on the demo case")
    return rendered


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"


# ---------------------------------------------------------------- configuration (as data)


class TemplateIn(BaseModel):
    """One kind's override; a part left out keeps the default (HTML follows a custom text)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    subject: StorableStr | None = Field(default=None, max_length=1000)
    text: StorableStr | None = Field(default=None, max_length=50_000)
    html: StorableStr | None = Field(default=None, max_length=100_000)


PLACEHOLDERS: dict[str, str] = {
    "CUSTOMER NAME": "the customer's full name",
    "CUSTOMER FIRST NAME": "the customer's first name",
    "DETAILS FROM CUSTOMER": "what the customer said (their comment, else the alert reason)",
    "REASON": "why the alert was raised",
    "CASE ID": "the case number",
    "UNIT NAME": "the location's name",
    "PROGRAM NAME": "the program's name",
    "SENDER NAME": "the name of the person sending the reply",
    "TRANSACTION DATE": "the transaction's date, when intake knew it",
}
_PLACEHOLDER = re.compile(r"\[\[([^\[\]]{1,60})\]\]")


class ReplyTemplateIn(BaseModel):
    """A scripted reply the owner picks on the case page, e.g. "Our apologies"."""

    model_config = ConfigDict(extra="forbid", strict=True)

    key: StorableStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: StorableStr = Field(min_length=1, max_length=100)
    subject: StorableStr = Field(min_length=1, max_length=200)
    body: StorableStr = Field(min_length=1, max_length=20_000)

    @field_validator("subject", "body")
    @classmethod
    def _known_placeholders(cls, v: str) -> str:
        unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(v)} - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join(f'[[{u}]]' for u in unknown)}; "
                f"known: {', '.join(f'[[{p}]]' for p in PLACEHOLDERS)}"
            )
        return v

    @field_validator("subject")
    @classmethod
    def _one_line_subject(cls, v: str) -> str:
        if "\n" in v.strip() or "\r" in v:
            raise ValueError("a subject is one line")
        return v


class NotificationsIn(BaseModel):
    """A program's messaging: who gets the closing summary, its templates and its replies."""

    model_config = ConfigDict(extra="forbid", strict=True)

    notify_watchers_on_close: bool = True
    templates: dict[MessageKind, TemplateIn] = Field(default_factory=dict)
    # Empty: the shipped replies (web/templates/mail/replies.yaml).
    replies: list[ReplyTemplateIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _check(self) -> NotificationsIn:
        for kind, tpl in self.templates.items():
            for part in PARTS:
                source = getattr(tpl, part)
                if source is not None:
                    check_template(kind, part, source)
        seen: set[str] = set()
        for i, r in enumerate(self.replies):
            if r.key in seen:
                raise ValueError(f"[replies.{i}.key] {r.key!r} appears twice")
            seen.add(r.key)
        return self


def stored_notifications(program: Program | None) -> dict[str, Any]:
    raw = getattr(program, "notifications", None) if program is not None else None
    return raw if isinstance(raw, dict) else {}


def check_notifications(data: Mapping[str, Any]) -> NotificationsIn:
    """Validate a program's `notifications` block (raises pydantic's ValidationError)."""
    return NotificationsIn.model_validate(dict(data))


# ---------------------------------------------------------------- rendering


@dataclass
class RenderedMessage:
    subject: str
    text: str
    html: str
    # Parts of a program's override that failed at send time and fell back to the default.
    fallbacks: tuple[str, ...] = ()


@lru_cache(maxsize=512)
def _compiled(kind: str, part: Part, source: str) -> Template:
    """A stored override, compiled once; the static checks again (data can change behind us)."""
    env = _part_env(part, strict=False)
    _static_check(kind, part, env.parse(source))
    return env.from_string(source)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


def text_to_html(text: str) -> Markup:
    """Plain text as HTML paragraphs (escaped, line breaks kept, links clickable)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for p in paragraphs:
        escaped = html.escape(p.strip())
        linked = re.sub(r"(https?://[^\s<>&\"']+)", r'<a href="\1">\1</a>', escaped)
        out.append(f'<p style="margin:0 0 12px;">{linked.replace(chr(10), "<br>")}</p>')
    return Markup("\n".join(out))


def render_message(
    kind: str, ctx: Mapping[str, Any], override: Mapping[str, Any] | None = None
) -> RenderedMessage:
    """Subject, text and HTML for `kind`; a failing override part falls back to the default."""
    parts: dict[str, str] = {}
    fallbacks: list[str] = []
    custom = {p: override.get(p) for p in PARTS} if override else {}
    for part in PARTS:
        source = custom.get(part)
        if isinstance(source, str) and source.strip():
            try:
                parts[part] = _bounded_render(_compiled(kind, part, source), ctx)
                if part == "subject" and not _one_line(parts[part]):
                    raise ValueError("the subject rendered empty")
                continue
            except Exception as exc:  # never block a message on an admin's template
                log.warning("template %s.%s override failed, default used: %s", kind, part, exc)
                fallbacks.append(part)
        elif part == "html" and isinstance(custom.get("text"), str) and "text" not in fallbacks:
            # A custom text without a custom HTML: the HTML says the same thing.
            body = text_to_html(parts["text"])
            parts[part] = (
                _part_env("html", False)
                .get_template("_from_text.html")
                .render({**ctx, "body": body})
            )
            continue
        template = _part_env(part, False).get_template(_default_name(kind, part))
        parts[part] = _bounded_render(template, ctx)
    return RenderedMessage(
        subject=_one_line(parts["subject"]),
        text=parts["text"].strip() + "\n",
        html=parts["html"],
        fallbacks=tuple(fallbacks),
    )


def preview(
    kind: str,
    template: TemplateIn | Mapping[str, Any] | None = None,
    ctx: Mapping[str, Any] | None = None,
) -> RenderedMessage:
    """A message as it would go out, for the demo case (or `ctx`); rejects a bad template."""
    data = template.model_dump() if isinstance(template, TemplateIn) else dict(template or {})
    for part in PARTS:
        if isinstance(data.get(part), str):
            check_template(kind, part, data[part])
    if kind not in KINDS:
        raise TemplateRejected(kind, "subject", "unknown message kind")
    return render_message(kind, ctx or demo_context(kind), data)


# ---------------------------------------------------------------- the context (plain data)


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def local_time(at: datetime | None, tz: str | None) -> str:
    """ "Tue 24 Nov 2026, 14:05 CET" in the unit's zone."""
    if at is None:
        return ""
    local = at.astimezone(_zone(tz))
    return local.strftime("%a %d %b %Y, %H:%M ") + (local.tzname() or "")


def _duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(1, round(hours * 60))} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ").capitalize()


def _person(user: User | None, fallback: str = "") -> dict[str, str] | None:
    if user is None:
        return {"id": fallback, "name": fallback, "email": ""} if fallback else None
    return {"id": user.id, "name": user.name or user.id, "email": user.email or ""}


def _first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


@dataclass
class CaseData:
    """The rows a message about one case draws on, loaded in one go (few queries, one session)."""

    unit: Unit | None
    program: Program | None
    customer: Customer | None
    watchers: list[CaseWatcher]
    events: list[CaseEvent]
    users: dict[str, User]


EVENT_PEOPLE = ("late_owner", "previous_owner", "sender", "closed_by", "by")


def load_case_data(
    session: Session,
    case: Case,
    event: Mapping[str, str] | None = None,
    extra_user_ids: Iterable[str] = (),
) -> CaseData:
    event = event or {}
    watchers = list(
        session.exec(
            select(CaseWatcher)
            .where(col(CaseWatcher.case_id) == case.id)
            .order_by(col(CaseWatcher.user_id))
        ).all()
    )
    events = list(
        session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == case.id)
            .order_by(col(CaseEvent.seq).desc())
            .limit(MAX_HISTORY)
        ).all()
    )[::-1]
    wanted = {case.owner_id, *(w.user_id for w in watchers), *(e.actor for e in events)}
    wanted |= {event.get(k, "") for k in EVENT_PEOPLE} | set(extra_user_ids)
    users = {
        u.id: u
        for u in session.exec(select(User).where(col(User.id).in_([w for w in wanted if w])))
    }
    return CaseData(
        unit=session.get(Unit, case.unit_id),
        program=session.get(Program, case.program_id),
        customer=session.get(Customer, case.customer_id) if case.customer_id else None,
        watchers=watchers,
        events=events,
        users=users,
    )


def message_context(
    session: Session,
    case: Case,
    *,
    kind: str,
    event: Mapping[str, str] | None = None,
    base_url: str = "",
    survey: Mapping[str, str] | None = None,
    data: CaseData | None = None,
) -> dict[str, Any]:
    """Everything a template may show about `case`, as plain dicts, lists and strings."""
    event = dict(event or {})
    data = data or load_case_data(session, case, event)
    unit, program, customer = data.unit, data.program, data.customer
    watchers, events, users = data.watchers, data.events, data.users
    tz = unit.timezone if unit else "UTC"

    def who(user_id: str | None) -> dict[str, str] | None:
        return _person(users.get(user_id or ""), user_id or "") if user_id else None

    customer_name = (customer.name if customer else "") or case.customer_name
    transaction = [
        {"key": str(k), "label": _label(str(k)), "value": str(v)}
        for k, v in list((case.transaction or {}).items())[:50]
    ]
    deadline = event.get("deadline", "")
    due_at = case.open_due_at if deadline == "open" else case.resolve_due_at
    by = who(event.get("closed_by") or event.get("by") or event.get("sender"))
    return {
        "case": {
            "id": case.id,
            "link": f"{base_url}/cases/{case.id}",
            "status": case.status,
            "status_label": _label(case.status),
            "priority": case.priority,
            "category": case.category,
            "channel": case.channel,
            "channel_label": _label(case.channel),
            "reason": case.reason,
            "verbatim": case.verbatim,
            "external_ref": case.external_ref or "",
            "created": local_time(case.created_at, tz),
            "open_due": local_time(case.open_due_at, tz),
            "resolve_due": local_time(case.resolve_due_at, tz),
            "escalation_level": case.escalation_level,
            "went_overdue": case.went_overdue,
            "closing_status": case.closing_status or "",
            "closing_status_label": _label(case.closing_status),
            "root_causes": list(case.root_causes or []),
            "resolution_methods": list(case.resolution_methods or []),
            "final_note": case.final_note,
            "closed": local_time(case.closed_at, tz),
            "time_to_close": _duration(case.closed_at - case.created_at) if case.closed_at else "",
            "reopened_count": case.reopened_count,
            "remeasure": {
                "status": case.remeasure_status,
                "score": case.remeasure_score,
                "resolved": case.remeasure_resolved,
                "resolved_label": {True: "yes", False: "no"}.get(case.remeasure_resolved, "—")
                if case.remeasure_resolved is not None
                else "—",
                "comment": case.remeasure_comment,
            },
        },
        "unit": {
            "id": case.unit_id,
            "name": unit.name if unit else case.unit_id,
            "timezone": tz,
        },
        "program": {"id": case.program_id, "name": program.name if program else case.program_id},
        "customer": {
            "name": customer_name,
            "first_name": _first_name(customer_name),
            "email": (customer.email if customer else "") or "",
            "phone": (customer.phone if customer else "") or "",
        },
        "transaction": transaction,
        "owner": who(case.owner_id),
        "watchers": [
            {**(who(w.user_id) or {}), "access": w.access} for w in watchers if who(w.user_id)
        ],
        "late_owner": who(event.get("late_owner")),
        "previous_owner": who(event.get("previous_owner")),
        "sender": who(event.get("sender")),
        "history": [
            {
                "at": local_time(e.at, tz),
                "kind": e.kind,
                "actor": (users[e.actor].name if e.actor in users else e.actor),
                "summary": e.summary,
            }
            for e in events
        ],
        "event": {
            "kind": kind,
            "deadline": deadline,
            "deadline_label": {"open": "first contact", "resolve": "resolution"}.get(deadline, ""),
            "due": local_time(due_at, tz) if deadline else "",
            "reason": event.get("reason", ""),
            "routing": event.get("routing", ""),
            "note": event.get("note", ""),
            "by": by["name"] if by else "",
        },
        "survey": {"link": "", "expires": "", **dict(survey or {})},
        "message": {
            "subject": event.get("subject", ""),
            "text": event.get("text", ""),
            "html": text_to_html(event.get("text", "")),
        },
    }


def demo_context(kind: str = "alert") -> dict[str, Any]:
    """A made-up case that fills every field, for previews and for checking templates."""
    tz = "Europe/Oslo"
    created = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    def at(hours: float) -> str:
        return local_time(created + timedelta(hours=hours), tz)

    owner = {"id": "ole", "name": "Ole Owner", "email": "ole@example.com"}
    manager = {"id": "mia", "name": "Mia Manager", "email": "mia@example.com"}
    text = (
        "Dear Kari Nordmann,\n\nThank you for taking the time to provide us with your "
        "feedback.\n\nKind regards,\nOle Owner"
    )
    return {
        "case": {
            "id": "C-000123",
            "link": "https://caseloop.example.com/cases/C-000123",
            "status": "in_progress",
            "status_label": "In progress",
            "priority": "normal",
            "category": "Housekeeping",
            "channel": "location_survey",
            "channel_label": "Location survey",
            "reason": "Did you have a concern? Yes: the room was not cleaned on arrival.",
            "verbatim": "The room smelled of smoke and nobody came when I called reception.",
            "external_ref": "SURVEY-88412",
            "created": at(0),
            "open_due": at(24),
            "resolve_due": at(72),
            "escalation_level": 1,
            "went_overdue": True,
            "closing_status": "resolved",
            "closing_status_label": "Resolved",
            "root_causes": ["staff", "cleanliness"],
            "resolution_methods": ["apology", "refund"],
            "final_note": "Called the guest, apologised and refunded one night.",
            "closed": at(50),
            "time_to_close": "2.1 days",
            "reopened_count": 0,
            "remeasure": {
                "status": "answered",
                "score": 2,
                "resolved": False,
                "resolved_label": "no",
                "comment": "Nobody called me back.",
            },
        },
        "unit": {"id": "4723", "name": "Oslo Harbour", "timezone": tz},
        "program": {"id": "recovery", "name": "Guest Recovery"},
        "customer": {
            "name": "Kari Nordmann",
            "first_name": "Kari",
            "email": "kari@example.com",
            "phone": "+47 555 12 345",
        },
        "transaction": [
            {"key": "date", "label": "Date", "value": "2026-11-20"},
            {"key": "room", "label": "Room", "value": "412"},
            {"key": "booking", "label": "Booking", "value": "BK-55821"},
        ],
        "owner": manager if kind == "escalation" else owner,
        "watchers": [
            {**manager, "access": "full"},
            {"id": "fred", "name": "Fred Field", "email": "fred@example.com", "access": "limited"},
        ],
        "late_owner": owner,
        "previous_owner": owner,
        "sender": owner,
        "history": [
            {"at": at(0), "kind": "opened", "actor": "intake", "summary": "Case opened"},
            {"at": at(25), "kind": "overdue", "actor": "system", "summary": "Open deadline missed"},
            {"at": at(72), "kind": "escalated", "actor": "system", "summary": "Escalated to Mia"},
        ],
        "event": {
            "kind": kind,
            "deadline": "resolve",
            "deadline_label": "resolution",
            "due": at(72),
            "reason": "Mia handles billing questions",
            "routing": "field: the unit's frontline owner",
            "note": "",
            "by": "Ole Owner",
        },
        "survey": {
            "link": "https://caseloop.example.com/survey/demo-token",
            "expires": at(240),
        },
        "message": {
            "subject": "Our apologies",
            "text": text,
            "html": text_to_html(text),
        },
    }


# ---------------------------------------------------------------- scripted replies


@dataclass
class ReplyChoice:
    key: str
    name: str
    subject: str
    body: str


@lru_cache(maxsize=1)
def default_replies() -> tuple[ReplyTemplateIn, ...]:
    raw = yaml.safe_load((MAIL_DIR / "replies.yaml").read_text(encoding="utf-8")) or []
    return tuple(ReplyTemplateIn.model_validate(r) for r in raw)


def program_replies(program: Program | None) -> list[ReplyTemplateIn]:
    raw = stored_notifications(program).get("replies") or []
    replies = []
    for r in raw:
        try:
            replies.append(ReplyTemplateIn.model_validate(r))
        except Exception:  # stored data was validated on save; skip what no longer is
            log.warning("skipping an invalid reply template of program %s", program)
    return replies or list(default_replies())


def placeholder_values(
    case: Case,
    *,
    unit_name: str,
    program_name: str,
    customer_name: str,
    sender_name: str,
) -> dict[str, str]:
    details = (case.verbatim or case.reason or "").strip()
    return {
        "CUSTOMER NAME": customer_name or "customer",
        "CUSTOMER FIRST NAME": _first_name(customer_name) or "customer",
        "DETAILS FROM CUSTOMER": details,
        "REASON": case.reason,
        "CASE ID": case.id,
        "UNIT NAME": unit_name,
        "PROGRAM NAME": program_name,
        "SENDER NAME": sender_name,
        "TRANSACTION DATE": str((case.transaction or {}).get("date", "")),
    }


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Replace known [[PLACEHOLDERS]] that have a value; others stay for the owner to fill."""

    def one(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        return value if value else m.group(0)

    return _PLACEHOLDER.sub(one, text)


def unfilled_placeholders(*texts: str) -> list[str]:
    return sorted({m.group(0) for t in texts for m in _PLACEHOLDER.finditer(t)})


def reply_choices(session: Session, case: Case, sender_name: str = "") -> list[ReplyChoice]:
    """The program's scripted replies for this case, placeholders filled in from it."""
    program = session.get(Program, case.program_id)
    unit = session.get(Unit, case.unit_id)
    customer = session.get(Customer, case.customer_id) if case.customer_id else None
    values = placeholder_values(
        case,
        unit_name=unit.name if unit else case.unit_id,
        program_name=program.name if program else case.program_id,
        customer_name=(customer.name if customer else "") or case.customer_name,
        sender_name=sender_name,
    )
    return [
        ReplyChoice(
            key=r.key,
            name=r.name,
            subject=fill_placeholders(r.subject, values),
            body=fill_placeholders(r.body, values),
        )
        for r in program_replies(program)
    ]


def template_overrides(program: Program | None) -> dict[str, dict[str, Any]]:
    raw = stored_notifications(program).get("templates") or {}
    return {k: v for k, v in raw.items() if isinstance(v, dict)}


def effective_templates(program: Program | None) -> list[dict[str, Any]]:
    """Per kind: each part's source and whether the program overrides it (admin views)."""
    overrides = template_overrides(program)
    out: list[dict[str, Any]] = []
    for kind, purpose in KINDS.items():
        custom = overrides.get(kind, {})
        out.append(
            {
                "kind": kind,
                "purpose": purpose,
                **{
                    part: {
                        "source": custom.get(part) or default_source(kind, part),
                        "custom": bool(custom.get(part)),
                    }
                    for part in PARTS
                },
            }
        )
    return out


def known_kinds() -> Iterable[str]:
    return KINDS.keys()


__all__ = [
    "KINDS",
    "PLACEHOLDERS",
    "NotificationsIn",
    "RenderedMessage",
    "ReplyChoice",
    "ReplyTemplateIn",
    "TemplateIn",
    "TemplateRejected",
    "check_template",
    "demo_context",
    "effective_templates",
    "fill_placeholders",
    "message_context",
    "preview",
    "render_message",
    "reply_choices",
    "unfilled_placeholders",
]


# ---------------------------------------------------------------- saving and replying


class ReplyRejected(ValueError):
    """A reply that cannot be sent as it is; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def save_template(
    session: Session, program_id: str, kind: str, template: TemplateIn | None
) -> NotificationsIn:
    """Set (or with None, remove) a program's override of one kind; checked before it is stored.

    Raises KeyError for an unknown program and TemplateRejected for a template that must not
    be saved — in which case nothing changes.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise KeyError(program_id)
    if kind not in KINDS:
        raise TemplateRejected(kind, "subject", f"unknown message kind; one of {', '.join(KINDS)}")
    data = dict(stored_notifications(program))
    templates = dict(data.get("templates") or {})
    if template is None:
        templates.pop(kind, None)
    else:
        for part in PARTS:
            source = getattr(template, part)
            if source is not None:
                check_template(kind, part, source)
        templates[kind] = template.model_dump(exclude_none=True)
    data["templates"] = templates
    checked = NotificationsIn.model_validate(data)
    program.notifications = checked.model_dump(mode="json", exclude_defaults=True)
    session.add(program)
    session.commit()
    return checked


def check_reply(case: Case, customer: Customer | None, subject: str, text: str) -> None:
    """What the workflow would refuse, said in the page's words before anything is sent."""
    if customer is None or not customer.email or "@" not in customer.email:
        raise ReplyRejected("customer", "The customer has no email address on file.")
    if not subject.strip():
        raise ReplyRejected("subject", "Give the reply a subject.")
    if len(subject) > 200 or "\n" in subject.strip():
        raise ReplyRejected("subject", "The subject is one line of at most 200 characters.")
    if not text.strip():
        raise ReplyRejected("text", "Write the reply before sending it.")
    if len(text) > 20_000:
        raise ReplyRejected("text", "A reply is limited to 20,000 characters.")
    left = unfilled_placeholders(subject, text)
    if left:
        raise ReplyRejected("text", f"Fill in {', '.join(left)} before sending.")
    if not case.is_open:
        raise ReplyRejected("case", f"{case.id} is closed; it no longer accepts replies.")
