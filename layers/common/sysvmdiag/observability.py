"""Logger, Metrics and Tracer shared by the library and the handlers (one service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sysvmdiag.tracing_off import NoTracing

SERVICE = "sysvmdiag"
NAMESPACE = "SysVmDiag"


def _tracer() -> Tracer:
    """A Tracer that loads the X-Ray SDK only where traces go somewhere.

    powertools' Tracer imports ``aws_xray_sdk.core`` (botocore's docs, wrapt: ~100 ms of a cold start)
    even when tracing is off. Where powertools' own rule says it is off (outside Lambda, under SAM
    local, or ``POWERTOOLS_TRACE_DISABLED``), a provider that records nothing stands in.
    """
    if Tracer._is_tracer_disabled():  # powertools' rule, kept in one place: the library's
        return Tracer(service=SERVICE, disabled=True, provider=NoTracing())
    return Tracer(service=SERVICE)


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = _tracer()


def count_by(name: str, dimension: str, value: str) -> None:
    """One count of ``name`` with its own dimension (e.g. Denials by reason), flushed at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name=dimension, value=value)
