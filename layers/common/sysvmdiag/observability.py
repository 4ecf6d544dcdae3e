"""Logger, Metrics and Tracer shared by the library and the handlers (one service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "sysvmdiag"
NAMESPACE = "SysVmDiag"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def count_by(name: str, dimension: str, value: str) -> None:
    """One count of ``name`` with its own dimension (e.g. Denials by reason), flushed at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name=dimension, value=value)
