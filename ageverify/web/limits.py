"""Rate limits on the endpoints that sign: issuance, and Privacy Pass nonces and tokens.

Counted per client address with Flask-Limiter, in Redis when
``AGEVERIFY_REDIS_URL`` is set (every instance then shares the counters) and
in this process's memory otherwise. A client over its limit gets ``429
rate-limited`` with ``Retry-After``. The addresses live only in the
limiter's counters, which expire with their window; they are never logged.
Behind reverse proxies, ``AGEVERIFY_PROXY_HOPS`` says how many
``X-Forwarded-For`` entries to trust, else every client would share the
proxy's address.
"""

from __future__ import annotations

from flask import Flask, Response, g
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from ageverify.config import Settings
from ageverify.errors import AgeVerifyError
from ageverify.web.errors import error_response

# endpoint -> the Settings field holding its limit.
LIMITED_ENDPOINTS = {
    "issuance.issue_credentials": "rate_limit_issuance",
    "privacypass.nonce": "rate_limit_tokens",
    "privacypass.token_request": "rate_limit_tokens",
}


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Apply the configured limits to :data:`LIMITED_ENDPOINTS` of ``app``."""
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=_storage_uri(settings.redis_url),
        strategy="moving-window",
        # Only a refusal says when to come back (Retry-After, below); the
        # remaining allowance is not announced on every answer.
        headers_enabled=False,
        key_prefix="ageverify",
        # A limiter that cannot reach Redis does not take the issuer down:
        # the signing endpoints still check quotas and single use in the database.
        swallow_errors=True,
    )
    app.register_error_handler(RateLimitExceeded, _refused)
    for endpoint, field_name in LIMITED_ENDPOINTS.items():
        limit = getattr(settings, field_name)
        if limit != "none":
            view = app.view_functions[endpoint]
            app.view_functions[endpoint] = limiter.limit(limit)(view)  # type: ignore[assignment]
    return limiter


def _refused(error: RateLimitExceeded) -> Response:
    """429 ``rate-limited``, with Retry-After the length of the window that was exceeded."""
    g.error_code = "rate-limited"
    response = error_response(AgeVerifyError("rate-limited"))
    response.headers["Retry-After"] = str(error.limit.limit.get_expiry())
    return response


def _storage_uri(redis_url: str) -> str:
    """The ``limits`` storage URI for ``redis_url`` (which names unix sockets its own way)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url
