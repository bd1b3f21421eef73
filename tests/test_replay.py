"""Replaying stored histories catches non-deterministic changes to CaseWorkflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.settings import Settings
from core.temporal import data_converter
from workflows import case_patches
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
    patches = {v for k, v in vars(case_patches).items() if k.startswith("PATCH_")}
    recorded = set().union(
        *(patches_in(WorkflowHistory.from_json(p.stem, HISTORY_TEXT[p])) for p in HISTORIES)
    )
    assert patches and patches <= recorded, patches - recorded


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path) -> None:
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=data_converter(Settings()))
    history = WorkflowHistory.from_json(path.stem, HISTORY_TEXT[path])
    await replayer.replay_workflow(history)


def test_a_case_computing_its_deadlines_decides_every_patch_before_it() -> None:
    """deadlines_computed_by_the_case: a workflow task ended right after the deadline
    computation's marker (the case was queried while it opened), the history the old code
    could not replay. Every patch marker comes before that marker now."""
    path = Path(__file__).parent / "histories" / "deadlines_computed_by_the_case.json"
    history = WorkflowHistory.from_json(path.stem, HISTORY_TEXT[path])
    kinds = [
        e.marker_recorded_event_attributes.marker_name
        if e.HasField("marker_recorded_event_attributes")
        else "task_completed"
        if e.HasField("workflow_task_completed_event_attributes")
        else ""
        for e in history.events
    ]
    first_activity = kinds.index("core_local_activity")
    assert kinds.count("core_patch") == 1 + len(case_patches.DECIDED_LATE)
    assert "core_patch" not in kinds[first_activity:]
    assert kinds[first_activity + 1 :].index("task_completed") < kinds[first_activity + 1 :].index(
        "core_local_activity"
    )


def test_the_paused_case_takes_every_way_out_of_a_pause() -> None:
    """paused_and_resumed (PATCH_PAUSE): resumed by the owner, by the longest pause (its timer
    fires), by the customer's reply (a signal), and closed while paused."""
    path = Path(__file__).parent / "histories" / "paused_and_resumed.json"
    history = WorkflowHistory.from_json(path.stem, HISTORY_TEXT[path])
    assert case_patches.PATCH_PAUSE in patches_in(history)
    updates = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert updates.count("pause") == 4 and updates.count("resume") == 1
    assert updates[-1] == "close"
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["customer_replied"]
    assert any(e.HasField("timer_fired_event_attributes") for e in history.events)


def test_the_followed_case_moves_its_deadlines_and_ignores_a_repeat() -> None:
    """deadlines_followed_the_program (PATCH_FOLLOW_POLICY): a longer SLA, the same change
    again (ignored: no second local activity), a shorter one while paused; the deadline passes
    at its new time and escalates."""
    path = Path(__file__).parent / "histories" / "deadlines_followed_the_program.json"
    history = WorkflowHistory.from_json(path.stem, HISTORY_TEXT[path])
    assert case_patches.PATCH_FOLLOW_POLICY in patches_in(history)
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["policy_changed"] * 3
    steps = [
        json.loads(m.details["data"].payloads[0].data)["activity_type"]
        for m in (e.marker_recorded_event_attributes for e in history.events)
        if m.marker_name == "core_local_activity"
    ]
    assert steps.count("follow_policy") == 2
    assert (
        steps.index("follow_policy") < steps.index("shift_deadlines") < steps.index("find_designee")
    )


def test_the_tasks_history_fires_a_task_timer_and_mentions() -> None:
    """tasks_and_mentions (PATCH_TASKS): tasks added, ticked, unticked; a reminder and an
    overdue notice from the main loop's timer; a note with a mention."""
    path = Path(__file__).parent / "histories" / "tasks_and_mentions.json"
    history = WorkflowHistory.from_json(path.stem, HISTORY_TEXT[path])
    assert case_patches.PATCH_TASKS in patches_in(history)
    updates = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert updates.count("add_task") == 2 and updates.count("complete_task") == 3
    assert "reopen_task" in updates and "add_note" in updates
    assert sum(e.HasField("timer_fired_event_attributes") for e in history.events) >= 2
