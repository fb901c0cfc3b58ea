"""Settings of the issuer: defaults in code, overrides from ``AGEVERIFY_*`` variables.

Configuration fails closed. Production is the default and refuses to start
without an issuer URL and a key passphrase; development mode has to be asked
for (``AGEVERIFY_ENV=development``), takes what is missing from the
``dev.json`` that ``ageverify init --dev`` writes, and says so through
``Settings.development`` so the application can announce it.

Precedence, highest first: keyword overrides to ``Settings.load``, the
environment, ``<instance>/dev.json`` (development only), the defaults below.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ageverify.errors import ConfigurationError

ENV_PREFIX = "AGEVERIFY_"
DEV_SETTINGS_FILE = "dev.json"
DEV_ISSUER_URL = "http://127.0.0.1:8000"
DEFAULT_THRESHOLDS = (13, 15, 16, 18, 21)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The design fixes a batch at 1 to 30 holder keys.
MAX_BATCH_LIMIT = 30

# What each required variable is, for the start-up message.
_REQUIRED_IN_PRODUCTION = {
    "issuer_url": "the public https URL of this issuer, without a trailing slash "
    "(e.g. https://age.example.com)",
    "key_passphrase": "the passphrase that encrypts the credential signing keys in KEYS_DIR",
    "pkcs11_module": "the path of the token vendor's PKCS#11 library "
    "(e.g. /usr/lib/softhsm/libsofthsm2.so)",
    "pkcs11_token_label": "the label of the PKCS#11 token that holds the keys",
    "pkcs11_pin": "the PIN of the PKCS#11 token's user",
}

KEY_STORES = ("file", "pkcs11")
_PKCS11_SETTINGS = ("pkcs11_module", "pkcs11_token_label", "pkcs11_pin")

# Integer settings: name -> (smallest, largest) accepted value.
_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "epoch_seconds": (60, 366 * 86_400),
    "credential_lifetime": (60, 5 * 366 * 86_400),
    "max_batch": (1, MAX_BATCH_LIMIT),
    "decoys": (0, 64),
    "keys_ahead": (0, 52),
    "leeway": (0, 600),
    "max_body": (1_024, 16 * 1024 * 1024),
    "token_daily_quota": (1, 100_000),
    # At least 2: a minimum of 1 would publish cells of one issuance.
    "stats_min_count": (2, 1_000_000),
    "proxy_hops": (0, 5),
    # Below gunicorn's worker timeout (30 s): a booting worker is not yet watched.
    "database_wait": (0, 25),
}


# Rate limit settings, in the notation of the ``limits`` library.
_RATE_LIMITS = ("rate_limit_issuance", "rate_limit_tokens", "rate_limit_verify")


def _env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


@dataclass(frozen=True)
class Settings:
    """Validated settings of one issuer instance.

    Build it with ``Settings.load``; the constructor does no validation.
    ``key_passphrase`` and ``pkcs11_pin`` are kept out of ``repr`` so they
    never reach a log.
    """

    env: str = "production"
    issuer_url: str = ""
    database_url: str = ""
    instance_path: Path = Path("instance")
    keys_dir: Path = Path("keys")
    key_passphrase: str = field(default="", repr=False)
    # Where the private keys live: "file" (encrypted under keys_dir with
    # key_passphrase) or "pkcs11" (generated in, and never leaving, the token
    # labelled pkcs11_token_label of the module pkcs11_module).
    key_store: str = "file"
    pkcs11_module: str = ""
    pkcs11_token_label: str = ""
    pkcs11_pin: str = field(default="", repr=False)
    epoch_seconds: int = 604_800
    credential_lifetime: int = 7_776_000
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    max_batch: int = 30
    decoys: int = 3
    keys_ahead: int = 2
    leeway: int = 60
    max_body: int = 65_536
    # Privacy Pass tokens one credential may obtain per UTC day: a credential
    # shared among many people cannot mint tokens for all of them.
    token_daily_quota: int = 30
    # GET /v1/stats leaves out every day x method x threshold cell counting
    # fewer issuances than this: a small cell can single out a person who is
    # known to have verified on that day, and tell their age band.
    stats_min_count: int = 10
    log_level: str = "INFO"
    # "json" (one object per line, for a log collector) or "text"; empty
    # picks json in production and text in development.
    log_format: str = ""
    # Redis shared by every instance (rate limit counters); empty: this
    # process's memory, which suits a single instance.
    redis_url: str = ""
    # Requests per client address, in the notation of the ``limits`` library
    # ("30/minute;300/hour"), or "none". Issuance is a wallet's batch after a
    # verification; token requests are one per token. A verification over
    # HTTP costs two signature checks: a platform's server sends one per
    # person it admits, and beyond 25 a second on average it is better
    # served by the SDK, which verifies offline (and tells the issuer nothing).
    rate_limit_issuance: str = "30/minute;300/hour"
    rate_limit_tokens: str = "120/minute;1200/hour"
    rate_limit_verify: str = "50/second;1500/minute"
    # Reverse proxies in front of the issuer whose X-Forwarded-For to trust
    # (the client address that rate limits count): 0 trusts none.
    proxy_hops: int = 0
    # Seconds a starting process waits for an unreachable database before it
    # gives up (a worker restarted during a short database outage survives it).
    database_wait: int = 20

    @property
    def development(self) -> bool:
        """True when running in development mode, which the app must announce."""
        return self.env == "development"

    @property
    def passphrase_bytes(self) -> bytes:
        """``key_passphrase`` encoded for the key store."""
        return self.key_passphrase.encode("utf-8")

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) and ``overrides``.

        ``overrides`` are keyword arguments named after the fields (``issuer_url=...``);
        they win over the environment. Raises ``ConfigurationError`` naming every
        missing variable, or the variable whose value is unusable.
        """
        if environ is None:
            environ = os.environ
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(unknown)}")

        def raw(name: str) -> Any:
            if name in overrides and overrides[name] is not None:
                return overrides[name]
            value = environ.get(_env_name(name))
            return value if value not in (None, "") else None

        env = _parse_env(raw("env"))
        instance_path = _absolute(raw("instance_path") or "instance")

        dev_values: dict[str, Any] = {}
        if env == "development":
            dev_values = _read_dev_settings(instance_path)

        def pick(name: str) -> Any:
            value = raw(name)
            return dev_values.get(name) if value is None else value

        issuer_url = pick("issuer_url")
        key_passphrase = pick("key_passphrase")
        key_store = _parse_key_store(raw("key_store"))
        required = [("issuer_url", issuer_url)]
        if key_store == "file":
            required.append(("key_passphrase", key_passphrase))
        else:
            required += [(name, raw(name)) for name in _PKCS11_SETTINGS]
        missing = [name for name, value in required if value in (None, "")]
        if missing:
            lines = [f"  {_env_name(n)}: {_REQUIRED_IN_PRODUCTION[n]}" for n in missing]
            hint = (
                "run `ageverify init --dev` to write development settings"
                if env == "development"
                else f"or set {_env_name('env')}=development for a local trial"
            )
            raise ConfigurationError(
                "ageverify cannot start; set these variables:\n" + "\n".join(lines) + f"\n({hint})"
            )

        keys_dir = _absolute(pick("keys_dir") or "keys")
        if keys_dir.exists() and not keys_dir.is_dir():
            raise ConfigurationError(f"{_env_name('keys_dir')} ({keys_dir}) is not a directory")

        database_url = _parse_database_url(pick("database_url"), instance_path)

        ints = {name: _parse_int(name, raw(name), getattr(cls, name)) for name in _INT_BOUNDS}
        rate_limits = {name: _parse_rate_limit(name, raw(name)) for name in _RATE_LIMITS}
        return cls(
            env=env,
            issuer_url=_parse_issuer_url(issuer_url, development=env == "development"),
            database_url=database_url,
            instance_path=instance_path,
            keys_dir=keys_dir,
            key_passphrase=_parse_passphrase(key_passphrase or ""),
            key_store=key_store,
            pkcs11_module=_parse_text("pkcs11_module", raw("pkcs11_module")),
            pkcs11_token_label=_parse_text("pkcs11_token_label", raw("pkcs11_token_label")),
            pkcs11_pin=_parse_text("pkcs11_pin", raw("pkcs11_pin")),
            thresholds=_parse_thresholds(raw("thresholds")),
            log_level=_parse_log_level(raw("log_level")),
            log_format=_parse_log_format(raw("log_format"), env),
            redis_url=_parse_redis_url(raw("redis_url")),
            rate_limit_issuance=rate_limits["rate_limit_issuance"],
            rate_limit_tokens=rate_limits["rate_limit_tokens"],
            rate_limit_verify=rate_limits["rate_limit_verify"],
            **ints,
        )


