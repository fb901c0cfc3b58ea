"""create_app fails closed in production and announces development mode."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ageverify import create_app
from ageverify.config import write_dev_settings
from ageverify.errors import ConfigurationError


def test_production_without_settings_names_every_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        create_app({"instance_path": tmp_path})
    message = str(raised.value)
    assert "AGEVERIFY_ISSUER_URL" in message
    assert "AGEVERIFY_KEY_PASSPHRASE" in message


def test_production_without_signing_keys_says_to_generate_them(tmp_path: Path) -> None:
    config = {
        "issuer_url": "https://age.example",
        "key_passphrase": "correct horse battery staple",
        "instance_path": tmp_path / "instance",
        "keys_dir": tmp_path / "keys",
    }
    with pytest.raises(ConfigurationError) as raised:
        create_app(config)
    assert "ageverify keys generate-ahead" in str(raised.value)


def test_production_refuses_http_issuer_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        create_app(
            {
                "issuer_url": "http://age.example",
                "key_passphrase": "x" * 20,
                "instance_path": tmp_path,
            }
        )


def test_production_starts_once_keys_exist(tmp_path: Path) -> None:
    from ageverify.config import Settings
    from ageverify.web.runtime import open_runtime

    config = {
        "issuer_url": "https://age.example",
        "key_passphrase": "correct horse battery staple",
        "instance_path": tmp_path / "instance",
        "keys_dir": tmp_path / "keys",
    }
    state = open_runtime(Settings.load(**config))
    state.signing_keys.generate_ahead()
    state.close()
    app = create_app(config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    # Served over https: browsers are told to stay on https.
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    app.extensions["ageverify"].close()


def test_development_without_init_says_to_run_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ageverify init --dev"):
        create_app({"env": "development", "instance_path": tmp_path})


def test_development_announces_itself(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_dev_settings(tmp_path)
    logger = logging.getLogger("ageverify")
    logger.addHandler(caplog.handler)
    try:
        app = create_app({"env": "development", "instance_path": tmp_path})
    finally:
        logger.removeHandler(caplog.handler)
    assert "DEVELOPMENT mode" in caplog.text
    assert app.extensions["ageverify"].settings.development
    app.extensions["ageverify"].close()


def test_passphrase_never_reaches_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_dev_settings(tmp_path)
    logger = logging.getLogger("ageverify")
    logger.addHandler(caplog.handler)
    try:
        app = create_app({"env": "development", "instance_path": tmp_path})
        app.test_client().get("/readyz")
    finally:
        logger.removeHandler(caplog.handler)
    passphrase = app.extensions["ageverify"].settings.key_passphrase
    assert passphrase not in caplog.text
    app.extensions["ageverify"].close()


def test_wrong_passphrase_stops_the_start(tmp_path: Path) -> None:
    write_dev_settings(tmp_path)
    create_app({"env": "development", "instance_path": tmp_path}).extensions["ageverify"].close()
    with pytest.raises(ConfigurationError, match="cannot start"):
        create_app(
            {"env": "development", "instance_path": tmp_path, "key_passphrase": "not the one"}
        )


def _lost_once(method):  # type: ignore[no-untyped-def]
    """``method``, failing once the way a dropped database connection fails."""
    from sqlalchemy.exc import OperationalError

    calls = []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))
        return method(*args, **kwargs)

    return flaky, calls


def test_a_database_lost_during_the_start_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database restarts while a worker starts: it waits and starts, not fails to boot."""
    from ageverify.issuer.keys import SigningKeys
    from ageverify.storage import db

    instance = tmp_path / "instance"
    write_dev_settings(instance)
    create_schema, schema_calls = _lost_once(db.create_schema)
    generate_ahead, key_calls = _lost_once(SigningKeys.generate_ahead)
    monkeypatch.setattr("ageverify.web.runtime.create_schema", create_schema)
    monkeypatch.setattr(SigningKeys, "generate_ahead", generate_ahead)
    with caplog.at_level(logging.WARNING, logger="ageverify"):
        app = create_app({"env": "development", "instance_path": instance})
    try:
        assert len(schema_calls) == 2 and len(key_calls) == 2
        assert caplog.text.count("the database went away while starting") == 2
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        app.extensions["ageverify"].close()


def test_a_database_that_keeps_failing_the_start_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from ageverify.issuer.keys import SigningKeys

    instance = tmp_path / "instance"
    write_dev_settings(instance)

    def always(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))

    monkeypatch.setattr(SigningKeys, "generate_ahead", always)
    with pytest.raises(OperationalError):
        create_app({"env": "development", "instance_path": instance})
