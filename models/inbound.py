"""Inbound mail: one row per message received (services/inbound.py), kept once per Message-ID."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class InboundMessage(SQLModel, table=True):
    """What arrived and what became of it; the customer's text is here, the workflow gets a
    reference to this row (and the text in its encrypted payload) — never the raw message."""

    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    # The sender's Message-ID (or one derived from the content when it had none): unique, so
    # the same message delivered twice is stored once.
    message_id: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=20)  # domain.vocabulary.InboundKind
    # domain.vocabulary.InboundOutcome: threaded (into a case) | opened (a new case) |
    # after_close (its case had closed: services/late_replies.py) | unmatched (kept, in no case)
    outcome: str = Field(max_length=20)
    case_id: str | None = Field(default=None, max_length=20, index=True)
    from_addr: str = Field(default="", max_length=320)
    subject: str = ""
    text: str = ""
    document_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
