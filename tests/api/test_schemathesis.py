"""schemathesis against the app's own OpenAPI document: every operation, 100 examples each,
then stateful scenarios along the links schemathesis infers between the operations.

The app runs with a real worker (in its own process) on Temporal's time-skipping server and
SQLite, seeded with the demo configuration (config/demo.yaml, which the OpenAPI examples use).
Requests carry an admin token, so every operation is reached; the checks include the ones that
re-send a request without its token. A 5xx or any response that contradicts the schema fails.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, seed, settings
from schemathesis.config import SchemathesisConfig
from temporalio.testing import WorkflowEnvironment

from api import create_app
from core.settings import ROOT, Settings
from core.temporal import data_converter, ensure_search_attributes
from models.db import make_engine
from services.config_file import load_config_file
from services.configuration import apply_config
from services.tokens import create_client, generate_token
from tests.conftest import binary, migrate
from workflows.search_attributes import SEARCH_ATTRIBUTES

# An admin token made for this run; schemathesis sends it (and knows when it leaves it out).
TOKEN = generate_token()
CONFIG = SchemathesisConfig.from_dict(
    {
        "auth": {"openapi": {"apiToken": {"bearer": TOKEN}}},
        "checks": {
            # Well-formed input that names an unknown program, unit or question is a 422 by
            # design (the error contract), so "valid data" may be refused with it.
            "positive_data_acceptance": {
                # 412/428: a config write without (or with a stale) If-Match, by design.
                "expected-statuses": ["2xx", "401", "403", "404", "409", "412", "413", "422", "428"]
            },
        },
    }
)

# The document is read from the app's own /openapi.json at collection time; that app needs no
# Temporal or database (placeholders), the calls go to the live app of the `live` fixture.
_doc_app = create_app(
    Settings(public_base_url="http://testserver", bootstrap_token=None),
    temporal=object(),  # type: ignore[arg-type]
    engine=make_engine("sqlite://"),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _doc_app, config=CONFIG)


@dataclass
class Live:
    app: Any


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The time-skipping server runs on an event loop in a thread (schemathesis's ASGI client
    calls the app synchronously from its own loop); the worker runs in its own process."""
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{tmp / 'caseloop.db'}"
    migrate(url)
    engine = make_engine(url)
    apply_config(engine, load_config_file(ROOT / "config" / "demo.yaml"))
    create_client(engine, "schemathesis", ["admin"], token=TOKEN)
    cfg = Settings(
        database_url=url,
        task_queue=f"schemathesis-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp / "uploads",
        public_base_url="http://testserver",
    )
    server = binary("temporal-test-server")
    started: Future[tuple[WorkflowEnvironment, asyncio.AbstractEventLoop, asyncio.Event]] = Future()

    def run() -> None:
        async def main() -> None:
            env = await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=server, data_converter=data_converter(Settings())
            )
            try:
                await ensure_search_attributes(env.client, env.client.namespace, SEARCH_ATTRIBUTES)
                stop = asyncio.Event()
                started.set_result((env, asyncio.get_running_loop(), stop))
                await stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise
            finally:
                await env.shutdown()

        asyncio.run(main())

    thread = threading.Thread(target=run, name="temporal-server", daemon=True)
    thread.start()
    env, loop, stop = started.result(timeout=120)
    address = env.client.service_client.config.target_host
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.api.worker_process", address, url, cfg.task_queue],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "worker ready"
        yield Live(create_app(cfg, temporal=env.client, engine=engine))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        engine.dispose()


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case, live: Live) -> None:
    case.call_and_validate(app=live.app)


# The stateful run: schemathesis follows the links it infers between operations (a case made by
# POST /cases is read, noted, closed ...), from a fixed seed, bounded to keep the suite quick.
STATEFUL_SEED = 20261202
STATEFUL_SCENARIOS = 40
STATEFUL_STEPS = 12


def test_stateful_scenarios_never_answer_5xx(live: Live) -> None:
    called: dict[str, int] = {}

    @seed(STATEFUL_SEED)
    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": live.app}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            label = f"{case.method} {case.path}"
            called[label] = called.get(label, 0) + 1

    Scenarios.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    print(f"{sum(called.values())} calls over {len(called)} operations: {sorted(called.items())}")
