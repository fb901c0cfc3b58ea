"""Operations endpoints: liveness, readiness, metrics.

``/healthz`` answers while the process runs; ``/readyz`` only when the
database, Redis (if configured) and a signing key for the current epoch are
there, so a load balancer sends no traffic to an instance that would fail it.
``/metrics`` is described in :mod:`ageverify.web.metrics`: aggregate and
operational, nothing per person, platform or verifier key. Serve it to the
monitoring network only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify

from ageverify.errors import AgeVerifyError
from ageverify.web import metrics as measured
from ageverify.web.runtime import runtime

bp = Blueprint("ops", __name__)
log = logging.getLogger("ageverify.web")


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database (and Redis, if configured) answer and a key can sign now."""
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
    """Prometheus text exposition (see :mod:`ageverify.web.metrics` for what is counted)."""
    state = runtime()
    now = state.clock()
    return measured.exposition(state.signing_keys.signing_until(now), now)


bp.before_app_request(measured.start_request)
bp.after_app_request(measured.observe_response)