def load_database_url(environ: Mapping[str, str] | None = None, **overrides: Any) -> str:
    """The database URL ``Settings.load`` would use, read without the other settings.

    Changing the schema (``ageverify db ...``) needs neither the issuer URL
    nor the key passphrase. ``environ`` defaults to ``os.environ``;
    ``overrides`` may give ``database_url`` and ``instance_path``.
    """
    if environ is None:
        environ = os.environ

    def raw(name: str) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        return environ.get(_env_name(name)) or None

    return _parse_database_url(raw("database_url"), _absolute(raw("instance_path") or "instance"))


def write_dev_settings(instance_path: str | os.PathLike[str]) -> Path:
    """Write ``<instance_path>/dev.json`` for development mode and return its path.

    It holds a random key passphrase, ``issuer_url`` http://127.0.0.1:8000 and
    ``keys_dir`` ``<instance>/dev-keys``. An existing file is kept as it is:
    replacing the passphrase would make the development keys unreadable.
    """
    instance = _absolute(instance_path)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = instance / DEV_SETTINGS_FILE
    if path.exists():
        return path
    values = {
        "issuer_url": DEV_ISSUER_URL,
        "key_passphrase": secrets.token_urlsafe(32),
        "keys_dir": str(instance / "dev-keys"),
    }
    # The file holds the passphrase: created 0600, never replaced.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=2)
        handle.write("\n")
    return path


