"""Message templates: a sandbox that reaches only case fields; bad templates refused at save time.

No Temporal here: templates are checked when saved (configuration, YAML file, admin API) and
rendered by the same code the `notify` activity runs, against a case written by real intake.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from activities.mail_context import message_context
from activities.notifications import Notification, NotificationActivities
from api import create_app
from core.settings import Settings
from domain.mail.preview import check_template, preview
from domain.mail.sandbox import KINDS, PARTS, TemplateRejected, default_source
from domain.mail.schema import ReplyTemplateIn, TemplateIn, fill_placeholders
from domain.program import ProgramIn
from models.api import CaseCreate
from models.case import Case, Outbox
from models.config import Program
from services.config_file import ConfigError, parse_config
from services.templates import save_template
from services.tokens import create_client
from tests.factories import config, seed, version0_case
from tests.notify.conftest import CUSTOMER, TRANSACTION, with_notify_routes

# Each reaches for Python internals, the settings or the environment; each must be refused.
UNSAFE = {
    "dunder attribute": "{{ case.__class__ }}",
    "mro walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "settings": "{{ settings.secret_key }}",
    "config": "{{ config }}",
    "request": "{{ request.app.state.settings }}",
    "template self": "{{ self._TemplateReference__context }}",
    "attr filter": "{{ case|attr('__class__') }}",
    "item lookup": "{{ case['__class__'] }}",
    "format string": "{{ '{0.__class__.__init__.__globals__}'.format(case) }}",
    "globals via lipsum": "{{ lipsum.__globals__['os'] }}",
    "cycler": "{{ cycler.__init__.__globals__ }}",
    "namespace": "{% set ns = namespace() %}{{ ns }}",
    "range": "{% for i in range(10) %}{{ i }}{% endfor %}",
    "mutation": "{{ case.update({'id': 'x'}) }}",
    "list append": "{{ history.append(1) }}",
    "map attribute": "{{ history|map(attribute='_x')|list }}",
    "private key": "{{ case._private }}",
    "dynamic include": "{% include case.id %}",
    "file outside": "{% include '../../../core/settings.py' %}",
    "huge string": "{{ 'x' * 100000000 }}",
    "power": "{{ 9 ** 9 ** 9 }}",
    "macro": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "deep loops": (
        "{% for a in history %}{% for b in history %}{% for c in history %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    ),
}
BROKEN = {
    "syntax": "{% if case.reason %}unclosed",
    "unknown field": "{{ case.no_such_field }}",
    "unknown filter": "{{ case.reason|shout }}",
    "type error": "{{ case.escalation_level + 'x' }}",
    "empty subject": "{% if false %}x{% endif %}",
}


@pytest.mark.parametrize("source", UNSAFE.values(), ids=UNSAFE.keys())
def test_unsafe_templates_are_refused(source: str) -> None:
    with pytest.raises(TemplateRejected):
        check_template("alert", "text", source)
    with pytest.raises(TemplateRejected):
        preview("alert", {"html": source})


@pytest.mark.parametrize("source", BROKEN.values(), ids=BROKEN.keys())
def test_broken_templates_are_refused_with_the_part_and_line(source: str) -> None:
    with pytest.raises(TemplateRejected) as err:
        check_template("escalation", "subject", source)
    assert str(err.value).startswith("[templates.escalation.subject]")


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(TemplateRejected) as err:
        check_template("alert", "text", "Hello {{ owner.name }}\n\n{% for x in history %}\n")
    assert err.value.line == 3 and "line 3" in str(err.value)


def test_shipped_defaults_pass_the_same_checks_and_preview_every_kind() -> None:
    for kind in KINDS:
        for part in PARTS:
            check_template(kind, part, default_source(kind, part))
        message = preview(kind)
        assert message.subject and "\n" not in message.subject
        assert message.text.strip() and message.html.lstrip().startswith("<!doctype html>")
    assert "C-000123" in preview("alert").subject


def test_a_custom_template_previews_and_its_html_follows_the_text() -> None:
    rendered = preview(
        "alert",
        TemplateIn(
            subject="[{{ unit.id }}] {{ case.id }} for {{ owner.name }}",
            text="Call {{ customer.name }} on {{ customer.phone }}.\n\nSee {{ case.link }}",
        ),
    )
    assert rendered.subject == "[4723] C-000123 for Ole Owner"
    assert rendered.text.startswith("Call Kari Nordmann on +47 555 12 345.")
    assert "Call Kari Nordmann" in rendered.html
    assert '<a href="https://caseloop.example.com/cases/C-000123">' in rendered.html


def program_doc(**notifications: Any) -> dict[str, Any]:
    doc = config().model_dump(mode="json")
    doc["programs"][0]["notifications"] = notifications
    return doc


def test_the_program_configuration_refuses_an_unsafe_template() -> None:
    from domain.program import ConfigDoc

    bad = program_doc(templates={"escalation": {"text": "{{ case.__class__.__mro__ }}"}})
    with pytest.raises(ValidationError) as err:
        ConfigDoc.model_validate(bad)
    assert "templates.escalation.text" in str(err.value) and "__class__" in str(err.value)
    with pytest.raises(ValidationError):
        ProgramIn.model_validate(
            {**bad["programs"][0], "notifications": {"templates": {"nope": {"text": "x"}}}}
        )
    good = program_doc(
        notify_watchers_on_close=False,
        templates={"alert": {"subject": "Case {{ case.id }}"}},
        replies=[{"key": "hi", "name": "Hi", "subject": "Hi", "body": "Hi [[CUSTOMER NAME]]"}],
    )
    assert (
        ConfigDoc.model_validate(good).programs[0].notifications.notify_watchers_on_close is False
    )


def test_the_yaml_file_points_at_the_line_of_the_bad_template() -> None:
    text = """
