"""The YAML loader: a bad file names line and field and leaves the configuration untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.settings import ROOT
from services.config_file import ConfigError, load_config_file, parse_config
from services.configuration import apply_config, export_config

GOOD = """\
users:
  - {id: olga, name: Olga Owner, email: olga@example.com, manager: max}
  - {id: max, name: Max Manager, role: manager}
units:
  - {id: "4723", name: Oslo Harbour, timezone: Europe/Oslo, frontline_owner: olga}
programs:
  - id: recovery
    name: Guest Recovery
    root_causes: [Housekeeping, Noise]
    questions:
      - {id: concern, text: "Did you have a concern?", type: yes_no}
      - {id: ltr, text: "Recommend us?", type: score, max: 10}
    alert_rules:
      - {id: concern-yes, kind: concern, question: concern}
      - {id: ltr-low, kind: low_score, question: ltr, at_most: 6}
"""

# (replace this, with that) -> the line and field the message must name
BAD = [
    ("at_most: 6}", "at_most: lots}", 15, "programs.0.alert_rules.1.low_score.at_most"),
    ("question: ltr,", "question: nps,", 15, "programs.0.alert_rules.1.question"),
    ("manager: max}", "manager: maxx}", 2, "users.0.manager"),
    ("timezone: Europe/Oslo", "timezone: Europe/Osl", 5, "units.0.timezone"),
    ("frontline_owner: olga}", "frontline_owner: olga, colour: red}", 5, "units.0.colour"),
    ("root_causes: [Housekeeping, Noise]", "root_causes: []", 9, "programs.0.root_causes"),
    (
        "    name: Guest Recovery\n",
        "    name: Guest Recovery\n    ownership_model: corporate\n",
        7,
        "programs.0.central_team",
    ),
]


def snapshot(engine: Engine) -> dict[str, object]:
    with Session(engine) as session:
        return export_config(session).model_dump(mode="json")


@pytest.mark.parametrize(("old", "new", "line", "field"), BAD)
def test_bad_file_names_line_and_field_and_changes_nothing(
    any_engine: Engine, tmp_path: Path, old: str, new: str, line: int, field: str
) -> None:
    apply_config(any_engine, parse_config(GOOD, "good.yaml"))
    before = snapshot(any_engine)
    assert old in GOOD
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        apply_config(any_engine, load_config_file(bad))
    assert f"{bad}:{line}: {field}:" in str(err.value)
    assert snapshot(any_engine) == before


def test_not_yaml_at_all(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD + "  - [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{bad}:\d+: not valid YAML"):
        load_config_file(bad)


def test_reloading_updates_in_place(any_engine: Engine) -> None:
    apply_config(any_engine, parse_config(GOOD))
    apply_config(any_engine, parse_config(GOOD.replace("Guest Recovery", "Guest Care")))
    doc = snapshot(any_engine)
    assert [p["name"] for p in doc["programs"]] == ["Guest Care"]  # type: ignore[index]
    assert len(doc["users"]) == 2  # type: ignore[arg-type]


def test_cli_rejects_a_bad_file_and_keeps_the_previous_one(
    any_db_url: str, any_engine: Engine, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("question: ltr,", "question: nps,"))
    env = {**os.environ, "DATABASE_URL": any_db_url}

    def load(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "load-config", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = load(good)
    assert ok.returncode == 0, ok.stderr
    before = snapshot(any_engine)
    failed = load(bad)
    assert failed.returncode == 1
    assert f"{bad}:15: programs.0.alert_rules.1.question: unknown question 'nps'" in failed.stderr
    assert snapshot(any_engine) == before
