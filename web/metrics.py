"""The app's Prometheus metrics at /metrics (prometheus-client), one registry per app.

- `caseloop_http_request_duration_seconds{method,route,status}`: latency by route *template*
  (bounded label values; an unmatched path counts as "unmatched").
- `caseloop_intake_requests_total{outcome}`: POST /api/v1/cases answered opened (201),
  duplicate (200: same external_ref or Idempotency-Key), rejected (4xx) or failed (5xx).
- `caseloop_outbox_unsent{status}` and `caseloop_outbox_oldest_unsent_age_seconds`: mail not
  sent yet, counted at scrape time (indexed on status).
- `caseloop_projection_pending_cases` and `caseloop_projection_oldest_pending_age_seconds`:
  cases opened in the last 24 h whose read-model row is still at version 0, i.e. the workflow
  has not projected them yet; normal is 0 within seconds (indexed on created_at).
- `caseloop_live_streams`: open live-update streams (GET /events) of this process, about one per
  signed-in browser (its tabs share one).
- `caseloop_read_model_up`: 0 while the database cannot be read (the read-model figures are
  then left out; the HTTP metrics, 503s among them, are still served).

Who may scrape: a peer in METRICS_ALLOW_NETWORKS (loopback by default) that came straight to us
(no X-Forwarded-For/Forwarded header: a reverse proxy on the same host does not make a visitor
local), or anyone with an `admin` or `metrics:read` API token.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from core.threads import in_thread
from domain.vocabulary import OutboxStatus
from models.case import Case, Outbox
from services.outages import outage_of
from services.tokens import allows
from web.api_auth import api_client, bearer
from web.problems import Problem
from web.request_context import route_template, wrap_outermost

UNSENT = (OutboxStatus.PENDING, OutboxStatus.FAILED)
PROJECTION_WINDOW = timedelta(hours=24)
INTAKE_ROUTE = "/api/v1/cases"
# Label values stay a small set whatever a client sends.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ReadModelCollector(Collector):
    """Outbox backlog and projection lag, queried when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        try:
            with self.engine.connect() as conn:
                outbox = conn.execute(
                    select(col(Outbox.status), func.count(), func.min(Outbox.created_at))
                    .where(col(Outbox.status).in_(UNSENT))
                    .group_by(Outbox.status)
                ).all()
                pending, oldest_case = conn.execute(
                    select(func.count(), func.min(Case.created_at)).where(
                        col(Case.created_at) >= now - PROJECTION_WINDOW, col(Case.version) == 0
                    )
                ).one()
        except Exception as exc:
            if outage_of(exc) is None:
                raise
            # The HTTP metrics (the 503s among them) matter most during an outage: still served.
            yield _read_model_up(0)
            return
        yield _read_model_up(1)
        unsent = GaugeMetricFamily(
            "caseloop_outbox_unsent", "Outbox rows not sent yet", labels=["status"]
        )
        counts: dict[str, int] = {status: 0 for status in UNSENT}
        oldest: datetime | None = None
        for status, count, created in outbox:
            counts[status] = count
            oldest = created if oldest is None or (created and created < oldest) else oldest
        for status, count in counts.items():
            unsent.add_metric([status], count)
        yield unsent
        yield GaugeMetricFamily(
            "caseloop_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unsent outbox row (0: none)",
            value=_age(now, oldest),
        )
        yield GaugeMetricFamily(
            "caseloop_projection_pending_cases",
            "Cases opened in the last 24 h not yet projected by their workflow (version 0)",
            value=pending,
        )
        yield GaugeMetricFamily(
            "caseloop_projection_oldest_pending_age_seconds",
            "Age of the oldest such case (0: none)",
            value=_age(now, oldest_case),
        )


class LiveCollector(Collector):
    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        feed = getattr(self.state, "live", None)  # made in the lifespan
        yield GaugeMetricFamily(
            "caseloop_live_streams",
            "Open live-update streams (GET /events) in this process",
            value=feed.streams if feed is not None else 0,
        )


def _read_model_up(value: int) -> Metric:
    return GaugeMetricFamily(
        "caseloop_read_model_up",
        "1 if the read-model figures could be read (0: database down)",
        value=value,
    )


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


class AppMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "caseloop_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.intake = Counter(
            "caseloop_intake_requests",
            "Intake requests (POST /api/v1/cases) by outcome",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("opened", "duplicate", "rejected", "failed"):
            self.intake.labels(outcome)


def _intake_outcome(status: int) -> str:
    if status == 201:
        return "opened"
    if status < 300:
        return "duplicate"
    return "rejected" if status < 500 else "failed"


class HttpMetrics:
    """Times every HTTP request from its start to the end of its answer."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            route = route_template(scope) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.latency.labels(method, route, str(status)).observe(
                time.perf_counter() - started
            )
            if method == "POST" and route == INTAKE_ROUTE:
                self.metrics.intake.labels(_intake_outcome(status)).inc()


def _networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    parts = [p.strip() for p in settings.metrics_allow_networks.split(",")]
    return [ipaddress.ip_network(p, strict=False) for p in parts if p]


def _direct_from(
    request: Request, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def install(app: FastAPI, settings: Settings) -> AppMetrics:
    metrics = AppMetrics()
    app.state.metrics = metrics
    metrics.registry.register(LiveCollector(app.state))
    networks = _networks(settings)
    wrap_outermost(app, lambda inner: HttpMetrics(inner, metrics))
    read_model: list[ReadModelCollector] = []

    @app.get("/metrics", include_in_schema=False)
    async def scrape(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Response:
        if not _direct_from(request, networks):
            client = await api_client(request, credentials)
            if not allows(list(client.scopes or []), "metrics:read"):
                raise Problem(
                    403,
                    "Insufficient scope",
                    "Reading /metrics needs a token with the 'metrics:read' scope",
                    field="Authorization",
                    required_scope="metrics:read",
                )
        if not read_model:  # the engine exists once the lifespan ran
            read_model.append(ReadModelCollector(request.app.state.engine))
            metrics.registry.register(read_model[0])
        body = await in_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
