"""Rate limits on the endpoints that sign or check signatures for anyone.

Issuance, Privacy Pass nonces and tokens, and verification over HTTP (two
signature checks a request).

Counted per client address in moving windows with the ``limits`` library,
in Redis when ``AGEVERIFY_REDIS_URL`` is set (every instance then shares the
counters) and in this process's memory otherwise. Only the endpoints of
:data:`LIMITED_ENDPOINTS` are looked at; every other request costs one
dictionary lookup. A client over its limit gets ``429 rate-limited`` with
``Retry-After``. The addresses live only in the counters, which expire with
their window; they are never logged. Behind reverse proxies,
``AGEVERIFY_PROXY_HOPS`` says how many ``X-Forwarded-For`` entries to trust,
else every client would share the proxy's address.

A counter store that cannot be reached lets requests through (and says so
in the log): rate limits protect capacity, while the single-use checks that
protect the signing endpoints live in the database and fail closed.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from ageverify.config import Settings
from ageverify.errors import AgeVerifyError
from ageverify.web.envelope import current_request
from ageverify.web.errors import error_response

log = logging.getLogger("ageverify.web")

# endpoint -> the Settings field holding its limit.
LIMITED_ENDPOINTS = {
    "issuance.issue_credentials": "rate_limit_issuance",
    "privacypass.nonce": "rate_limit_tokens",
    "privacypass.token_request": "rate_limit_tokens",
    "verification.verify_presentation": "rate_limit_verify",
}


class RateLimits:
    """The configured limits of each limited endpoint, and the counters behind them."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(
            storage_from_string(_storage_uri(settings.redis_url))
        )
        self._limits: dict[str, list[RateLimitItem]] = {
            endpoint: parse_many(getattr(settings, field_name))
            for endpoint, field_name in LIMITED_ENDPOINTS.items()
            if getattr(settings, field_name) != "none"
        }

    def check(self) -> Response | None:
        """Count this request against its endpoint's limits: a 429 response when over one."""
        served = current_request()
        endpoint = served.endpoint or ""
        items = self._limits.get(endpoint)
        if not items:
            return None
        client = served.remote_addr or "-"
        for item in items:
            try:
                allowed = self._limiter.hit(item, "ageverify", endpoint, client)
            except Exception as error:  # the counter store is down: see the module docstring
                log.warning("rate limit counters unreachable: %s", type(error).__name__)
                return None
            if not allowed:
                g.error_code = "rate-limited"
                response = error_response(AgeVerifyError("rate-limited"))
                response.headers["Retry-After"] = str(item.get_expiry())
                return response
        return None


def init_app(app: Flask, settings: Settings) -> RateLimits:
    """Apply the configured limits to :data:`LIMITED_ENDPOINTS` of ``app``."""
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    limits = RateLimits(settings)
    app.before_request(limits.check)
    return limits


def _storage_uri(redis_url: str) -> str:
    """The ``limits`` storage URI for ``redis_url`` (which names unix sockets its own way)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url
