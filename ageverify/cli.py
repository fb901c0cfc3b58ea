"""The ``ageverify`` command line: set up, serve and operate an issuer.

Every command reads the same ``AGEVERIFY_*`` settings as the web service, so
``ageverify keys ...`` acts on the keys the running service signs with.
Errors are reported as one line (``code: description`` for coded errors)
and a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from ageverify.errors import AgeVerifyError, ConfigurationError, KeyStoreError

DEFAULT_BIND = "127.0.0.1:8000"


class _Group(click.Group):
    """A command group that reports ageverify errors as one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgeVerifyError as error:
            raise click.ClickException(f"{error.code}: {error.description}") from None
        except (ConfigurationError, KeyStoreError) as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ageverify")
def cli() -> None:
    """ageverify: issue privacy-preserving age credentials (SD-JWT VC).

    Settings come from AGEVERIFY_* environment variables (AGEVERIFY_ISSUER_URL,
    AGEVERIFY_KEY_PASSPHRASE, AGEVERIFY_KEYS_DIR, AGEVERIFY_DATABASE_URL, ...).
    Production is the default. To try it locally:

    \b
        ageverify init --dev
        AGEVERIFY_ENV=development ageverify serve
        ageverify demo
    """


main = cli


@contextmanager
def _runtime(**overrides: Any) -> Iterator[Any]:
    from ageverify.config import Settings
    from ageverify.web.runtime import open_runtime

    state = open_runtime(Settings.load(**overrides))
    try:
        yield state
    finally:
        state.close()


