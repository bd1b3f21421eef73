"""Secrets that travel in URLs, cut out wherever a URL is written down (access log, spans).

A survey link (`/survey/<token>`) is the customer's credential: whoever reads it can answer in
their name; an invitation or password reset link (`/invite/<token>`, `/reset/<token>`) sets
a user's password.
"""

from __future__ import annotations

import re

_SECRET_IN_PATH = re.compile(r"(/(?:survey|invite|reset)/)[^/?#\s\"]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _SECRET_IN_PATH.sub(rf"\g<1>{REDACTED}", text)
