"""The data converter: pydantic JSON round trips, with type adapters shared across instances."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from core.temporal import PLAIN_DATA_CONVERTER, PayloadConverter, _type_adapter
from domain.deadlines import Deadlines
from tests.factories import case_input, seed
from workflows.messages import CaseInput


def test_a_new_converter_reuses_the_process_wide_type_adapters() -> None:
    """The sandbox makes a converter per workflow instance; none may rebuild a schema."""
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    value = Deadlines(at, None, at, None)
    [payload] = PLAIN_DATA_CONVERTER.payload_converter.to_payloads([value])
    _type_adapter.cache_clear()
    for _ in range(3):
        [back] = PayloadConverter().from_payloads([payload], [Deadlines])
        assert back == value
    info = _type_adapter.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_a_whole_case_input_survives_a_round_trip(engine: Engine) -> None:
    seed(engine)
    value = case_input(engine, "C-000042", datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    [payload] = PLAIN_DATA_CONVERTER.payload_converter.to_payloads([value])
    [back] = PayloadConverter().from_payloads([payload], [CaseInput])
    assert back == value and isinstance(back.initial_deadlines, Deadlines | None)
