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


def test_converters_share_their_encoders_and_still_round_trip() -> None:
    """The SDK builds payload converters per workflow task: they share one pydantic encoder
    (no per-instance state), and each still writes and reads every kind of value."""
    first, second = PayloadConverter(), PayloadConverter()
    assert first.converters[b"json/plain"] is second.converters[b"json/plain"]
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    values = [None, b"raw", Deadlines(at, None, at, None), {"k": [1, 2]}]
    payloads = first.to_payloads(values)
    assert [p.metadata["encoding"] for p in payloads] == [
        b"binary/null",
        b"binary/plain",
        b"json/plain",
        b"json/plain",
    ]
    back = second.from_payloads(payloads, [type(None), bytes, Deadlines, dict])
    assert back == values


def test_a_whole_case_input_survives_a_round_trip(engine: Engine) -> None:
    seed(engine)
    value = case_input(engine, "C-000042", datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    [payload] = PLAIN_DATA_CONVERTER.payload_converter.to_payloads([value])
    [back] = PayloadConverter().from_payloads([payload], [CaseInput])
    assert back == value and isinstance(back.initial_deadlines, Deadlines | None)
