"""One log format for API, worker and CLI: structlog renders every stdlib record as one JSON line.

Our `logging.getLogger(__name__)` loggers, uvicorn's, the Temporal SDK's (`workflow.logger`,
`activity.logger`, Core's forwarded logs) all reach the root handler installed here, which
renders through structlog's `ProcessorFormatter`: timestamp, level, logger, event, plus the
context bound with `structlog.contextvars` (request id, API client, case id) and, inside a
Temporal activity or workflow, its workflow id, case id and activity type.

Personal data stays out: code logs ids, never names, emails or texts; as a second line of
defence e-mail addresses in any message or traceback are masked, and uvicorn's access lines show
the route template instead of the path (no survey tokens, no `?q=` searches for names).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow

from core.settings import Settings

# The workflow type whose workflow id is a case id.
CASE_WORKFLOW = "CaseWorkflow"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")
# Record attributes that are not worth a field: uvicorn's ANSI copy of the message, Core's raw
# entry (its fields are on the message already).
_DROPPED = ("color_message", "temporal_log")


def bind(**values: Any) -> None:
    """Add values (ids only) to every later log line of this request or task."""
    structlog.contextvars.bind_contextvars(**values)


def _temporal_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Workflow id, case id and activity type of the Temporal activity or workflow logging."""
    details: dict[str, Any] = {}
    for key in _DROPPED:
        event.pop(key, None)
    for key in ("temporal_workflow", "temporal_activity"):
        found = event.pop(key, None)
        if isinstance(found, dict):
            details.update(found)
    if activity.in_activity():
        info = activity.info()
        details.update(
            activity_type=info.activity_type,
            activity_id=info.activity_id,
            attempt=info.attempt,
            workflow_id=info.workflow_id,
            workflow_type=info.workflow_type,
        )
    if "workflow_run_id" in details:
        details.setdefault("run_id", details["workflow_run_id"])
    for key in (
        "workflow_id",
        "workflow_type",
        "run_id",
        "activity_type",
        "activity_id",
        "attempt",
    ):
        if details.get(key) is not None:
            event.setdefault(key, details[key])
    if event.get("workflow_type") == CASE_WORKFLOW and "workflow_id" in event:
        event.setdefault("case_id", event["workflow_id"])
    return event


def _access_line(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's access line with the route template for the path ("/survey/{token}") and no
    query string: paths carry survey tokens, `?q=` searches carry customer names. The ids are
    fields of their own (case_id, request_id)."""
    args = event.pop("positional_args", None)
    record = event.get("_record")
    access = record is not None and record.name == "uvicorn.access"
    if access and isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
        client, method, path, version, status = args
        path = event.get("route") or path.split("?", 1)[0]
        event["event"] = f'{client} - "{method} {path} HTTP/{version}" {status}'
        event.update(method=method, path=path, status=status)
    return event


def _mask(value: str) -> str:
    return EMAIL.sub("<email>", value)


def _mask_emails(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str) and "@" in value:
            event[key] = _mask(value)
    return event


def _shared(timestamper: Processor) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        structlog.stdlib.ExtraAdder(),
        _temporal_context,
    ]


def formatter(log_format: str = "json", *, colors: bool = False) -> logging.Formatter:
    """The formatter of the root handler (tests attach it to their own handler too)."""
    renderer: Processor
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    else:
        renderer = structlog.processors.JSONRenderer()
    return structlog.stdlib.ProcessorFormatter(
        pass_foreign_args=True,
        foreign_pre_chain=[*_shared(structlog.processors.TimeStamper(fmt="iso", utc=True))],
        processors=[
            _access_line,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _mask_emails,
            renderer,
        ],
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (pytest swaps it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Route all stdlib logging through structlog; safe to call again (replaces our handler)."""
    structlog.configure(
        processors=[
            *_shared(structlog.processors.TimeStamper(fmt="iso", utc=True)),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.set_name("caseloop")
    handler.setFormatter(formatter(settings.log_format, colors=sys.stderr.isatty()))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "caseloop"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.captureWarnings(True)  # warnings become log lines too, not stray text
    # uvicorn installs its own plain-text handlers before it imports the app: hand them to root.
    for name in _UVICORN:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The ids travel as fields (see _temporal_context), not glued onto the message text.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
