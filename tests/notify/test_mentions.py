"""@mentions in notes (issue 18), against the running app on Temporal's time-skipping server,
with the real worker and the aiosmtpd sink: the person mentioned is told (a notice and an
email) and may open the case; someone outside the case's program is not let in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.case import CaseEvent, CaseWatcher, Notice
from models.db import make_engine
from services.configuration import apply_config
from tests.conftest import sqlite_db
from tests.factories import config_with_passwords, running_worker
from tests.live import ServerThread, csrf_of, free_port, log_in
from tests.notify.conftest import SmtpSink, make_settings, open_test_case

PASSWORD = "correct horse battery"


@dataclass
class Live:
    base_url: str
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    smtp: SmtpSink


@pytest.fixture(scope="module")
async def live(
    ts_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    from api import create_app

    tmp = tmp_path_factory.mktemp("mentions")
    url = sqlite_db(tmp)
    engine = make_engine(url)
    apply_config(engine, config_with_passwords(PASSWORD))
    smtp = SmtpSink(free_port())
    smtp.start()
    port = free_port()
    settings = make_settings(
        tmp,
        url,
        temporal_address=ts_env.client.service_client.config.target_host,
        temporal_namespace=ts_env.client.namespace,
        public_base_url=f"http://127.0.0.1:{port}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        mail_from="Guest Recovery <care@example.com>",
    )
    server = ServerThread(create_app(settings, engine=engine), port)
    async with running_worker(ts_env.client, engine, settings):
        await asyncio.to_thread(server.start)
        try:
            yield Live(f"http://127.0.0.1:{port}", ts_env, engine, settings, smtp)
        finally:
            await asyncio.to_thread(server.stop)
    smtp.stop()
    engine.dispose()


async def signed_in(live: Live, user: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=live.base_url, timeout=30)
    await log_in(client, user, PASSWORD)
    return client


def kinds(engine: Engine, case_id: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(CaseEvent.kind)
                .where(CaseEvent.case_id == case_id)
                .order_by(col(CaseEvent.seq))
            ).all()
        )


async def test_a_mention_tells_the_person_and_lets_them_read_the_case(live: Live) -> None:
    case_id = await open_test_case(live.env, live.engine, live.settings)
    dora, alex = await signed_in(live, "dora"), await signed_in(live, "alex")
    try:
        # Neither sees the case yet (Dora works in the program, Alex does not).
        assert (await dora.get(f"/cases/{case_id}")).status_code == 404
        assert (await alex.get(f"/cases/{case_id}")).status_code == 404
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as ole:
            await log_in(ole, "ole", PASSWORD)
            token = csrf_of((await ole.get(f"/cases/{case_id}")).text)
            r = await ole.post(
                f"/cases/{case_id}/notes",
                data={
                    "csrf_token": token,
                    "text": "@dora can you approve a refund? (@alex FYI)",
                },
            )
            assert r.status_code == 303, r.text
            page = await ole.get(f"/cases/{case_id}")
        # The author is told Alex cannot see the program; the mention of Alex stays text.
        assert "Alex Agent cannot see this program" in page.text
        assert "Mentioned Dora Director" in page.text

        [mail] = await live.smtp.wait_for(rf"mentioned you on case {case_id}")
        assert mail.rcpt_tos == ["dora@example.com"]
        assert mail.subject == f"Ole Owner mentioned you on case {case_id}"
        assert "can you approve a refund?" in mail.part("plain")

        with Session(live.engine) as s:
            notices = s.exec(select(Notice).where(col(Notice.case_id) == case_id)).all()
            watchers = {
                w.user_id: w.access
                for w in s.exec(select(CaseWatcher).where(col(CaseWatcher.case_id) == case_id))
            }
        assert [(n.user_id, n.kind) for n in notices if n.kind == "mention"] == [
            ("dora", "mention")
        ]
        assert watchers.get("dora") == "limited" and "alex" not in watchers

        # Dora can now open the case (read only); Alex still cannot.
        r = await dora.get(f"/cases/{case_id}")
        assert r.status_code == 200
        assert "read-only watcher" in r.text
        assert (await alex.get(f"/cases/{case_id}")).status_code == 404
        assert not [m for m in live.smtp.messages if "alex@example.com" in m.rcpt_tos]
        assert kinds(live.engine, case_id).count("mentioned") == 1
    finally:
        await dora.aclose()
        await alex.aclose()