def _read_dev_settings(instance_path: Path) -> dict[str, Any]:
    path = instance_path / DEV_SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        values = json.loads(text)
    except ValueError:
        raise ConfigurationError(
            f"{path} is not valid JSON; delete it and run `ageverify init --dev` again"
        ) from None
    if not isinstance(values, dict):
        raise ConfigurationError(f"{path} must hold a JSON object")
    return {k: v for k, v in values.items() if k in ("issuer_url", "key_passphrase", "keys_dir")}


def _absolute(value: Any) -> Path:
    return Path(value).expanduser().resolve()


def _parse_database_url(value: Any, instance_path: Path) -> str:
    # The embedded default: a SQLite file in the instance folder.
    url = value or f"sqlite:///{instance_path / 'ageverify.db'}"
    if not isinstance(url, str):
        raise ConfigurationError(f"{_env_name('database_url')} must be a string")
    return url


def _parse_key_store(value: Any) -> str:
    store = "file" if value is None else str(value).strip().lower()
    if store not in KEY_STORES:
        raise ConfigurationError(
            f"{_env_name('key_store')} must be one of {', '.join(KEY_STORES)}, not {store!r}"
        )
    return store


def _parse_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigurationError(f"{_env_name(name)} must be a string")
    return value


def _parse_env(value: Any) -> str:
    env = "production" if value is None else str(value).strip().lower()
    if env not in ("production", "development"):
        raise ConfigurationError(
            f"{_env_name('env')} must be 'production' or 'development', not {env!r}"
        )
    return env


def _parse_issuer_url(value: Any, *, development: bool) -> str:
    name = _env_name("issuer_url")
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string")
    parts = urlsplit(value)
    if value.endswith("/"):
        raise ConfigurationError(f"{name} must not end with '/': it is compared exactly as `iss`")
    if parts.query or parts.fragment or "#" in value or "?" in value:
        raise ConfigurationError(f"{name} must not carry a query or fragment")
    if not parts.hostname or parts.username or parts.password:
        raise ConfigurationError(f"{name} must be an absolute URL with a host and no credentials")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and development:
        return value
    raise ConfigurationError(
        f"{name} must be an https URL"
        + ("" if development else " (http is accepted in development mode only)")
    )


def _parse_passphrase(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{_env_name('key_passphrase')} must be a string")
    if len(value.encode("utf-8")) > 1023:
        # PKCS#8 encryption accepts passphrases of at most 1023 bytes.
        raise ConfigurationError(f"{_env_name('key_passphrase')} must be at most 1023 bytes")
    return value


def _parse_int(name: str, value: Any, default: int) -> int:
    env_name = _env_name(name)
    if value is None:
        number = default
    elif isinstance(value, bool):
        raise ConfigurationError(f"{env_name} must be a whole number, not a boolean")
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isascii() or not text.lstrip("-").isdigit():
            raise ConfigurationError(f"{env_name} must be a whole number, not {text!r}")
        number = int(text)
    low, high = _INT_BOUNDS[name]
    if not low <= number <= high:
        raise ConfigurationError(f"{env_name} must be between {low} and {high}, not {number}")
    return number


def _parse_thresholds(value: Any) -> tuple[int, ...]:
    name = _env_name("thresholds")
    if value is None:
        return DEFAULT_THRESHOLDS
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigurationError(f"{name} must be a comma-separated list of ages")
    numbers: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise ConfigurationError(f"{name} must list whole numbers, not booleans")
        if isinstance(item, int):
            numbers.append(item)
        elif isinstance(item, str) and item.isascii() and item.isdigit():
            numbers.append(int(item))
        else:
            raise ConfigurationError(f"{name} must be a comma-separated list of ages, not {item!r}")
    if not numbers:
        raise ConfigurationError(f"{name} must list at least one age")
    if len(set(numbers)) != len(numbers):
        raise ConfigurationError(f"{name} lists an age twice")
    # Claim names are age_over_NN: two digits keep them uniform and plausible.
    if any(not 1 <= n <= 99 for n in numbers):
        raise ConfigurationError(f"{name} ages must be between 1 and 99")
    return tuple(sorted(numbers))


def _parse_redis_url(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(
            f"{_env_name('redis_url')} must be a redis://, rediss:// or unix:// URL"
        )
    return value


def _parse_rate_limit(name: str, value: Any) -> str:
    if value is None:
        return str(getattr(Settings, name))
    if not isinstance(value, str):
        raise ConfigurationError(f"{_env_name(name)} must be a string")
    if value.strip().lower() == "none":
        return "none"
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigurationError(
            f"{_env_name(name)} must read like '30/minute;300/hour', or be 'none'"
        ) from None
    return value


def _parse_log_format(value: Any, env: str) -> str:
    if value is None:
        return "text" if env == "development" else "json"
    if value not in ("json", "text"):
        raise ConfigurationError(f"{_env_name('log_format')} must be json or text")
    return str(value)


def _parse_log_level(value: Any) -> str:
    level = "INFO" if value is None else str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(f"{_env_name('log_level')} must be one of {', '.join(LOG_LEVELS)}")
    return level
