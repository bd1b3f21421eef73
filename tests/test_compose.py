"""The production-like topology (DESIGN §10): docker-compose.yml is valid and keeps its shape.

No Docker engine is needed: `docker-compose config` only parses, validates and resolves the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from scripts.devstack.devserver import cli_type, search_attribute_flags
from workflows.search_attributes import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
EXPECTED_SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-setup",
    "temporal-ui",
    "api",
    "worker",
    "inbound-smtp",
    "mailcatcher",
}


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        message = "docker-compose is not installed (Debian: apt-get install -y docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return exe


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: the file's own defaults, not the caller's SECRET_KEY etc.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _config() -> dict[str, Any]:
    done = _compose("config")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert isinstance(config, dict)
    return config


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs, from the short ("8233:8080") or the long syntax."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            published, target = str(port).rsplit(":", 2)[-2:]
            pairs.add((int(published), int(target.split("/")[0])))
    return pairs


def test_compose_file_is_valid() -> None:
    done = _compose("config", "-q")
    assert done.returncode == 0, done.stderr


def test_all_services_are_there() -> None:
    services = _config()["services"]
    assert set(services) >= EXPECTED_SERVICES


def test_workers_scale_out() -> None:
    worker = _config()["services"]["worker"]
    replicas = (worker.get("deploy") or {}).get("replicas") or worker.get("scale") or 1
    assert int(replicas) >= 2
    # Scaling needs anonymous containers and no fixed host ports.
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "worker.py" in " ".join(worker["command"])


def test_app_services_share_one_environment() -> None:
    services = _config()["services"]
    api, worker = _environment(services["api"]), _environment(services["worker"])
    assert api == worker
    assert api["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgresql:5432/" in api["DATABASE_URL"]
    assert api["TEMPORAL_ADDRESS"] == "temporal:7233"
    # Mail goes to a service of this file.
    assert api["SMTP_HOST"] in services
    assert services[api["SMTP_HOST"]]["image"].startswith("axllent/mailpit")
    assert api["SMTP_PORT"] == "1025"
    assert (8000, 8000) in _ports(services["api"])
    assert (8025, 8025) in _ports(services[api["SMTP_HOST"]])


def test_api_migrates_before_serving_and_waits_for_its_dependencies() -> None:
    services = _config()["services"]
    api = services["api"]
    command = " ".join(api["command"]) if isinstance(api["command"], list) else api["command"]
    assert command.index("cli migrate") < command.index("uvicorn api:app")
    assert "healthcheck" in api
    # Healthy means ready (database and Temporal reachable), which the worker waits for.
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    deps = _depends_on(api)
    assert deps["postgresql"] == "service_healthy"
    assert deps["temporal-setup"] == "service_completed_successfully"
    worker_deps = _depends_on(services["worker"])
    assert worker_deps["temporal-setup"] == "service_completed_successfully"


def test_temporal_persists_in_postgresql() -> None:
    services = _config()["services"]
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/server:")
    env = _environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert (env["DBNAME"], env["VISIBILITY_DBNAME"]) == ("temporal", "temporal_visibility")
    assert {"POSTGRES_USER", "POSTGRES_PWD"} <= set(env)
    deps = _depends_on(temporal)
    assert deps["postgresql"] == "service_healthy"
    assert deps["temporal-schema"] == "service_completed_successfully"
    assert "healthcheck" in temporal
    assert "healthcheck" in services["postgresql"]
    assert services["postgresql"]["image"].startswith("postgres:16")
    ui = services["temporal-ui"]
    assert _environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert _depends_on(ui)["temporal"] == "service_healthy"
    assert (8233, 8080) in _ports(ui)


def test_no_deprecated_auto_setup_image() -> None:
    images = {name: s.get("image", "") for name, s in _config()["services"].items()}
    assert not [name for name, image in images.items() if "auto-setup" in image]
    # Server and admin tools come from one release.
    tag = images["temporal"].split(":", 1)[1]
    assert images["temporal-schema"] == images["temporal-setup"] == f"temporalio/admin-tools:{tag}"


def _script(service: dict[str, Any]) -> str:
    """The one-shot's shell script, as the container's shell gets it (compose un-doubles $$)."""
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    command = service["command"]
    script = command[0] if isinstance(command, list) else command
    return str(script).replace("$$", "$")


def test_temporal_schema_sets_up_both_databases_once() -> None:
    schema = _config()["services"]["temporal-schema"]
    script = _script(schema)
    assert "temporal-sql-tool --plugin postgres12 --ep postgresql" in script
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script
    assert "temporal:temporal temporal_visibility:visibility" in script
    assert "/etc/temporal/schema/postgresql/v12" in script
    assert _depends_on(schema)["postgresql"] == "service_healthy"
    assert str(schema.get("restart", "no")) == "no"
    done = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_temporal_setup_registers_the_search_attributes() -> None:
    """The admin-tools one-shot registers exactly the search attributes the code defines."""
    setup = _config()["services"]["temporal-setup"]
    env = _environment(setup)
    pairs = dict(pair.split("=") for pair in env["SEARCH_ATTRIBUTES"].split())
    assert pairs == {key.name: cli_type(key) for key in SEARCH_ATTRIBUTES}
    assert list(pairs) == [key.name for key in SEARCH_ATTRIBUTES]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233" and env["NAMESPACE"] == "default"
    assert _depends_on(setup)["temporal"] == "service_healthy"
    assert str(setup.get("restart", "no")) == "no"


async def test_the_setup_script_works_on_a_real_server(dev_env: Any) -> None:
    """temporal-setup's own script, run with the same `temporal` CLI against the dev server,
    creates a namespace and its search attributes, and a second run changes nothing."""
    import asyncio
    import uuid

    setup = _config()["services"]["temporal-setup"]
    namespace = f"compose-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        **_environment(setup),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "NAMESPACE": namespace,
    }
    run = ["sh", "-c", _script(setup)]
    for _ in range(2):
        done = await asyncio.to_thread(
            subprocess.run, run, env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"namespace {namespace} and its search attributes are registered" in done.stdout
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert {k: v for k, v in listed.custom_attributes.items() if k.startswith("Case")} == {
        key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES
    }


def test_app_services_get_the_operability_settings() -> None:
    services = _config()["services"]
    env = _environment(services["api"])
    assert env["LOG_FORMAT"] == "json"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""  # tracing off unless a collector is named
    assert env["TEMPORAL_API_KEY"] == ""  # empty counts as unset (no TLS to the local server)
    host, port = env["WORKER_METRICS_ADDRESS"].rsplit(":", 1)
    assert host == "0.0.0.0" and port in [str(p) for p in services["worker"]["expose"]]
    assert not services["worker"].get("ports")  # metrics stay inside the network


def test_search_attribute_flags_come_from_the_workflow_keys() -> None:
    """`make run` derives the dev server's flags (and compose's setup) from the code."""
    flags = search_attribute_flags()
    pairs = flags[1::2]
    assert flags[0::2] == ["--search-attribute"] * len(SEARCH_ATTRIBUTES)
    assert [p.split("=")[0] for p in pairs] == [key.name for key in SEARCH_ATTRIBUTES]
    assert "CaseStatus=Keyword" in pairs
    assert "CaseOverdue=Bool" in pairs
    assert "CaseEscalationLevel=Int" in pairs
    assert "CaseResolveDue=Datetime" in pairs
