"""One place for Powertools logging, metrics and tracing; every module imports from here.

- `logger`: JSON lines with the request id and the correlation id of the flow (bound per thread with
  `bind(...)`), scrubbed of e-mail addresses, phone numbers, card numbers and API keys.
- `metrics` / `emit(...)`: EMF metrics in the `peerguard` namespace, named only from the catalogue
  (chalicelib/metrics_catalogue.py); `flush()` writes what a request or a batch collected.
- Tracing: Lambda's active tracing ("xray": true per stage in .chalice/config.json) records every
  invocation, its duration and cold start, under the API Gateway and SQS segments; there is no X-Ray SDK
  in the package (it brought botocore, 17 MB zipped). docs/scaling.md says what that trades away.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from logging import LogRecord
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from chalicelib.config import powertools_defaults
from chalicelib.metrics_catalogue import CATALOGUE

SERVICE = "peerguard"
NAMESPACE = "peerguard"

powertools_defaults(service=SERVICE, namespace=NAMESPACE)

# --- logs without PII or secrets ------------------------------------------------------------------

# A safety net behind the rule "log ids, never content": whatever reaches a log line is scrubbed.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"pgk_[0-9a-f]{12}_[A-Za-z0-9_-]+"), "[api-key]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [secret]"),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]+"), "[api-key]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"), "[ssn]"),
    (re.compile(r"(?<![\w-])(?:\d{4}[ -]){3}\d{1,7}(?![\w-])"), "[card]"),
    (re.compile(r"(?<![\w+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]\d{3,4}[ .-]\d{3,4}(?![\w-])"),
     "[phone]"),
)


def scrub(text: str) -> str:
    """`text` with e-mail addresses, phone/card/SSN numbers and keys replaced by placeholders."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter whose output line is scrubbed (message, extra keys and tracebacks)."""

    def serialize(self, log: dict[str, Any] | LogRecord) -> str:  # type: ignore[override]
        return scrub(super().serialize(log))  # type: ignore[arg-type]


logger = Logger(service=SERVICE, logger_formatter=ScrubbingFormatter())


@contextmanager
def bind(**keys: str) -> Iterator[None]:
    """Add keys (request_id, correlation_id, job, ...) to every log line of this thread meanwhile."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(keys))


def correlation_id() -> str | None:
    """The correlation id of the flow this thread serves (an API request or a queue message), if any."""
    value = logger.thread_safe_get_current_keys().get("correlation_id") or logger.get_current_keys().get(
        "correlation_id"
    )
    return str(value) if value else None


# --- metrics through the catalogue ----------------------------------------------------------------


class CataloguedMetrics(Metrics):
    """Powertools metrics that accept only catalogued names, with the catalogued unit, plus metrics
    with their own dimensions (`emit(name, Path="peer")`), buffered and written on flush.

    An unknown name is still published (a metric is never worth an outage) but logged as a defect;
    tests/unit/test_metrics_catalogue.py fails the build on it long before.
    """

    MAX_VALUES = 100  # EMF: at most 100 values per metric in one document

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dimensioned: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        self._dimensioned_lock = threading.Lock()
        # The metric set is shared by the threads of a process (the local server's consumers): one
        # flush at a time, and every document written as one line in one write, never interleaved.
        self._flush_lock = threading.RLock()

    def add_metric(self, name: str, unit: Any, value: float, resolution: Any = 60) -> None:
        definition = CATALOGUE.get(name)
        if definition is None:
            logger.warning("metric is not in the catalogue", extra={"metric": name})
        elif definition.dimensions:
            logger.warning("metric needs dimensions: use emit()", extra={"metric": name})
        if is_metrics_disabled():  # Powertools' own overflow flush (100 values) would print regardless
            return
        with self._flush_lock:
            held = self.metric_set.get(name)
            full = len(held["Value"]) >= self.MAX_VALUES - 1 if held else len(self.metric_set) >= self.MAX_VALUES - 1
            super().add_metric(name=name, unit=definition.unit if definition else unit, value=value,
                               resolution=resolution)
        if full:  # flushed here, in one write, before Powertools' own overflow print would split the line
            self.flush_metrics()

    def add_dimensioned(self, name: str, value: float, dimensions: dict[str, str]) -> None:
        if is_metrics_disabled():
            return
        key = (name, tuple(sorted(dimensions.items())))
        with self._dimensioned_lock:
            values = self._dimensioned.setdefault(key, [])
            values.append(value)
            full = len(values) >= self.MAX_VALUES
        if full:
            self._write_dimensioned()

    @property
    def pending(self) -> bool:
        return bool(self.metric_set) or bool(self._dimensioned)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        self._write_dimensioned()
        with self._flush_lock:
            if not self.metric_set:
                if raise_on_empty_metrics:
                    super().flush_metrics(raise_on_empty_metrics=True)
                return
            document = self.serialize_metric_set()
            self.clear_metrics()
        _write_line(document)

    def _write_dimensioned(self) -> None:
        with self._dimensioned_lock:
            batch, self._dimensioned = self._dimensioned, {}
        if not batch:
            return
        timestamp = int(time.time() * 1000)
        for (name, dimensions), values in batch.items():
            names = ["service", *(k for k, _ in dimensions)]
            document: dict[str, Any] = {
                "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE, "Dimensions": [names],
                    "Metrics": [{"Name": name, "Unit": CATALOGUE[name].unit}]}]},
                "service": SERVICE, **dict(dimensions), name: values,
            }
            _write_line(document)


def _write_line(document: Mapping[str, object]) -> None:
    """One EMF document, one line, one write: print() writes the text and the newline apart, and
    another thread's line can land between them."""
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")


metrics = CataloguedMetrics(namespace=NAMESPACE, service=SERVICE)


def emit(name: str, value: float = 1, **dimensions: str) -> None:
    """Record one catalogued metric (dimensions as the catalogue declares them); written on flush."""
    definition = CATALOGUE.get(name)
    if definition is None:
        raise KeyError(f"metric {name} is not in the catalogue")
    if set(dimensions) != set(definition.dimensions):
        raise ValueError(f"metric {name} takes dimensions {definition.dimensions}, got {tuple(dimensions)}")
    if not dimensions:
        metrics.add_metric(name=name, unit=definition.unit, value=value)
        return
    metrics.add_dimensioned(name, float(value), {k: (str(v)[:250] or "none") for k, v in dimensions.items()})


def flush() -> None:
    """Publish what was collected, if anything: end of a request, a batch or a job."""
    if metrics.pending:
        metrics.flush_metrics()
