"""Keeps secrets that travel in URLs out of the access log.

A survey link (`/survey/<token>`) is the customer's credential: whoever reads it can answer in
their name. uvicorn's access log prints every path, so a filter on the `uvicorn.access` logger
replaces the token with `[redacted]` before any handler (plain, JSON, shipped) sees the record.
"""

from __future__ import annotations

import logging

from core.redaction import REDACTED, redact

__all__ = ["REDACTED", "RedactTokens", "install", "redact"]


class RedactTokens(logging.Filter):
    """Rewrites the record's message and arguments (uvicorn passes the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            args = record.args.items()
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args}
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    """Idempotent: one filter per logger however many apps are created."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
