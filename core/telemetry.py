"""Tracing (OpenTelemetry, off by default) and the Temporal runtime (Core logs, SDK metrics).

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set (spans go there over OTLP/HTTP) or when
the process already has an OpenTelemetry SDK tracer provider (`opentelemetry-instrument`, the
tests' in-memory exporter). Then the Temporal client and the workers made from it carry
`TracingInterceptor` (StartWorkflow, RunWorkflow, RunActivity spans; the context travels in
Temporal headers) and the FastAPI app is instrumented, so one trace runs from an HTTP request
through its workflow into the activities.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from core.redaction import redact
from core.settings import Settings

# Not traced: probes, scrapes and static files would drown the traces that matter.
UNTRACED_URLS = "/healthz,/readyz,/metrics,/static/"

_runtimes: dict[str, Runtime] = {}


def tracing_enabled(settings: Settings) -> bool:
    return bool(settings.otel_exporter_otlp_endpoint) or isinstance(
        trace.get_tracer_provider(), TracerProvider
    )


def setup_tracing(settings: Settings, service: str) -> None:
    """Export spans over OTLP/HTTP when an endpoint is configured (once per process)."""
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = (
        {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": f"caseloop-{service}"}
    )
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def temporal_interceptors(settings: Settings) -> list[Any]:
    """For the client; workers built from it inherit them."""
    if not tracing_enabled(settings):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def _without_query(span: Any, _scope: dict[str, Any]) -> None:
    """HTTP spans keep the path, not the query string (`?q=` searches hold customer names),
    and never a survey token."""
    if span is None or not span.is_recording():
        return
    for key, value in dict(getattr(span, "attributes", None) or {}).items():
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            clean = redact(value.split("?", 1)[0])
            if clean != value:
                span.set_attribute(key, clean)
    if "url.query" in (getattr(span, "attributes", None) or {}):
        span.set_attribute("url.query", "")


_URL_ATTRIBUTES = {"http.url", "http.target", "url.full", "url.path"}


def instrument_fastapi(app: Any, settings: Settings) -> None:
    if not tracing_enabled(settings):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=UNTRACED_URLS, server_request_hook=_without_query
    )


def temporal_runtime(metrics_address: str = "") -> Runtime:
    """One Temporal runtime per process (per metrics address): Core's own log lines go through
    Python logging (so they are JSON too), and with an address the SDK's metrics are served
    for Prometheus at http://ADDRESS/metrics."""
    runtime = _runtimes.get(metrics_address)
    if runtime is None:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                ),
                metrics=PrometheusConfig(bind_address=metrics_address) if metrics_address else None,
            )
        )
        _runtimes[metrics_address] = runtime
    return runtime
