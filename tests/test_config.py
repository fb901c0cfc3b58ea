"""Settings: defaults, environment overrides, fail-closed production, development mode."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ageverify.config import DEFAULT_THRESHOLDS, Settings, write_dev_settings
from ageverify.errors import ConfigurationError

PRODUCTION = {
    "AGEVERIFY_ISSUER_URL": "https://age.example.com",
    "AGEVERIFY_KEY_PASSPHRASE": "correct horse battery staple",
}


def test_production_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.load(PRODUCTION)
    assert settings.env == "production" and not settings.development
    assert settings.issuer_url == "https://age.example.com"
    assert settings.instance_path == tmp_path / "instance"
    assert settings.keys_dir == tmp_path / "keys"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'ageverify.db'}"
    assert settings.thresholds == DEFAULT_THRESHOLDS
    assert (settings.epoch_seconds, settings.credential_lifetime) == (604_800, 7_776_000)
    assert (settings.max_batch, settings.decoys, settings.keys_ahead) == (30, 3, 2)
    assert (settings.leeway, settings.max_body, settings.log_level) == (60, 65_536, "INFO")
    assert settings.passphrase_bytes == b"correct horse battery staple"


def test_passphrase_is_not_in_repr():
    settings = Settings.load(PRODUCTION)
    assert "correct horse" not in repr(settings)


def test_production_without_required_variables_names_each_of_them():
    with pytest.raises(ConfigurationError) as caught:
        Settings.load({})
    message = str(caught.value)
    assert "AGEVERIFY_ISSUER_URL" in message and "AGEVERIFY_KEY_PASSPHRASE" in message


def test_production_refuses_http_issuer():
    with pytest.raises(ConfigurationError, match="AGEVERIFY_ISSUER_URL.*https"):
        Settings.load({**PRODUCTION, "AGEVERIFY_ISSUER_URL": "http://age.example.com"})


@pytest.mark.parametrize(
    "url",
    [
        "https://age.example.com/",
        "https://age.example.com?x=1",
        "https://age.example.com#frag",
        "https://user:pw@age.example.com",
        "age.example.com",
        "ftp://age.example.com",
    ],
)
def test_bad_issuer_urls_are_refused(url):
    with pytest.raises(ConfigurationError, match="AGEVERIFY_ISSUER_URL"):
        Settings.load({**PRODUCTION, "AGEVERIFY_ISSUER_URL": url})


def test_environment_overrides_and_keyword_overrides_win(tmp_path):
    environ = {
        **PRODUCTION,
        "AGEVERIFY_EPOCH_SECONDS": "3600",
        "AGEVERIFY_THRESHOLDS": "21, 18,16",
        "AGEVERIFY_MAX_BATCH": "10",
        "AGEVERIFY_LOG_LEVEL": "debug",
        "AGEVERIFY_KEYS_DIR": str(tmp_path / "k"),
    }
    settings = Settings.load(environ, max_batch=5, database_url="sqlite://")
    assert settings.epoch_seconds == 3600
    assert settings.thresholds == (16, 18, 21)
    assert settings.max_batch == 5
    assert settings.log_level == "DEBUG"
    assert settings.keys_dir == tmp_path / "k"
    assert settings.database_url == "sqlite://"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGEVERIFY_EPOCH_SECONDS", "a week"),
        ("AGEVERIFY_EPOCH_SECONDS", "1.5"),
        ("AGEVERIFY_EPOCH_SECONDS", "10"),
        ("AGEVERIFY_CREDENTIAL_LIFETIME", "-1"),
        ("AGEVERIFY_MAX_BATCH", "0"),
        ("AGEVERIFY_MAX_BATCH", "31"),
        ("AGEVERIFY_DECOYS", "x"),
        ("AGEVERIFY_KEYS_AHEAD", "-2"),
        ("AGEVERIFY_LEEWAY", "100000"),
        ("AGEVERIFY_MAX_BODY", "12"),
        ("AGEVERIFY_THRESHOLDS", "13,,18"),
        ("AGEVERIFY_THRESHOLDS", "18,18"),
        ("AGEVERIFY_THRESHOLDS", "0,18"),
        ("AGEVERIFY_THRESHOLDS", "eighteen"),
        ("AGEVERIFY_LOG_LEVEL", "LOUD"),
        ("AGEVERIFY_ENV", "staging"),
    ],
)
def test_bad_values_name_their_variable(variable, value):
    with pytest.raises(ConfigurationError, match=variable):
        Settings.load({**PRODUCTION, variable: value})


def test_boolean_is_not_a_number():
    with pytest.raises(ConfigurationError, match="AGEVERIFY_DECOYS"):
        Settings.load(PRODUCTION, decoys=True)


def test_unknown_override_is_refused():
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Settings.load(PRODUCTION, colour="blue")


def test_keys_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("")
    with pytest.raises(ConfigurationError, match="AGEVERIFY_KEYS_DIR"):
        Settings.load({**PRODUCTION, "AGEVERIFY_KEYS_DIR": str(path)})


def test_development_takes_missing_values_from_dev_json(tmp_path):
    instance = tmp_path / "instance"
    path = write_dev_settings(instance)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    values = json.loads(path.read_text())
    settings = Settings.load(
        {"AGEVERIFY_ENV": "development", "AGEVERIFY_INSTANCE_PATH": str(instance)}
    )
    assert settings.development
    assert settings.issuer_url == "http://127.0.0.1:8000"
    assert settings.key_passphrase == values["key_passphrase"]
    assert len(values["key_passphrase"]) >= 32
    assert settings.keys_dir == instance / "dev-keys"


def test_development_environment_beats_dev_json(tmp_path):
    instance = tmp_path / "instance"
    write_dev_settings(instance)
    settings = Settings.load(
        {
            "AGEVERIFY_ENV": "development",
            "AGEVERIFY_INSTANCE_PATH": str(instance),
            "AGEVERIFY_ISSUER_URL": "http://localhost:5000",
        }
    )
    assert settings.issuer_url == "http://localhost:5000"


def test_write_dev_settings_keeps_an_existing_file(tmp_path):
    first = json.loads(write_dev_settings(tmp_path).read_text())
    second = json.loads(write_dev_settings(tmp_path).read_text())
    assert first == second


def test_development_without_dev_json_says_to_run_init(tmp_path):
    with pytest.raises(ConfigurationError, match="init --dev"):
        Settings.load({"AGEVERIFY_ENV": "development", "AGEVERIFY_INSTANCE_PATH": str(tmp_path)})
