"""Webhooks out, end to end with a real worker and a real HTTP receiver: every delivery's
signature verified by the `standardwebhooks` library, retries until the receiver takes it,
410 Gone, the address guard, and the secret's rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.erasure import anonymise_expired
from activities.webhooks import WebhookActivities, WebhookAttempt, enqueue_erased
from core.settings import Settings
from services.audit import cli_actor
from services.configuration import apply_config
from services.tokens import create_client, revoke
from services.webhooks import WebhookError, check_url, create, rotate, update
from tests.factories import config, start_case
from tests.webhooks.conftest import (
    Receiver,
    delivery_rows,
    settled,
    subscription,
    worker_and_dispatcher,
)


@pytest.fixture
def crm(engine: Engine, hook_settings: Settings, receiver: Receiver) -> tuple[int, str]:
    """A service client subscribed to every case event at the receiver: (id, secret)."""
    apply_config(engine, config())
    client = create_client(engine, "crm", ["webhooks:manage", "cases:read"]).client
    made = create(
        engine,
        hook_settings,
        client,
        receiver.url,
        ["opened", "closed", "status_changed", "erased"],
        cli_actor(),
    )
    assert made.secret.startswith("whsec_")
    assert made.subscription.id is not None
    stored = subscription(engine, made.subscription.id).secret  # sealed: a copy cannot sign
    assert stored.startswith("sealed:") and made.secret not in stored
    return made.subscription.id, made.secret


async def test_a_receiver_failing_five_times_gets_one_delivery(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    hook_settings: Settings,
    receiver: Receiver,
    crm: tuple[int, str],
) -> None:
    _, secret = crm
    receiver.answer(500, 503, 500, 404, 500)
    async with worker_and_dispatcher(ts_env, engine, hook_settings):
        await start_case(ts_env, engine, hook_settings, "C-000001")
        [row] = await settled(engine, "opened")
    assert row.status == "delivered" and row.attempts == 6 and row.http_status == 200
    assert row.latency_ms is not None and row.next_attempt_at is None
    hits = receiver.of("opened")
    assert len(hits) == 6 and len({h.headers["webhook-id"] for h in hits}) == 1
    for hit in hits:  # every attempt is signed with the subscription's secret
        payload = Webhook(secret).verify(hit.body, hit.headers)
        assert payload["type"] == "case.opened"
        assert payload["data"]["case_id"] == "C-000001"
    # Nothing personal in the body: the factories' customer's name is not there.
    assert b"Kari" not in hits[-1].body and b"@" not in hits[-1].body
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(hits[-1].body, hits[-1].headers)


async def test_410_gone_disables_the_subscription(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    hook_settings: Settings,
    receiver: Receiver,
    crm: tuple[int, str],
) -> None:
    sub_id, _ = crm
    receiver.answer(410)
    async with worker_and_dispatcher(ts_env, engine, hook_settings):
        await start_case(ts_env, engine, hook_settings, "C-000001")
        [row] = await settled(engine, "opened")
    assert row.status == "failed" and row.http_status == 410 and row.attempts == 1
    sub = subscription(engine, sub_id)
    assert sub.enabled is False and "410" in sub.disabled_reason
    assert len(receiver.hits) == 1


async def test_a_loopback_target_is_refused_unless_allowed(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    hook_settings: Settings,
    receiver: Receiver,
    crm: tuple[int, str],
) -> None:
    strict = hook_settings.model_copy(update={"webhook_allow_private": False})
    with pytest.raises(WebhookError, match="loopback"):
        check_url(receiver.url, strict)
    for url in ("http://10.0.0.8/x", "http://[::1]:80/", "http://169.254.169.254/latest"):
        with pytest.raises(WebhookError, match="refused target"):
            check_url(url, strict)
    # An allow-list lets one network through, and no other.
    listed = strict.model_copy(update={"webhook_allow_networks": ["127.0.0.0/8"]})
    assert check_url(receiver.url, listed) == receiver.url
    with pytest.raises(WebhookError):
        check_url("http://10.0.0.8/x", listed)
    # At delivery time every address the host resolves to is checked again.
    async with worker_and_dispatcher(ts_env, engine, strict):
        await start_case(ts_env, engine, strict, "C-000001")
        [row] = await settled(engine, "opened")
    assert row.status == "refused" and "loopback" in row.last_error
    assert receiver.hits == []


async def test_redirects_are_not_followed(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    hook_settings: Settings,
    receiver: Receiver,
    crm: tuple[int, str],
) -> None:
    receiver.answer(302)
    async with worker_and_dispatcher(ts_env, engine, hook_settings):
        await start_case(ts_env, engine, hook_settings, "C-000001")
        [row] = await settled(engine, "opened")
    assert row.status == "refused" and row.http_status == 302
    assert len(receiver.hits) == 1


async def test_during_a_rotation_either_secret_verifies(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    hook_settings: Settings,
    receiver: Receiver,
    crm: tuple[int, str],
) -> None:
    sub_id, old = crm
    new = rotate(engine, hook_settings, None, sub_id, 3600, cli_actor()).secret
    assert new != old
    async with worker_and_dispatcher(ts_env, engine, hook_settings):
        await start_case(ts_env, engine, hook_settings, "C-000001")
        await settled(engine, "opened")
        [hit] = receiver.of("opened")
        assert len(hit.headers["webhook-signature"].split(" ")) == 2
        Webhook(old).verify(hit.body, hit.headers)
        Webhook(new).verify(hit.body, hit.headers)
        # A rotation without overlap: the old secret no longer signs.
        newest = rotate(engine, hook_settings, None, sub_id, 0, cli_actor()).secret
        await start_case(ts_env, engine, hook_settings, "C-000002")
        await settled(engine, "opened", count=2)
    hit = receiver.of("opened")[-1]
    Webhook(newest).verify(hit.body, hit.headers)
    for secret in (old, new):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(hit.body, hit.headers)


def test_erased_carries_no_personal_data(engine: Engine, crm: tuple[int, str]) -> None:
    with Session(engine) as session:
        enqueue_erased(session.connection(), [("C-000009", "recovery", "4723")])
        enqueue_erased(session.connection(), [("C-000009", "recovery", "4723")])  # a retry
        session.commit()
    [row] = delivery_rows(engine, "erased")
    assert row.payload["type"] == "case.erased"
    assert set(row.payload["data"]) == {"case_id", "event"}


def test_retention_tells_erased_once_to_clients_that_see_the_case(
    engine: Engine, hook_settings: Settings, tmp_path: Path
) -> None:
    """The erasure's transaction writes the `erased` rows: one per subscriber that wants it
    and may read the case's program, none on a second run."""
    from tests.test_retention import _seed_cases

    _seed_cases(engine)
    wants = create_client(engine, "crm", ["webhooks:manage"]).client
    elsewhere = create_client(engine, "other", ["webhooks:manage"], programs=["central"]).client
    not_asked = create_client(engine, "quiet", ["webhooks:manage"]).client
    for client, events in ((wants, ["erased"]), (elsewhere, ["erased"]), (not_asked, ["opened"])):
        create(engine, hook_settings, client, "https://crm.example.com/x", events, cli_actor())
    assert anonymise_expired(engine, tmp_path, datetime.now(UTC), 200).anonymised == 1
    assert anonymise_expired(engine, tmp_path, datetime.now(UTC), 200).anonymised == 0
    [row] = delivery_rows(engine, "erased")
    assert row.case_id == "C-000001" and row.subscription_id == 1
    assert row.payload["data"] == {"case_id": "C-000001", "event": "erased"}


