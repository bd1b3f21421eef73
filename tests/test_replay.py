"""Replaying stored histories catches non-deterministic changes to CaseWorkflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.settings import Settings
from core.temporal import data_converter
from workflows import case
from workflows.case import CaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
HISTORY_TEXT = {p: p.read_text() for p in HISTORIES}


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 3


def patches_in(history: WorkflowHistory) -> set[str]:
    found = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            for payload in marker.details["patch-data"].payloads if marker.details else []:
                found.add(json.loads(payload.data)["id"])
    return found


def test_every_patch_has_a_history_of_its_patched_path() -> None:
    """A patch whose new path no history takes is not guarded by the replay test."""
    patches = {v for k, v in vars(case).items() if k.startswith("PATCH_")}
    recorded = set().union(
        *(patches_in(WorkflowHistory.from_json(p.stem, HISTORY_TEXT[p])) for p in HISTORIES)
    )
    assert patches and patches <= recorded, patches - recorded


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=data_converter(Settings()))
    history = WorkflowHistory.from_json(path.stem, HISTORY_TEXT[path])
    await replayer.replay_workflow(history)
