"""Prometheus metrics of the issuer: requests, latency, outcomes by code, signing runway.

What is counted is operational and aggregate: requests by route pattern,
method and status; latency by route; the outcome code of each issuance,
verification and token request; and how many seconds of signing the keys
generated so far still cover. Never a label from the request itself (no
path, audience, verifier, method of age check or age fact): the route is the
URL rule's pattern and an outcome is one of the stable error codes.
Issuance counts by method and age fact are published, suppressed, at
``/v1/stats`` only; live counters of them would undo that suppression.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (prepared by
:func:`ageverify.cli.prepare_metrics_folder` before prometheus_client is first
imported, which fixes the mode) makes every worker write its samples to files
there, so that one scrape, whichever worker answers it, reports the whole
instance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from ageverify.web.envelope import current_request, request_globals

# prometheus_client chose its mode when first imported (just above): read the
# same variable now, not at each scrape, so that a later change of the
# environment cannot make a scrape read files no worker writes.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

REQUESTS = Counter(
    "ageverify_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "http_method", "status"],
)
LATENCY = Histogram(
    "ageverify_http_request_duration_seconds",
    "Time from the request's start to its response, by route pattern.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTCOMES = Counter(
    "ageverify_outcomes",
    "Issuance, verification and token requests by outcome: ok, or the error code.",
    ["operation", "outcome"],
)

# endpoint -> operation whose outcome is counted.
OPERATIONS = {
    "issuance.issue_credentials": "issuance",
    "verification.verify_presentation": "verification",
    "privacypass.token_request": "token_request",
}


def start_request() -> None:
    """Note when the request started (a ``before_app_request`` hook)."""
    request_globals().metrics_started = time.perf_counter()


# Labelled children by label values, so that a response costs a dict lookup
# instead of a labels() call per metric. Bounded: a method name is the
# client's text on an unmatched route.
_CHILDREN_LIMIT = 512
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_outcome_children: dict[tuple[str, str], Any] = {}


def observe_response(response: Response) -> Response:
    """Count ``response`` and time its request (an ``after_app_request`` hook)."""
    served, state = current_request(), request_globals()
    rule = served.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    method = served.method
    key = (route, method, response.status_code)
    children = _request_children.get(key)
    if children is None:
        children = (
            REQUESTS.labels(route, method, str(response.status_code)),
            LATENCY.labels(route),
        )
        if len(_request_children) < _CHILDREN_LIMIT:
            _request_children[key] = children
    requests, latency = children
    requests.inc()
    started = state.get("metrics_started")
    if started is not None:
        latency.observe(time.perf_counter() - started)
    operation = OPERATIONS.get(served.endpoint or "")
    if operation is not None:
        outcome = (operation, state.get("error_code", "ok"))
        counter = _outcome_children.get(outcome)
        if counter is None:
            counter = OUTCOMES.labels(*outcome)
            if len(_outcome_children) < _CHILDREN_LIMIT:
                _outcome_children[outcome] = counter
        counter.inc()
    return response


class _Scrape:
    """The collectors of one scrape: this instance's samples plus gauges computed now."""

    def __init__(self, *sources: Callable[[], Iterable[Metric]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source()


def exposition(signing_until: int | None, now: float) -> Response:
    """The Prometheus text exposition; ``signing_until`` is the end of the last signing epoch."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        samples = registry.collect
    else:
        samples = REGISTRY.collect

    def runway() -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "ageverify_signing_key_seconds_left",
            "Seconds until the last credential signing key generated so far stops signing "
            "(0: none can sign); run `ageverify keys generate-ahead` well before it reaches 0.",
        )
        gauge.add_metric([], max(0.0, (signing_until or now) - now))
        yield gauge

    body = generate_latest(_Scrape(samples, runway))  # type: ignore[arg-type]
    return Response(
        body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST
    )


# --- gunicorn hooks (see server_options in ageverify/cli.py) -------------------


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live gauges (its counters stay counted)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
