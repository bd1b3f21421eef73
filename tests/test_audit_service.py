"""The audit log's service on SQLite and PostgreSQL: recording, filters, pages, restore."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from domain.audit import Actor, diff, readable
from domain.program import ConfigDoc
from domain.vocabulary import AuditActor, AuditVia
from models.types import utcnow
from services import audit
from services.audit import AuditFilter, RestoreError, list_entries, restore_program
from services.configuration import apply_config, export_config
from tests.factories import config

ANNA = Actor(AuditActor.USER, "anna", "Anna Admin", AuditVia.PAGE)


def with_name(doc: ConfigDoc, name: str) -> ConfigDoc:
    data = doc.model_dump(mode="json")
    data["programs"][0]["name"] = name
    return ConfigDoc.model_validate(data)


def test_entries_filtered_paged_and_restored(
    any_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = config()
    apply_config(any_engine, doc)  # by the operator at the CLI
    for n in range(1, 31):
        apply_config(any_engine, with_name(doc, f"Recovery {n}"), ANNA)
    everything = list_entries(any_engine, AuditFilter())
    assert everything["total"] == 30 + len(doc.users) + len(doc.units) + len(doc.programs)
    by_anna = list_entries(any_engine, AuditFilter(actor="anna", kind="program"))
    assert by_anna["total"] == 30 and by_anna["pages"] == 2
    assert len(by_anna["rows"]) == audit.PAGE_SIZE
    assert by_anna["rows"][0].diff == [
        {"field": "name", "before": "Recovery 29", "after": "Recovery 30"}
    ]
    second = list_entries(any_engine, AuditFilter(actor="anna"), page=2)
    assert [e.id for e in second["rows"]] == sorted((e.id for e in second["rows"]), reverse=True)
    assert ("anna", "Anna Admin") in everything["actors"]
    assert ("program", "recovery") in everything["objects"]
    today = utcnow().date()
    assert (
        list_entries(any_engine, AuditFilter(since=today, until=today))["total"]
        == everything["total"]
    )
    assert list_entries(any_engine, AuditFilter(until=today - timedelta(days=1)))["total"] == 0

    older = list_entries(any_engine, AuditFilter(actor="anna", kind="program"), page=2)["rows"]
    fifth = next(e for e in older if e.snapshot and e.snapshot["name"] == "Recovery 5")
    entry = restore_program(any_engine, fifth.id, ANNA)
    assert entry is not None and entry.restored_from == fifth.id and entry.action == "restore"
    with Session(any_engine) as session:
        assert export_config(session).programs[0].name == "Recovery 5"
    assert restore_program(any_engine, fifth.id, ANNA) is None  # already that version
    unit_entry = list_entries(any_engine, AuditFilter(kind="unit"))["rows"][0]
    with pytest.raises(RestoreError):
        restore_program(any_engine, unit_entry.id, ANNA)


def test_diff_masks_secrets_and_reads_nested_changes() -> None:
    before = {"password_hash": "$argon2id$old", "sla": {"open_within": "PT4H", "warn": "PT1H"}}
    after = {"password_hash": "$argon2id$new", "sla": {"open_within": "PT2H", "warn": "PT1H"}}
    changes = diff(before, after)
    assert changes[0] == {"field": "password_hash", "before": "[secret]", "after": "[secret]"}
    assert "argon2" not in str(changes)
    assert readable(changes)[1] == ("sla.open_within", "PT4H", "PT2H")
    assert diff(before, before) == []
