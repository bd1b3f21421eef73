"""The log formatter itself: context fields, masked addresses, the console renderer."""

from __future__ import annotations

import io
import json
import logging
import smtplib
from collections.abc import Iterator

import pytest
import structlog

from core.logging import bind, formatter


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json"))
    logger = logging.getLogger("caseloop.test.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    structlog.contextvars.clear_contextvars()


def test_a_record_is_one_json_line_with_the_bound_ids(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    bind(request_id="r-1", case_id="C-000007", api_client="crm")
    logger.info("case %s reassigned", "C-000007")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "case C-000007 reassigned" and record["level"] == "info"
    assert record["logger"] == "caseloop.test.logging" and record["timestamp"].endswith("Z")
    assert (record["request_id"], record["case_id"], record["api_client"]) == (
        "r-1",
        "C-000007",
        "crm",
    )


def test_addresses_in_messages_and_tracebacks_are_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    refused = {"kari@example.com": (550, b"no such user")}
    try:
        raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
    except smtplib.SMTPException:
        logger.exception("delivery to kari@example.com failed")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert "kari@example.com" not in line and "example.com" not in line
    assert record["event"] == "delivery to <email> failed"
    assert "SMTPRecipientsRefused" in record["exception"] and "<email>" in record["exception"]


def test_the_console_renderer_is_for_people() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("console"))
    logger = logging.getLogger("caseloop.test.console")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        bind(case_id="C-000008")
        logger.warning("deadline passed")
    finally:
        logger.removeHandler(handler)
        structlog.contextvars.clear_contextvars()
    line = out.getvalue().strip()
    assert "deadline passed" in line and "case_id=C-000008" in line and "warn" in line
    assert not line.startswith("{")
