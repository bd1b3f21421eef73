"""The program page's fields and back: a section saved untouched changes nothing (no false
entry in the audit log), and what was typed reaches the schema as typed."""

from __future__ import annotations

from typing import Any

import pytest

from domain.program import ProgramIn
from tests.factories import LTR_QUESTION, config
from tests.web.conftest import FAST_PROGRAM
from web.routes.pages import program_form as pf

RICH: dict[str, Any] = {
    **config().programs[0].model_dump(mode="json"),
    "calendar": {
        "timezone": "Europe/Oslo",
        "week": [{"open": "08:00", "close": "16:00"}] * 6 + [{"open": None, "close": None}],
        "holiday_country": "NO",
        "extra_holidays": ["2026-12-24", "2026-12-31"],
    },
    "sla": {"priority_factors": {"urgent": 0.25, "high": 0.5}, "max_pause": None},
    "categories": [{"name": "Housekeeping", "subcategories": ["Room", "Linen"]}, {"name": "Food"}],
    "questions": [LTR_QUESTION],
    "alert_rules": [
        {"id": "ltr-low", "kind": "low_score", "question": "ltr", "at_most": 6, "category": "Food"}
    ],
}


@pytest.mark.parametrize("data", [FAST_PROGRAM, config().programs[0].model_dump(), RICH])
@pytest.mark.parametrize("section", list(pf.SECTIONS))
def test_a_section_saved_untouched_changes_nothing(data: dict[str, Any], section: str) -> None:
    stored = ProgramIn.model_validate(data).model_dump(mode="json")
    shown = pf.values(stored)
    changed = pf.changes(section, {n: shown[n] for n in pf.SECTIONS[section]}, stored)
    assert ProgramIn.model_validate({**stored, **changed}).model_dump(mode="json") == stored


def test_typed_text_reaches_the_schema_as_typed() -> None:
    stored = ProgramIn.model_validate(FAST_PROGRAM).model_dump(mode="json")
    v = {n: pf.values(stored)[n] for n in pf.SECTIONS["sla"]}
    v.update({"sla.priority_factors.high": "0,75", "sla.priority_factors.low": "lots"})
    v.update({"calendar.week.5.open": "10:00", "calendar.week.5.close": "14:00"})
    v["calendar.extra_holidays"] = " 2026-12-24 \n\n2026-12-31"
    got = pf.changes("sla", v, stored)
    assert got["sla"]["priority_factors"]["high"] == 0.75
    assert got["sla"]["priority_factors"]["low"] == "lots"  # refused by the schema, by name
    assert got["calendar"]["week"][5] == {"open": "10:00", "close": "14:00"}
    assert got["calendar"]["extra_holidays"] == ["2026-12-24", "2026-12-31"]
    assert pf.where("sla.priority_factors.low", "sla") == "sla.priority_factors.low"
    assert pf.where("categories.3.name", "taxonomy") == "categories"
    assert pf.where("routing_rules", "taxonomy") == ""