users:
  - {id: ole, name: Ole}
programs:
  - id: recovery
    name: Guest Recovery
    root_causes: [staff]
    notifications:
      templates:
        alert:
          subject: "New case {{ case.id }}"
          text: "{{ settings.secret_key }}"
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text, "programs.yaml")
    message = str(err.value)
    assert message.startswith("programs.yaml:12:")
    assert "notifications.templates.alert.text" in message and "settings" in message


def test_unknown_reply_placeholders_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        ReplyTemplateIn(key="x", name="X", subject="Hi", body="Dear [[CUSTOMR NAME]]")
    assert "[[CUSTOMR NAME]]" in str(err.value)
    values = {"CUSTOMER NAME": "Kari", "DETAILS FROM CUSTOMER": ""}
    # Known with a value: filled; without a value or unknown: left for the owner to fill in.
    assert (
        fill_placeholders("[[CUSTOMER NAME]] / [[DETAILS FROM CUSTOMER]] / [[OTHER]]", values)
        == "Kari / [[DETAILS FROM CUSTOMER]] / [[OTHER]]"
    )


# ---------------------------------------------------------------- saving, and the real render


def save(engine: Engine, kind: str, tpl: TemplateIn | None) -> None:
    with Session(engine) as session:
        save_template(session, "recovery", kind, tpl)


def stored(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        program = session.get(Program, "recovery")
        assert program is not None
        return dict(program.notifications or {})


def test_save_refuses_and_keeps_what_was_there(engine: Engine) -> None:
    seed(engine)
    save(engine, "alert", TemplateIn(subject="Case {{ case.id }} needs you"))
    before = stored(engine)
    assert before["templates"]["alert"] == {"subject": "Case {{ case.id }} needs you"}
    for source in (UNSAFE["mro walk"], UNSAFE["settings"], BROKEN["syntax"]):
        with pytest.raises(TemplateRejected):
            save(engine, "alert", TemplateIn(text=source))
    assert stored(engine) == before
    save(engine, "alert", None)
    assert stored(engine).get("templates", {}) == {}


def written_case(engine: Engine, settings: Settings) -> str:
    """A case row as intake writes it (no workflow needed to render its messages)."""
    body = CaseCreate.model_validate(
        {
            "program_id": "recovery",
            "unit_id": "4723",
            "channel": "contact_center",
            "customer": CUSTOMER,
            "transaction": TRANSACTION,
            "reason": "Room was not cleaned",
            "verbatim": "Smoke {{ case.__class__ }} <script>alert(1)</script>",
        }
    )
    inp = version0_case(engine, body)
    return inp.case_id


def test_context_is_plain_data_and_data_is_never_run_as_a_template(
    engine: Engine, settings: Settings
) -> None:
    seed(engine)
    case_id = written_case(engine, settings)
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        ctx = message_context(session, case, kind="alert", base_url="http://x")

    def walk(value: Any) -> Iterator[Any]:
        yield value
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)

    plain = (dict, list, str, int, float, bool, type(None), Markup)
    assert all(isinstance(v, plain) for v in walk(ctx))
    # A template that shows everything it can reach shows no secret.
    dump = "{{ case }}{{ unit }}{{ program }}{{ customer }}{{ owner }}{{ event }}{{ survey }}"
    check_template("alert", "text", dump)
    message = preview("alert", {"text": dump}, ctx)
    assert settings.secret_key.get_secret_value() not in message.text
    # The customer's words are data: printed, escaped in HTML, never evaluated.
    activity = NotificationActivities(engine, settings)
    activity.enqueue(Notification(case_id, "alert", "alert", ["ole"], ["mia"]))
    with Session(engine) as session:
        [row] = session.query(Outbox).filter_by(case_id=case_id).all()
    assert "Smoke {{ case.__class__ }} <script>alert(1)</script>" in row.body_text
    assert "&lt;script&gt;" in row.body_html and "<script>" not in row.body_html


