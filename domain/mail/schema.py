"""A program's messaging as configuration: template overrides, scripted replies and their
[[PLACEHOLDERS]], validated before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from domain.fields import MessageKindValue, StorableStr
from domain.mail.preview import check_template
from domain.mail.sandbox import MAIL_DIR, PARTS


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
    templates: dict[MessageKindValue, TemplateIn] = Field(default_factory=dict)
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


def check_notifications(data: Mapping[str, Any]) -> NotificationsIn:
    """Validate a program's `notifications` block (raises pydantic's ValidationError)."""
    return NotificationsIn.model_validate(dict(data))


@lru_cache(maxsize=1)
def default_replies() -> tuple[ReplyTemplateIn, ...]:
    raw = yaml.safe_load((MAIL_DIR / "replies.yaml").read_text(encoding="utf-8")) or []
    return tuple(ReplyTemplateIn.model_validate(r) for r in raw)


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Replace known [[PLACEHOLDERS]] that have a value; others stay for the owner to fill."""

    def one(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        return value if value else m.group(0)

    return _PLACEHOLDER.sub(one, text)


def unfilled_placeholders(*texts: str) -> list[str]:
    return sorted({m.group(0) for t in texts for m in _PLACEHOLDER.finditer(t)})