def _when(timestamp: int | float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# --- init -------------------------------------------------------------------


@cli.command()
@click.option(
    "--dev",
    is_flag=True,
    help="Set up a development instance: writes <instance>/dev.json (random key "
    "passphrase, issuer http://127.0.0.1:8000), generates keys and registers the "
    "demo verifier.",
)
@click.option(
    "--instance-path",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGEVERIFY_INSTANCE_PATH",
    default="instance",
    show_default=True,
    help="Instance folder (database, development settings).",
)
def init(dev: bool, instance_path: Path) -> None:
    """Create or upgrade the database schema, and the signing keys of the coming epochs.

    In production, set AGEVERIFY_ISSUER_URL and AGEVERIFY_KEY_PASSPHRASE first;
    run it again at any time (it only adds what is missing). The schema is
    brought to the latest revision as `ageverify db upgrade` does.
    """
    from ageverify.config import Settings

    overrides: dict[str, Any] = {"instance_path": instance_path}
    if dev:
        from ageverify.config import write_dev_settings

        written = write_dev_settings(instance_path)
        click.echo(f"Development settings: {written}")
        overrides["env"] = "development"
    # Settings first: a production instance missing its settings changes nothing.
    database_url = Settings.load(**overrides).database_url
    click.echo(f"Database: {_shown_url(database_url)}")
    _upgrade_schema(database_url)
    with _runtime(**overrides) as state:
        generated = state.signing_keys.generate_ahead(state.clock())
        token_keys = state.token_keys.generate_ahead(state.clock())
        click.echo(
            f"Signing keys ({state.settings.key_store} key store): {len(generated)} generated"
        )
        click.echo(f"Privacy Pass token keys: {len(token_keys)} generated")
        if dev:
            from ageverify.demo import DemoVerifier, register_demo_verifier

            demo_verifier = DemoVerifier.load_or_create(state.settings.instance_path)
            if register_demo_verifier(state.sessions, demo_verifier, now=state.clock()):
                click.echo(
                    "Registered the demo verifier 'demo-verifier' (DEMO — not a real age check)."
                )
            click.echo("\nNext:\n  AGEVERIFY_ENV=development ageverify serve\n  ageverify demo")
        else:
            click.echo(
                "\nNext:\n  ageverify admin-tokens create NAME\n"
                "  ageverify verifiers add ID --name NAME --jwks FILE --method METHOD\n"
                "  ageverify serve\n"
                "Run `ageverify keys generate-ahead` at least once per epoch (e.g. from cron)."
            )


# --- db ---------------------------------------------------------------------


@cli.group(cls=_Group)
def db() -> None:
    """The database schema: which revision it is at, and upgrades to the latest.

    Acts on AGEVERIFY_DATABASE_URL (default: ageverify.db in the instance
    folder) and needs no other setting. `ageverify init` upgrades too; a
    running issuer refuses a schema older than its release needs.
    """


def _shown_url(url: str) -> str:
    """``url`` with its password masked, fit to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported by make_engine
        return "(unparsable database URL)"


@contextmanager
def _database(url: str) -> Iterator[Any]:
    """An engine for ``url``; a database that cannot be reached is one line, not a traceback."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from ageverify.storage.db import make_engine

    engine = make_engine(url)
    try:
        yield engine
    except SQLAlchemyError as error:
        cause = error.orig if isinstance(error, DBAPIError) else error
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise click.ClickException(f"database {_shown_url(url)}: {first_line}") from None
    finally:
        engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url``; None for an in-memory or another database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:  # reported by make_engine
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _missing_sqlite_file(url: str) -> bool:
    path = _sqlite_file(url)
    return path is not None and not path.exists()


def _upgrade_schema(url: str) -> None:
    from ageverify.storage import schema

    path = _sqlite_file(url)
    if path is not None:
        # The embedded default lives in the instance folder, which may not exist yet.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _database(url) as engine:
        before, after = schema.upgrade(engine)
    if before == after:
        click.echo(f"Database schema: at revision {after}, the latest")
    else:
        click.echo(f"Database schema: upgraded from {before or 'nothing'} to revision {after}")


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the latest revision; an empty database gets every table.

    Back up the database first. Safe to run again, and from several hosts at
    once: an upgrade holds a lock and runs in one transaction, so one that
    fails changes nothing.
    """
    from ageverify.config import load_database_url

    url = load_database_url()
    click.echo(f"Database: {_shown_url(url)}")
    _upgrade_schema(url)


@db.command("current")
def db_current() -> None:
    """Show the revision the database schema is at, and the latest one."""
    from ageverify.config import load_database_url
    from ageverify.storage import schema

    url = load_database_url()
    head = schema.head_revision()
    current = None
    if not _missing_sqlite_file(url):
        with _database(url) as engine, engine.connect() as connection:
            current = schema.current_revision(connection)
    if current == head:
        click.echo(f"{current} (latest)")
    else:
        click.echo(f"{current or 'none'} (latest: {head}; run `ageverify db upgrade`)")


# --- serve ------------------------------------------------------------------


def prepare_metrics_folder() -> str:
    """Give gunicorn's workers an empty folder for their metric samples; return its path.

    prometheus_client picks its multiprocess mode when first imported, so this
    runs before anything imports it: ``deploy/gunicorn.conf.py`` calls it first,
    ``ageverify serve`` before building the app. ``PROMETHEUS_MULTIPROC_DIR``
    is kept if set (a tmpfs mount in containers), else a temporary folder is
    made, which :func:`remove_metrics_folder` deletes at exit. Files left by
    an earlier run would add its counts to this one's, so they are removed.
    """
    import tempfile

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = tempfile.mkdtemp(prefix="ageverify-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        _made_metrics_folders.append(folder)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    return folder


# The folders prepare_metrics_folder made in this process, removed at exit.
_made_metrics_folders: list[str] = []


def remove_metrics_folder(server: object) -> None:
    """Delete the metrics folder :func:`prepare_metrics_folder` made, if it made one.

    A gunicorn hook, run as the master exits: otherwise every start would
    leave a folder in the temporary directory. A folder named by
    ``PROMETHEUS_MULTIPROC_DIR`` is the operator's and stays.
    """
    import shutil

    while _made_metrics_folders:
        folder = _made_metrics_folders.pop()
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == folder:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def freeze_startup_objects(worker: object) -> None:
    """Leave the objects of a worker's start out of the garbage collector's scans.

    A gunicorn hook, run once the worker has built the app. The modules, app
    and caches built at start live as long as the worker; a full collection
    walked all of them (about 35 ms here) and stalled the request being
    served. Frozen, they are never scanned again (``gc.freeze``, which the gc
    documentation suggests for servers that fork workers).
    """
    gc.freeze()


def server_options(
    *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> dict[str, Any]:
    """gunicorn settings for the issuer; ``deploy/gunicorn.conf.py`` uses the same.

    ``host``/``port`` override ``AGEVERIFY_BIND`` (default 127.0.0.1:8000);
    ``workers`` overrides ``AGEVERIFY_WORKERS`` (default 2 × CPUs + 1, at most 8).
    """
    from ageverify.web import metrics

    bind = os.environ.get("AGEVERIFY_BIND", DEFAULT_BIND)
    if host is not None or port is not None:
        default_host, _, default_port = bind.rpartition(":")
        bind = f"{host or default_host}:{port or default_port}"
    if workers is None:
        configured = os.environ.get("AGEVERIFY_WORKERS")
        # gunicorn's advice. Measured on 2 CPUs: CPUs + 1 workers serve more
        # verifications per second (fewer processes taking turns); their p99
        # at 70% of that rate was better on SQLite and worse on PostgreSQL,
        # by less than the machine's own swings. No case to leave the advice.
        workers = int(configured) if configured else min(2 * multiprocessing.cpu_count() + 1, 8)
    return {
        "bind": bind,
        "workers": workers,
        # Sync workers: every request is short and CPU-bound (signature checks);
        # put a buffering proxy or load balancer in front for slow clients.
        "worker_class": "sync",
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        # The application writes its own access line (no query strings, no
        # client addresses); gunicorn's would carry both.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 4094,
        "limit_request_fields": 50,
        "limit_request_field_size": 8190,
        # Recycling a worker is a safety net against leaks, and it is not free:
        # the new worker imports and builds the app again (0.8 s of CPU
        # measured on an idle machine) while the others carry its share. At
        # 10,000 requests, a worker serving 200 a second would be recycled
        # every minute. The caches are bounded and worker memory stays flat
        # under load (python -m benchmarks.load), so recycle rarely.
        "max_requests": 200_000,
        "max_requests_jitter": 20_000,
        "proc_name": "ageverify",
        # gunicorn 27's runtime control socket defaults to one path per user,
        # shared by every instance; nothing here needs it.
        "control_socket_disable": True,
        # Metrics of all workers in one scrape (see prepare_metrics_folder).
        "child_exit": metrics.child_exit,
        "on_exit": remove_metrics_folder,
        "post_worker_init": freeze_startup_objects,
    }


@cli.command()
@click.option(
    "--host",
    default=None,
    help="Address to listen on [default: from AGEVERIFY_BIND, else 127.0.0.1].",
)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: 8000].")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes [default: 2 × CPUs + 1, at most 8].",
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the issuer under gunicorn (the settings of deploy/gunicorn.conf.py).

    The application is built once before the workers start, so a missing
    setting or signing key stops here with a message saying what to set.
    """
    from gunicorn.app.base import BaseApplication

    prepare_metrics_folder()
    from ageverify import create_app

    # Fail closed before forking: each worker would otherwise fail on its own.
    try:
        checked = create_app()
    except BaseException:
        remove_metrics_folder(None)  # gunicorn, which would, never ran
        raise
    settings = checked.extensions["ageverify"].settings
    checked.extensions["ageverify"].close()
    options = server_options(host=host, port=port, workers=workers)
    served_port = options["bind"].rpartition(":")[2]
    issuer_port = str(urlsplit(settings.issuer_url).port or "")
    if settings.development and served_port != issuer_port:
        click.echo(
            f"Warning: the issuer URL is {settings.issuer_url} but this server listens on "
            f"port {served_port}; credentials name the issuer URL, so set "
            f"AGEVERIFY_ISSUER_URL=http://127.0.0.1:{served_port} to match.",
            err=True,
        )

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                # Settings this gunicorn version does not know are left out.
                if name in self.cfg.settings:
                    self.cfg.set(name, value)

        def load(self) -> Any:
            return create_app()

    click.echo(f"ageverify listening on http://{options['bind']} ({options['workers']} workers)")
    Server().run()


# --- keys -------------------------------------------------------------------


@cli.group(cls=_Group)
def keys() -> None:
    """Credential signing keys (one per epoch) and Privacy Pass token keys (one per
    age threshold per epoch), generated ahead, published by id."""


@keys.command("generate-ahead")
@click.option(
    "--privacy-pass/--no-privacy-pass",
    default=True,
    show_default=True,
    help="Generate the Privacy Pass token keys too.",
)
def keys_generate_ahead(privacy_pass: bool) -> None:
    """Make sure the current epoch and the next AGEVERIFY_KEYS_AHEAD have their keys.

    One credential signing key per epoch and, with --privacy-pass, one token
    key per age threshold per epoch. Run at least once per epoch (e.g. daily
    from cron) so that platforms and wallets cache a key before it signs.
    """
    with _runtime() as state:
        generated = state.signing_keys.generate_ahead(state.clock())
        token_keys = state.token_keys.generate_ahead(state.clock()) if privacy_pass else []
    for kid in generated:
        click.echo(f"generated {kid}")
    for token_key_id in token_keys:
        click.echo(f"generated privacy-pass {token_key_id}")
    click.echo(f"{len(generated)} key(s) generated")
    if privacy_pass:
        click.echo(f"{len(token_keys)} Privacy Pass token key(s) generated")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(as_json: bool) -> None:
    """List every key: kind, id, status, epoch and how long it stays published.

    Credential signing keys have kind "credential" and a kid; Privacy Pass
    token keys have kind "privacy-pass", a token_key_id and an age threshold.
    """
    with _runtime() as state:
        signing = state.signing_keys.list()
        token_keys = state.token_keys.list()
    if as_json:
        _print_json(
            [{"kind": "credential", **row} for row in signing]
            + [{"kind": "privacy-pass", **row} for row in token_keys]
        )
        return
    for row in signing:
        click.echo(
            f"credential    {row['kid']}  {row['status']:<8}  "
            f"epoch {_when(row['epoch_start'])} .. {_when(row['epoch_end'])}  "
            f"published until {_when(row['verify_until'])}"
        )
    for row in token_keys:
        click.echo(
            f"privacy-pass  {row['token_key_id']}  {row['status']:<8}  "
            f"epoch {_when(row['not_before'])} .. {_when(row['not_after'])}  "
            f"published until {_when(row['published_until'])}  age {row['threshold']}+"
        )


def _is_token_key(state: Any, key_id: str) -> bool:
    return any(row["token_key_id"] == key_id for row in state.token_keys.list())


@keys.command("retire")
@click.argument("kid")
def keys_retire(kid: str) -> None:
    """Stop key KID signing; it stays published until what it signed expires.

    KID is a credential key's kid or a Privacy Pass token_key_id. Run
    `ageverify keys generate-ahead` afterwards to replace it. An id that
    starts with "-" goes after "--": `ageverify keys retire -- -AbC...`.
    """
    with _runtime() as state:
        if _is_token_key(state, kid):
            state.token_keys.retire(kid)
        else:
            state.signing_keys.retire(kid)
    click.echo(f"retired {kid}")


@keys.command("revoke")
@click.argument("kid")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def keys_revoke(kid: str, yes: bool) -> None:
    """Revoke KID: unpublished at once, private key deleted.

    KID is a credential key's kid (removed from the JWKS) or a Privacy Pass
    token_key_id (removed from the token directory). Every credential or
    token it signed stops verifying once platforms' caches expire. Use it
    when a key may be compromised. An id that starts with "-" goes after
    "--": `ageverify keys revoke --yes -- -AbC...`.
    """
    if not yes:
        click.confirm(
            f"Revoke {kid}? Credentials or tokens it signed will stop verifying", abort=True
        )
    with _runtime() as state:
        if _is_token_key(state, kid):
            state.token_keys.revoke(kid)
        else:
            state.signing_keys.revoke(kid)
    click.echo(f"revoked {kid}")


# --- verifiers --------------------------------------------------------------


@cli.group(cls=_Group)
def verifiers() -> None:
    """The registry of accredited verifiers (who may attest ages, how, with which keys)."""


def _read_jwks(path: Path) -> list[dict[str, Any]]:
    from ageverify.formats import strictjson

    document = strictjson.loads(path.read_bytes())
    if isinstance(document, dict) and "keys" in document:
        document = document["keys"]
    elif isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise click.BadParameter("expected a JWK, a list of JWKs or a JWK Set", param_hint="--jwks")
    return document


def _print_verifier(record: Any) -> None:
    click.echo(
        f"{record.id}  {record.status:<9}  {record.name}  methods: {', '.join(record.methods)}"
    )
    for key in record.keys:
        click.echo(f"    key {key.kid} ({key.alg})")


@verifiers.command("add")
@click.argument("verifier_id", metavar="ID")
@click.option("--name", required=True, help="Display name of the verifier.")
@click.option(
    "--jwks",
    "jwks_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with the verifier's public key(s): a JWK, a list of JWKs or a JWK Set.",
)
@click.option(
    "--method",
    "methods",
    required=True,
    multiple=True,
    help="An accredited method (repeat for several): id_document, eid, bank, "
    "mobile_operator, facial_estimation, credit_card, other.",
)
def verifiers_add(verifier_id: str, name: str, jwks_path: Path, methods: tuple[str, ...]) -> None:
    """Register verifier ID; ID is the `iss` its attestations carry."""
    from ageverify.issuer import verifiers as registry
    from ageverify.storage.db import transaction

    jwks = _read_jwks(jwks_path)
    with _runtime() as state, transaction(state.sessions) as session:
        record = registry.add_verifier(
            session, id=verifier_id, name=name, jwks=jwks, methods=list(methods), now=time.time()
        )
    _print_verifier(record)


@verifiers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verifiers_list(as_json: bool) -> None:
    """List registered verifiers."""
    from ageverify.issuer import verifiers as registry

    with _runtime() as state, state.sessions() as session:
        records = registry.list_verifiers(session)
    if as_json:
        _print_json([record.as_dict() for record in records])
        return
    for record in records:
        _print_verifier(record)


@verifiers.command("show")
@click.argument("verifier_id", metavar="ID")
def verifiers_show(verifier_id: str) -> None:
    """Show verifier ID with its public keys, as JSON."""
    from ageverify.issuer import verifiers as registry

    with _runtime() as state, state.sessions() as session:
        record = registry.get_verifier(session, verifier_id)
    _print_json(record.as_dict())


@verifiers.command("suspend")
@click.argument("verifier_id", metavar="ID")
def verifiers_suspend(verifier_id: str) -> None:
    """Suspend verifier ID: its attestations are refused until resumed."""
    from ageverify.issuer import verifiers as registry
    from ageverify.storage.db import transaction

    with _runtime() as state, transaction(state.sessions) as session:
        record = registry.suspend(session, verifier_id)
    _print_verifier(record)


@verifiers.command("resume")
@click.argument("verifier_id", metavar="ID")
def verifiers_resume(verifier_id: str) -> None:
    """Resume the suspended verifier ID."""
    from ageverify.issuer import verifiers as registry
    from ageverify.storage.db import transaction

    with _runtime() as state, transaction(state.sessions) as session:
        record = registry.resume(session, verifier_id)
    _print_verifier(record)


# --- admin tokens -----------------------------------------------------------


@cli.group("admin-tokens", cls=_Group)
def admin_tokens() -> None:
    """Bearer tokens for the /v1/admin API."""


@admin_tokens.command("create")
@click.argument("name")
def admin_tokens_create(name: str) -> None:
    """Create an admin token called NAME and print it (shown only this once)."""
    from ageverify.issuer import admin_tokens as tokens
    from ageverify.storage.db import transaction

    with _runtime() as state, transaction(state.sessions) as session:
        token = tokens.create_token(session, name, now=time.time())
    click.echo(token)
    click.echo(
        "Store it now: only its hash is kept. Send it as 'Authorization: Bearer <token>'.",
        err=True,
    )


@admin_tokens.command("list")
def admin_tokens_list() -> None:
    """List admin tokens (ids and names; secrets are never stored)."""
    from ageverify.issuer import admin_tokens as tokens

    with _runtime() as state, state.sessions() as session:
        records = tokens.list_tokens(session)
    for record in records:
        state_text = "revoked " + _when(record.revoked_at) if record.revoked_at else "active"
        click.echo(f"{record.id}  {record.name}  created {_when(record.created_at)}  {state_text}")


@admin_tokens.command("revoke")
@click.argument("token_id", metavar="ID")
def admin_tokens_revoke(token_id: str) -> None:
    """Revoke admin token ID (the part between 'avat_' and '.').

    An ID that starts with "-" goes after "--": `ageverify admin-tokens revoke -- -AbC...`.
    """
    from ageverify.issuer import admin_tokens as tokens
    from ageverify.storage.db import transaction

    with _runtime() as state, transaction(state.sessions) as session:
        tokens.revoke_token(session, token_id, now=time.time())
    click.echo(f"revoked {token_id}")


# --- demo -------------------------------------------------------------------


@cli.command()
@click.option(
    "--instance-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A development instance to run against [default: the one AGEVERIFY_INSTANCE_PATH "
    "or ./instance names if it was set up with `ageverify init --dev`, else a temporary one].",
)
def demo(instance_path: Path | None) -> None:
    """Walk through the whole story against a development instance, step by step.

    A demo verifier attests an adult; the wallet gets a batch of credentials;
    two platforms each verify a presentation; a replay is refused; a
    15-year-old is refused by an 18+ platform and accepted by a 13-17 one.
    """
    from ageverify.demo import run_demo

    run_demo(click.echo, instance_path=instance_path)


# --- audit ------------------------------------------------------------------

# Bounds what one response may cost the auditor: the largest tlog-tiles
# resource, a full entry bundle, is 256 entries of at most 64 KiB.
_MAX_RESPONSE = 256 * 65_537


def _http_fetch(url: str) -> bytes:
    """GET ``url`` as the SDK fetches (https, or http to loopback; no redirects); return the body.

    Anything but a 200 with a body of bounded size raises ``OSError`` or ``ValueError``.
    """
    import urllib.request

    from ageverify.sdk.verifier import is_allowed_url, no_redirect_opener

    if not is_allowed_url(url):
        raise ValueError("only https URLs, or http to a loopback host, are fetched")
    request = urllib.request.Request(url, headers={"User-Agent": "ageverify-audit"})  # noqa: S310
    with no_redirect_opener.open(request, timeout=30) as response:
        if response.status != 200:
            raise OSError(f"HTTP status {response.status}")
        body: bytes = response.read(_MAX_RESPONSE + 1)
    if len(body) > _MAX_RESPONSE:
        raise ValueError("response too large")
    return body


@cli.command("audit")
@click.argument("issuer_url")
@click.option("--vkey", default=None, help="Pin the log's verifier key (name+keyid+base64).")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON file with the last checkpoint audited; read if present, then updated.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--max-key-lifetime",
    type=click.IntRange(1),
    default=400,
    show_default=True,
    help="Policy: the longest a credential key may be valid, in days.",
)
@click.option(
    "--max-token-keys",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Policy: the most live Privacy Pass keys per age threshold (K).",
)
def audit_command(
    issuer_url: str,
    vkey: str | None,
    state_path: Path | None,
    as_json: bool,
    max_key_lifetime: int,
    max_token_keys: int,
) -> None:
    """Audit the transparency log of the issuer at ISSUER_URL and the keys it serves.

    Checks the checkpoint's signature (against --vkey, else the key recorded
    in --state, else the discovery document's, trusted on first use),
    consistency with the checkpoint in --state, the root recomputed from every
    entry, that every served key is logged and live, and the key policy.
    Exits non-zero naming the failed checks.
    """
    from ageverify.translog.audit import AuditPolicy, AuditState, audit, log_origin

    try:
        log_origin(issuer_url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="ISSUER_URL") from None
    state = None
    if state_path is not None and state_path.exists():
        try:
            state = AuditState.from_json(state_path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--state") from None
    policy = AuditPolicy(
        max_credential_key_lifetime=max_key_lifetime * 86_400,
        max_token_keys_per_threshold=max_token_keys,
    )
    with click.progressbar(length=1, label="Fetching the log", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        report = audit(
            _http_fetch,
            issuer_url=issuer_url,
            vkey=vkey,
            state=state,
            policy=policy,
            progress=progress,
        )
    click.echo(report.to_json() if as_json else report.render().rstrip("\n"))
    recorded = False
    if state_path is not None and report.state is not None and report.state != state:
        state_path.write_text(report.state.to_json(), encoding="utf-8")
        recorded = True
    if report.vkey_source == "discovery":
        where = (
            f"recorded in {state_path}" if recorded else "pin it with --vkey, keep it with --state"
        )
        click.echo(f"Log key trusted on first use: {report.vkey} ({where})", err=True)
    if not report.passed:
        names = ", ".join(check.name for check in report.failures)
        raise click.ClickException(f"audit failed: {names}")