def test_a_revoked_client_hears_nothing_more(
    engine: Engine, hook_settings: Settings, receiver: Receiver, crm: tuple[int, str]
) -> None:
    with Session(engine) as session:
        enqueue_erased(session.connection(), [("C-000009", "recovery", "4723")])
        session.commit()
    [row] = delivery_rows(engine, "erased")
    assert row.id is not None
    revoke(engine, "crm")
    result = WebhookActivities(engine, hook_settings).send(WebhookAttempt(row.id))
    assert result == "failed" and receiver.hits == []
    [row] = delivery_rows(engine, "erased")
    assert row.status == "failed" and "revoked" in row.last_error


async def test_when_the_retries_run_out_the_row_says_failed(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    hook_settings: Settings,
    receiver: Receiver,
    crm: tuple[int, str],
) -> None:
    """The retry window (3 days in production) here a second: the row ends `failed`, with no
    next attempt, to be redelivered by hand."""
    receiver.answer(*[500] * 1000)
    short = hook_settings.model_copy(update={"webhook_retry_for_seconds": 1.0})
    async with worker_and_dispatcher(ts_env, engine, short):
        await start_case(ts_env, engine, short, "C-000001")
        [row] = await settled(engine, "opened")
    assert row.status == "failed" and row.next_attempt_at is None
    # The time-skipping server may end the window before any attempt, or during one (whose
    # answer then changes the settled row no more).
    assert len(receiver.of("opened")) >= row.attempts and row.http_status in (500, None)


def test_a_host_that_does_not_resolve_is_tried_again(
    engine: Engine, hook_settings: Settings, crm: tuple[int, str]
) -> None:
    """No address now may be a DNS outage: the attempt is recorded and retried, not refused."""
    sub_id, _ = crm
    update(engine, hook_settings, None, sub_id, cli_actor(), url="https://hooks.example.invalid/")
    with Session(engine) as session:
        enqueue_erased(session.connection(), [("C-000009", "recovery", "4723")])
        session.commit()
    [row] = delivery_rows(engine, "erased")
    assert row.id is not None
    with pytest.raises(ApplicationError):
        WebhookActivities(engine, hook_settings).send(WebhookAttempt(row.id, 30.0), attempt=2)
    [row] = delivery_rows(engine, "erased")
    assert row.status == "pending" and row.attempts == 1 and "resolve" in row.last_error
    assert row.next_attempt_at is not None