def test_a_stored_template_that_fails_at_send_time_falls_back_to_the_default(
    engine: Engine, settings: Settings
) -> None:
    seed(engine)
    with Session(engine) as session:  # written behind the validation's back
        program = session.get(Program, "recovery")
        assert program is not None
        program.notifications = {
            "templates": {
                "alert": {
                    "subject": "{{ case.__class__.__mro__ }}",
                    "text": "Custom: {{ case.id }} for {{ owner.name }}",
                }
            }
        }
        session.add(program)
        session.commit()
    case_id = written_case(engine, settings)
    NotificationActivities(engine, settings).enqueue(
        Notification(case_id, "alert", "alert", ["ole"], ["mia"])
    )
    with Session(engine) as session:
        [row] = session.query(Outbox).filter_by(case_id=case_id).all()
    assert row.subject.startswith(f"New case {case_id} at Oslo Harbour")  # the default
    assert row.body_text.startswith(f"Custom: {case_id} for Ole Owner")  # the override
    assert "subject" in row.last_error and "default used" in row.last_error
    assert row.to_addrs == ["ole@example.com"] and row.cc_addrs == ["mia@example.com"]


# ---------------------------------------------------------------- the admin API


async def test_admin_api_saves_previews_and_refuses_templates(
    engine: Engine, settings: Settings
) -> None:
    seed(engine)
    app = with_notify_routes(
        create_app(settings, temporal=object(), engine=engine)  # type: ignore[arg-type]
    )
    token = create_client(engine, "templates-admin", ["admin"]).token
    reader = create_client(engine, "reader", ["cases:read"]).token
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        r = await client.get("/api/v1/templates/recovery", headers=headers)
        assert r.status_code == 200
        kinds = {k["kind"]: k for k in r.json()["kinds"]}
        assert set(kinds) == set(KINDS) and not kinds["alert"]["text"]["custom"]
        assert "[[CUSTOMER NAME]]" not in r.json()["placeholders"]
        assert "CUSTOMER NAME" in r.json()["placeholders"]

        r = await client.put(
            "/api/v1/templates/recovery/escalation",
            json={"text": "History:\n{{ case.__class__.__mro__ }}"},
            headers=headers,
        )
        assert r.status_code == 422 and r.json()["field"] == "text"
        assert r.json()["line"] == 2 and "is not reachable" in r.json()["detail"]
        r = await client.put(
            "/api/v1/templates/recovery/alert",
            json={"subject": "{{ settings.smtp_password }}"},
            headers=headers,
        )
        assert r.status_code == 422 and "settings" in r.json()["detail"]
        assert stored(engine).get("templates", {}) == {}

        r = await client.put(
            "/api/v1/templates/recovery/alert",
            json={"subject": "ALERT {{ case.id }} · {{ unit.name }}"},
            headers=headers,
        )
        assert r.status_code == 200
        assert {k["kind"]: k for k in r.json()["kinds"]}["alert"]["subject"]["custom"]
        r = await client.post(
            "/api/v1/templates/preview",
            json={"kind": "alert", "program_id": "recovery"},
            headers=headers,
        )
        assert r.status_code == 200 and r.json()["subject"] == "ALERT C-000123 · Oslo Harbour"
        r = await client.post(
            "/api/v1/templates/preview",
            json={"kind": "alert", "text": "{% for %}"},
            headers=headers,
        )
        assert r.status_code == 422
        r = await client.delete("/api/v1/templates/recovery/alert", headers=headers)
        assert r.status_code == 200 and stored(engine).get("templates", {}) == {}
        # The configuration API (PUT a whole program) refuses the same template.
        program = config().programs[0].model_dump(mode="json")
        program["notifications"] = {"templates": {"alert": {"html": "{{ request }}"}}}
        r = await client.put(
            "/api/v1/config/programs/recovery",
            json=program,
            headers={**headers, "If-Match": "*"},
        )
        assert r.status_code == 422, r.text
        assert "notifications" in r.json()["field"]
        # Admins only.
        r = await client.get(
            "/api/v1/templates/recovery", headers={"Authorization": f"Bearer {reader}"}
        )
        assert r.status_code == 403
