"""Operations endpoints: liveness, readiness, metrics.

``/metrics`` exposes requests by status class, and nothing per person, per
platform or per verifier key. Issuance counts are not there on purpose: a
live counter per method and age fact would show each issuance as it happens
and undo the small-cell suppression of ``/v1/stats``, where auditors get them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify

from ageverify.errors import AgeVerifyError
from ageverify.web.runtime import runtime

bp = Blueprint("ops", __name__)
log = logging.getLogger("ageverify.web")


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database answers and a key can sign for the current epoch."""
    try:
        runtime().check_ready()
    except AgeVerifyError:
        raise
    except Exception as error:  # readiness reports any failure as 503
        log.warning("not ready: %s", type(error).__name__)
        raise AgeVerifyError("unavailable") from None
    return jsonify(status="ok")


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of aggregate counts."""
    state = runtime()
    lines = [
        "# HELP ageverify_http_responses_total Responses by status class (this worker).",
        "# TYPE ageverify_http_responses_total counter",
    ]
    for status_class, count in sorted(state.request_counts.snapshot().items()):
        lines.append(f'ageverify_http_responses_total{{class="{status_class}"}} {count}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


@bp.after_app_request
def _count(response: Response) -> Response:
    runtime().request_counts.add(response.status_code)
    return response
