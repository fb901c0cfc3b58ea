"""ageverify: privacy-preserving age verification with SD-JWT VC age credentials.

``create_app`` builds the issuer's web application; gunicorn starts it as
``"ageverify:create_app()"``. Reading it tells you the whole service.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

# Platforms import ``ageverify.sdk`` and ``ageverify.formats``, which runs this
# file first: the web stack (Flask, SQLAlchemy, the issuer) is imported inside
# the functions below so that verifying a presentation never loads it.
if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask

    from ageverify.config import Settings
    from ageverify.web.runtime import Runtime

__all__ = ["create_app"]

log = logging.getLogger("ageverify")

_DEVELOPMENT_BANNER = """
**********************************************************************
  ageverify is running in DEVELOPMENT mode.
  Keys and settings come from {instance}; the issuer URL is {issuer}.
  Do not use this instance to issue credentials anyone relies on.
**********************************************************************"""


def create_app(
    config: dict[str, Any] | None = None, *, clock: Callable[[], float] | None = None
) -> Flask:
    """Build the issuer application.

    ``config`` holds setting overrides by field name (see
    :class:`ageverify.config.Settings`); everything else comes from
    ``AGEVERIFY_*`` environment variables. ``clock`` replaces ``time.time``
    (tests). Raises :class:`ConfigurationError`, saying what to set, when the
    settings or the signing keys do not allow a safe start.
    """
    from flask import Flask

    from ageverify.config import Settings

    settings = Settings.load(**(config or {}))
    configure_logging(settings)
    state = configure_storage(settings, clock)
    from ageverify.web.runtime import while_the_database_answers

    while_the_database_answers(state.engine, settings.database_wait, lambda: configure_keys(state))

    app = Flask(__name__, instance_path=str(settings.instance_path), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.extensions["ageverify"] = state
    configure_blueprints(app)
    configure_limits(app, settings)
    configure_errors(app)
    configure_envelope(app, settings)
    if settings.development:
        log.warning(
            _DEVELOPMENT_BANNER.format(instance=settings.instance_path, issuer=settings.issuer_url)
        )
    return app


def configure_logging(settings: Settings) -> None:
    """Send the ``ageverify`` loggers to stderr at ``settings.log_level``, once per process.

    Lines are JSON objects with the request id (``ageverify.logs``) unless
    ``settings.log_format`` is ``text``, the default of development mode.
    """
    from ageverify.logs import JsonFormatter, RequestIdFilter

    root = logging.getLogger("ageverify")
    root.setLevel(settings.log_level)
    handler = next((h for h in root.handlers if getattr(h, "_ageverify", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._ageverify = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
        # Our own handler writes the lines; passing them up as well would
        # print each twice under a configured root logger.
        root.propagate = False
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))


def configure_storage(settings: Settings, clock: Callable[[], float] | None) -> Runtime:
    """Open the database and the key store and build the issuing service."""
    from ageverify.web.runtime import open_runtime

    return open_runtime(settings, clock=clock)


def configure_keys(state: Runtime) -> None:
    """Make sure a key can sign credentials for the current epoch.

    Production refuses to start without one, or without the transparency log
    key; development generates the keys it lacks, the log key, credential
    signing and Privacy Pass token keys, as ``ageverify init`` would. Without
    token keys the issuer still starts (credentials do not need them) and
    says so: token requests then fail.
    """
    from ageverify.errors import AgeVerifyError, ConfigurationError, KeyStoreError

    settings = state.settings
    now = state.clock()
    try:
        if settings.development:
            if state.log.ensure_key():
                log.warning("development: generated the transparency log key")
            generated = state.signing_keys.generate_ahead(now)
            if generated:
                log.warning("development: generated %d signing key(s)", len(generated))
            token_keys = state.token_keys.generate_ahead(now)
            if token_keys:
                log.warning("development: generated %d Privacy Pass token key(s)", len(token_keys))
        # Loads (and caches) the private key: a wrong passphrase or a key file
        # readable by others stops the start here, not at the first issuance.
        state.signing_keys.current(now)
        if not state.token_keys.published(now):
            log.warning(
                "no Privacy Pass token keys in %s: token requests will fail until "
                "`ageverify keys generate-ahead` runs",
                settings.keys_dir,
            )
    except AgeVerifyError as error:
        state.close()
        raise ConfigurationError(
            "ageverify cannot start: no credential signing key for the current epoch "
            f"in {settings.keys_dir} ({error.code}).\n"
            "Run `ageverify keys generate-ahead` (with the same AGEVERIFY_* settings), "
            "and schedule it to run at least once per epoch."
        ) from None
    except KeyStoreError as error:
        state.close()
        raise ConfigurationError(f"ageverify cannot start: {error}") from None
    try:
        # Loads the log key: without it no key change could be logged.
        state.log.signer()
    except KeyStoreError as error:
        state.close()
        raise ConfigurationError(
            f"ageverify cannot start: no transparency log key ({error}).\n"
            "Run `ageverify init` (with the same AGEVERIFY_* settings) to create it; "
            "if the log already has entries, restore its key file from backup."
        ) from None


def configure_blueprints(app: Flask) -> None:
    """Register one blueprint per area of the HTTP API."""
    from ageverify.web import (
        admin,
        issuance,
        openapi,
        ops,
        privacypass,
        stats,
        translog,
        verification,
        wallet,
        wellknown,
    )

    for module in (
        wellknown,
        issuance,
        verification,
        privacypass,
        translog,
        stats,
        admin,
        ops,
        openapi,
        wallet,
    ):
        app.register_blueprint(module.bp)


def configure_limits(app: Flask, settings: Settings) -> None:
    """Rate limits per client on issuance and token requests (shared in Redis if configured)."""
    from ageverify.web import limits

    app.extensions["ageverify_limiter"] = limits.init_app(app, settings)


def configure_errors(app: Flask) -> None:
    """Render every error as JSON ``{"code", "description"}``."""
    from ageverify.web.errors import register_error_handlers

    register_error_handlers(app)


def configure_envelope(app: Flask, settings: Settings) -> None:
    """Request ids, the access log, security headers (HSTS when served over https), JSON."""
    from ageverify.web import envelope

    envelope.init_app(app, hsts=settings.issuer_url.startswith("https://"))
