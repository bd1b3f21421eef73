"""The Jinja sandbox message templates run in, the shipped defaults it loads, and the checks
that refuse an unsafe template before it is saved."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    BaseLoader,
    ChainableUndefined,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from domain.vocabulary import MessageKind

# The shipped templates (package data).
MAIL_DIR = Path(__file__).resolve().parent / "templates"

Part = Literal["subject", "text", "html"]


PARTS: tuple[Part, ...] = ("subject", "text", "html")


# What each kind is for (admin pages and the API list these).
KINDS: dict[MessageKind, str] = {
    MessageKind.ALERT: "New case: to the owner, every watcher in Cc",
    MessageKind.WARNING: "A deadline is near: to the owner",
    MessageKind.OVERDUE: "A deadline was missed: to the owner, full watchers in Cc",
    MessageKind.ESCALATION: "Escalated: to the designee, with the case history and the late owner",
    MessageKind.REASSIGNMENT: "Reassigned: to the new owner, the previous owner in Cc",
    MessageKind.CLOSING: (
        "Closing summary: to the watchers (program setting notify_watchers_on_close)"
    ),
    MessageKind.REOPENED: "Reopened after a failed recovery: to the owner, full watchers in Cc",
    MessageKind.RECOVERY_FAILED: "The customer's survey says the recovery failed: to the owner",
    MessageKind.REMEASURE: "The resolution survey: to the customer",
    MessageKind.REMEASURE_REMINDER: "The survey reminder: to the customer",
    MessageKind.REPLY: "A scripted reply: to the customer (wraps the text the owner sent)",
    MessageKind.CUSTOMER_REPLY: "The customer answered by email: to the owner",
    MessageKind.ACKNOWLEDGEMENT: (
        "A case the customer opened (web form, email): to the customer, with its reference"
    ),
    MessageKind.PAUSE_EXPIRED: (
        "A case waited on the customer for the longest pause and resumed: to the owner"
    ),
    MessageKind.TASK_REMINDER: "A task on a case is due soon: to its assignee",
    MessageKind.TASK_OVERDUE: "A task on a case is past its due time: to its assignee",
    MessageKind.MENTION: "Someone mentioned you in a note on a case: to the person mentioned",
}


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


def part_env(part: Part, strict: bool) -> MailSandbox:
    return _env(part == "html", strict)


def default_source(kind: str, part: Part) -> str:
    """The shipped template of one part (what an override replaces)."""
    name = default_name(kind, part)
    loader = _env(part == "html", False).loader
    assert isinstance(loader, BaseLoader)
    source, _, _ = loader.get_source(_env(part == "html", False), name)
    return source


def default_name(kind: str, part: Part) -> str:
    if kind not in KINDS:
        raise KeyError(kind)
    return f"{kind}.{ {'subject': 'subject.txt', 'text': 'txt', 'html': 'html'}[part] }"


def static_check(kind: str, part: Part, ast: nodes.Template) -> None:
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


def bounded_render(template: Template, ctx: Mapping[str, Any]) -> str:
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


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"
