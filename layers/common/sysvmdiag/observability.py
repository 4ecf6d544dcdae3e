"""Logger, Metrics and Tracer shared by the library and the handlers (one service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "sysvmdiag"
NAMESPACE = "SysVmDiag"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
