"""The issuer on PostgreSQL: its main paths through the app, and writers in several processes.

``app`` here is the development issuer of tests/conftest.py on a new
database of the test PostgreSQL server (tests/pg.py), so the fixtures built
on it there (``attest``, ``issue``, ``admin_token``, ``client``) work
unchanged. "Processes" are threads with an engine each: every engine has
its own connections, which is all PostgreSQL's locks see of a process.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from presenting import HeldCredential, HolderKeys, MovableClock
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ageverify import create_app
from ageverify.cli import cli
from ageverify.crypto import FileKeyStore
from ageverify.demo import DEMO_METHOD, DEMO_VERIFIER_ID, DemoVerifier, register_demo_verifier
from ageverify.formats import jose
from ageverify.issuer import admin_tokens
from ageverify.issuer.keys import SigningKeys
from ageverify.sdk import Holder
from ageverify.storage import make_engine, schema, session_factory, transaction
from ageverify.storage.models import IssuerNonce, LogCheckpoint, LogEntry, TokenQuota
from ageverify.translog import merkle
from ageverify.translog.audit import audit
from ageverify.translog.checkpoint import open_checkpoint
from ageverify.translog.log import TransparencyLog
from ageverify.web.runtime import Runtime

# Small enough to reach in a test (the smallest the settings accept).
MIN_COUNT = 2
# Noon UTC, so that a test's issuances never straddle midnight.
NOON = datetime.datetime(2026, 11, 20, 12, tzinfo=datetime.UTC)
DAY = 86_400
AUDIENCE = "https://chat.example"
NONCE = "Zm9vYmFyYmF6cXV4"


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock, at noon UTC on a fixed day."""
    return MovableClock(NOON.timestamp())


@pytest.fixture
def app(instance: Path, clock: MovableClock, pg_url: str) -> Iterator[Flask]:
    """The development issuer of tests/conftest.py, on a new PostgreSQL database.

    Keys for the current epoch only: fewer keys to generate and log per test.
    """
    application = create_app(
        {
            "env": "development",
            "instance_path": instance,
            "database_url": pg_url,
            "stats_min_count": MIN_COUNT,
            "keys_ahead": 0,
        },
        clock=clock,
    )
    state = application.extensions["ageverify"]
    register_demo_verifier(state.sessions, DemoVerifier.load_or_create(instance), now=clock())
    yield application
    state.close()


@pytest.fixture
def state(app: Flask) -> Runtime:
    """The running parts of ``app``."""
    runtime: Runtime = app.extensions["ageverify"]
    return runtime


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _keystore(state: Runtime) -> FileKeyStore:
    return FileKeyStore(state.settings.keys_dir, state.settings.passphrase_bytes)


class ThroughClient:
    """HTTP calls of the auditor and the wallet SDK, answered by the app's test client."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def fetch(self, url: str) -> bytes:
        response = self.client.get(urlsplit(url).path)
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        return bytes(response.get_data())

    def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        response = self.client.post(urlsplit(url).path, data=body, content_type="application/json")
        return response.status_code, bytes(response.get_data())

    def post_request(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        response = self.client.post(urlsplit(url).path, data=body, headers=dict(headers))
        return response.status_code, bytes(response.get_data())


def _audited_size(client: FlaskClient, state: Runtime) -> int:
    """Audit the app's log through its test client; return the size of the checkpoint audited."""
    report = audit(
        ThroughClient(client).fetch, issuer_url=state.settings.issuer_url, now=state.clock()
    )
    assert report.passed, report.render()
    assert report.size is not None
    return report.size


def _in_processes(
    state: Runtime, count: int, work: Callable[[sessionmaker[Session]], Any]
) -> list[Any]:
    """Run ``work(sessions)`` in ``count`` threads at once, each with an engine of its own.

    Each thread's sessions record key events in a log object of their own,
    over the same database and key store, as another worker process's do.
    """
    url = state.engine.url.render_as_string(hide_password=False)
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(slot: int) -> None:
        engine = make_engine(url)
        try:
            sessions = session_factory(engine)
            log = TransparencyLog(sessions, _keystore(state), state.settings.issuer_url)
            log.attach(sessions)
            start.wait()
            results[slot] = work(sessions)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


# --- the issuer's main paths ----------------------------------------------------------


def test_start_up_migrated_the_empty_database(state: Runtime) -> None:
    assert state.engine.dialect.name == "postgresql"
    with state.engine.connect() as connection:
        assert schema.current_revision(connection) == schema.head_revision()


def test_a_batch_is_issued_once_per_attestation(
    client: FlaskClient, attest: Callable[..., str], clock: MovableClock
) -> None:
    attestation = attest(age=30)
    keys = HolderKeys.generate(3)
    issued = client.post(
        "/v1/credentials", json={"attestation": attestation, "holder_keys": keys.jwks}
    )
    assert issued.status_code == 200, issued.json
    held = keys.bind(issued.json["credentials"])
    assert len(held) == 3
    verified = client.post(
        "/v1/presentations/verify",
        json={
            "presentation": held[2].present(AUDIENCE, NONCE, iat=int(clock())),
            "audience": AUDIENCE,
            "nonce": NONCE,
            "min_age": 18,
        },
    )
    assert (verified.status_code, verified.json["facts"]) == (200, {"age_over_18": True})

    again = client.post(
        "/v1/credentials",
        json={"attestation": attestation, "holder_keys": HolderKeys.generate(1).jwks},
    )
    assert (again.status_code, again.json["code"]) == (409, "attestation-replayed")


def test_issuers_racing_record_each_attestation_once_and_count_every_batch(
    state: Runtime, attest: Callable[..., str]
) -> None:
    """Issuance commits without the writers' lock: the database alone keeps it exact.

    Eight processes spend one attestation at the same moment (one wins), then
    eight distinct ones, all the first issuances of the day (the counts'
    first insert races too).
    """
    from ageverify.errors import IssuanceError
    from ageverify.issuer.service import Issuer
    from ageverify.storage.models import IssuanceCount

    keys = HolderKeys.generate(1).jwks

    def issuing(tokens: list[str]) -> Callable[[sessionmaker[Session]], str]:
        def work(sessions: sessionmaker[Session]) -> str:
            signing = SigningKeys(sessions, _keystore(state), state.settings, state.clock)
            issuer = Issuer(state.settings, sessions, signing, state.clock)
            try:
                issuer.issue_credentials(tokens.pop(), keys)
            except IssuanceError as error:
                return error.code
            return "issued"

        return work

    same = attest(age=30)
    outcomes = _in_processes(state, 8, issuing([same] * 8))
    assert sorted(outcomes) == ["attestation-replayed"] * 7 + ["issued"]
    distinct = [attest(age=30) for _ in range(8)]
    assert _in_processes(state, 8, issuing(distinct)) == ["issued"] * 8

    with state.sessions() as session:
        counted = session.scalars(
            select(IssuanceCount.count).where(
                IssuanceCount.threshold == 18, IssuanceCount.over.is_(True)
            )
        ).all()
    # Spread over shards, exact in sum.
    assert sum(counted) == 9


def test_counts_are_spread_over_shards_and_add_up_to_every_issuance(
    state: Runtime, attest: Callable[..., str]
) -> None:
    from ageverify.issuer.service import COUNT_SHARDS, Issuer
    from ageverify.issuer.stats import issuance_stats
    from ageverify.storage.models import IssuanceCount

    keys = HolderKeys.generate(1).jwks
    for _ in range(40):
        state.issuer.issue_credentials(attest(age=30), keys)
    # One shard only, as before shards: one row per fact.
    single = Issuer(state.settings, state.sessions, state.signing_keys, state.clock, count_shards=1)
    for _ in range(3):
        single.issue_credentials(attest(age=16), keys)
    single.close()

    with state.sessions() as session:
        rows = session.execute(
            select(IssuanceCount.threshold, IssuanceCount.over, IssuanceCount.shard)
        ).all()
        over_18 = {shard for threshold, over, shard in rows if threshold == 18 and over}
        # 40 issuances all in one of 32 shards: a chance of 32**-39.
        assert len(over_18) > 1 and over_18 <= set(range(COUNT_SHARDS))
        # The 16-year-olds' facts took one row each, in shard 0.
        assert {shard for threshold, over, shard in rows if threshold == 18 and not over} == {0}
        day = datetime.datetime.fromtimestamp(state.clock(), datetime.UTC).date()
        stats = issuance_stats(
            session,
            first_day=day,
            last_day=day,
            today=day + datetime.timedelta(days=1),
            minimum_count=2,
        )
    cells = {(cell.threshold, cell.over): cell.count for cell in stats.cells}
    assert cells[(18, True)] == 40 and cells[(18, False)] == 3 and cells[(13, True)] == 43


def test_count_shards_must_fit_a_smallint(state: Runtime) -> None:
    from ageverify.issuer.service import Issuer

    for bad in (0, 32_768):
        with pytest.raises(ValueError, match="count_shards"):
            Issuer(state.settings, state.sessions, state.signing_keys, count_shards=bad)


def _after_each_signing(monkeypatch: pytest.MonkeyPatch, then: Callable[[str], None]) -> None:
    """Make the issuer call ``then(kid)`` after signing each batch, before recording it."""
    from ageverify.issuer import service

    sign = service.issue_batch

    def signing(**kwargs: Any) -> list[str]:
        batch = sign(**kwargs)
        then(kwargs["kid"])
        return batch

    monkeypatch.setattr(service, "issue_batch", signing)


def _recorded(state: Runtime) -> tuple[int, list[int]]:
    """How many jtis are recorded, and every issuance count."""
    from ageverify.storage.models import IssuanceCount, UsedAttestation

    with state.sessions() as session:
        jtis = len(session.scalars(select(UsedAttestation.jti)).all())
        return jtis, list(session.scalars(select(IssuanceCount.count)))


def test_a_key_retired_while_a_batch_is_signed_signs_it_again_and_counts_it_once(
    state: Runtime, attest: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record-and-count statement writes nothing for a key no longer current."""
    signers: list[str] = []

    def retire_the_first(kid: str) -> None:
        signers.append(kid)
        if len(signers) == 1:
            state.signing_keys.retire(kid)
            state.signing_keys.generate_ahead()

    _after_each_signing(monkeypatch, retire_the_first)
    credentials = state.issuer.issue_credentials(attest(age=30), HolderKeys.generate(2).jwks)
    header = json.loads(jose.b64url_decode(credentials[0].split(".")[0]))
    assert len(signers) == 2 and signers[0] != signers[1] == header["kid"]
    jtis, counts = _recorded(state)
    # Every fact counted once, by the second batch only.
    assert jtis == 1 and counts and set(counts) == {1}


def test_a_key_revoked_while_a_batch_is_signed_records_nothing(
    state: Runtime, attest: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ageverify.errors import IssuanceError

    def revoke_all(kid: str) -> None:
        for key in state.signing_keys.list():
            if key["status"] != "revoked":
                state.signing_keys.revoke(key["kid"])

    _after_each_signing(monkeypatch, revoke_all)
    with pytest.raises(IssuanceError) as refused:
        state.issuer.issue_credentials(attest(age=30), HolderKeys.generate(1).jwks)
    assert refused.value.code == "no-signing-key"
    assert _recorded(state) == (0, [])


def test_keys_are_generated_ahead_and_replaced_once_by_processes_racing(
    client: FlaskClient, state: Runtime, admin_token: str
) -> None:
    listed = state.signing_keys.list()
    assert len(listed) == state.settings.keys_ahead + 1
    assert {row["status"] for row in listed} == {"active"}
    assert state.signing_keys.generate_ahead() == []
    served = {key["kid"] for key in client.get("/.well-known/jwks.json").json["keys"]}
    assert served == {row["kid"] for row in listed}

    current = state.signing_keys.current().kid
    revoked = client.post(f"/v1/admin/keys/{current}/revoke", headers=_auth(admin_token))
    assert revoked.status_code == 200

    # Three processes find the current epoch without a key at the same moment:
    # their transactions run one after the other, so only the first makes one.
    def generate(sessions: sessionmaker[Session]) -> list[str]:
        keys = SigningKeys(sessions, _keystore(state), state.settings, state.clock)
        return keys.generate_ahead()

    created = [kid for kids in _in_processes(state, 3, generate) for kid in kids]
    assert len(created) == 1
    assert state.signing_keys.current().kid == created[0]
    _audited_size(client, state)


def test_verifier_registry(
    client: FlaskClient, admin_token: str, attest: Callable[..., str]
) -> None:
    body = {
        "id": "bank-of-example",
        "name": "Bank of Example",
        "jwks": {"keys": [jose.public_jwk(Ed25519PrivateKey.generate().public_key())]},
        "methods": ["bank"],
    }
    created = client.post("/v1/admin/verifiers", json=body, headers=_auth(admin_token))
    assert (created.status_code, created.json["status"]) == (201, "active")
    again = client.post("/v1/admin/verifiers", json=body, headers=_auth(admin_token))
    assert (again.status_code, again.json["code"]) == (409, "conflict")
    listed = client.get("/v1/admin/verifiers", headers=_auth(admin_token)).json["verifiers"]
    assert {v["id"] for v in listed} == {DEMO_VERIFIER_ID, "bank-of-example"}

    def issue() -> Any:
        body = {"attestation": attest(), "holder_keys": HolderKeys.generate(1).jwks}
        return client.post("/v1/credentials", json=body)

    path = f"/v1/admin/verifiers/{DEMO_VERIFIER_ID}"
    assert client.post(path + "/suspend", headers=_auth(admin_token)).status_code == 200
    assert issue().json["code"] == "attestation-verifier-suspended"
    assert client.post(path + "/resume", headers=_auth(admin_token)).status_code == 200
    assert issue().status_code == 200


def test_every_change_is_logged_under_a_signed_checkpoint(
    client: FlaskClient, state: Runtime, admin_token: str
) -> None:
    before = _audited_size(client, state)
    state.token_keys.revoke(state.token_keys.list()[0]["token_key_id"])
    # One entry more, and the served checkpoint covers it.
    assert _audited_size(client, state) == before + 1
    with state.sessions() as session:
        last = session.scalar(select(LogEntry.index).order_by(LogEntry.index.desc()).limit(1))
    assert last == before


def test_stats_count_issuances_and_suppress_small_cells(
    client: FlaskClient, issue: Callable[..., list[HeldCredential]], clock: MovableClock
) -> None:
    for age in (30, 30, 16):
        issue(count=1, age=age)
    clock.advance(DAY)
    body = client.get("/v1/stats").json
    day = NOON.date().isoformat()
    cells = {(c["day"], c["method"], c["threshold"], c["over"]): c["count"] for c in body["days"]}
    assert cells == {
        (day, DEMO_METHOD, 13, True): 3,
        (day, DEMO_METHOD, 15, True): 3,
        (day, DEMO_METHOD, 16, True): 3,
        (day, DEMO_METHOD, 18, True): 2,
        (day, DEMO_METHOD, 21, True): 2,
    }
    # Over 18 false and over 21 false were attested once each: below MIN_COUNT.
    assert body["suppressed"] == 2


def test_privacy_pass_tokens_consume_nonces_and_count_the_quota(
    client: FlaskClient, state: Runtime, attest: Callable[..., str], clock: MovableClock
) -> None:
    http = ThroughClient(client)
    holder = Holder(fetch=http.fetch, post=http.post, post_request=http.post_request, clock=clock)
    issuer = state.settings.issuer_url
    holder.request_credentials(issuer, attest(age=30), count=1)
    assert len(holder.fetch_tokens(issuer, 18, 2)) == 2
    with state.sessions() as session:
        assert session.scalars(select(IssuerNonce.used)).all() == [True, True]
        assert session.scalars(select(TokenQuota.count)).all() == [2]


@pytest.mark.parametrize("member", ["iss", "kid"])
def test_text_holding_a_nul_character_is_refused_as_on_sqlite(
    client: FlaskClient,
    admin_token: str,
    issue: Callable[..., list[HeldCredential]],
    member: str,
) -> None:
    """PostgreSQL cannot compare text holding NUL: the codes SQLite gives, never a 500."""
    header = {"alg": "ES256", "typ": "age-attestation+jwt", "kid": "demo"}
    claims = {"iss": "demo-verifier", "aud": "http://127.0.0.1:8000", "jti": "j" * 32}
    (header if member == "kid" else claims)[member] += "\x00"
    # Looked up before its signature is checked, so anyone can send it.
    token = (
        ".".join(jose.b64url_encode(json.dumps(part).encode()) for part in (header, claims))
        + "."
        + jose.b64url_encode(bytes(64))
    )
    body = {"attestation": token, "holder_keys": HolderKeys.generate(1).jwks}
    response = client.post("/v1/credentials", json=body)
    expected = "attestation-unknown-key" if member == "kid" else "attestation-unknown-verifier"
    assert (response.status_code, response.json["code"]) == (403, expected)
    for path in ("/v1/admin/verifiers/x%00y", "/v1/admin/keys/x%00y/retire"):
        method = client.get if "verifiers" in path else client.post
        assert method(path, headers=_auth(admin_token)).status_code == 400
    # The refusal left nothing behind: the next issuance goes through.
    assert len(issue(count=1)) == 1


# --- writers in several processes -------------------------------------------------------


@pytest.mark.parametrize("serialised", [True, False], ids=["transaction-lock", "log-lock-only"])
def test_concurrent_appends_leave_no_gap_and_no_duplicate(
    client: FlaskClient, state: Runtime, serialised: bool
) -> None:
    """Four processes append at once.

    With ``serialised=False`` the transactions skip the writers' lock, and
    only the one the log takes before counting its entries orders them.
    """
    start = state.log.covered_size()
    workers, appends = 4, 8

    def append(sessions: sessionmaker[Session]) -> None:
        for n in range(appends):
            with transaction(sessions, serialised=serialised) as session:
                admin_tokens.create_token(session, f"{threading.get_ident()}-{n}")

    _in_processes(state, workers, append)

    size = start + workers * appends
    with state.sessions() as session:
        indexes = session.scalars(select(LogEntry.index).order_by(LogEntry.index)).all()
        entries = session.scalars(select(LogEntry.data).order_by(LogEntry.index)).all()
        checkpoints = session.execute(
            select(LogCheckpoint.size, LogCheckpoint.root, LogCheckpoint.note)
        ).all()
    assert indexes == list(range(size))
    names = {json.loads(entry)["name"] for entry in entries[start:]}
    assert len(names) == workers * appends
    # A checkpoint for every size, each signed and the root of exactly that prefix.
    leaves = [merkle.leaf_hash(bytes(entry)) for entry in entries]
    assert sorted(row.size for row in checkpoints) == list(range(1, size + 1))
    for row in checkpoints:
        checkpoint, _ = open_checkpoint(row.note.encode(), state.log.origin, [state.log.verifier])
        assert (checkpoint.size, checkpoint.root_hash) == (row.size, bytes(row.root))
        assert bytes(row.root) == merkle.root(leaves[: row.size])
    assert _audited_size(client, state) == size


def test_transactions_read_then_write_without_losing_updates(state: Runtime) -> None:
    """Each process reads a counter and writes it back plus one; no increment is lost."""
    with transaction(state.sessions) as session:
        session.add(TokenQuota(credential="c" * 64, day="2026-11-20", count=0))

    def bump(sessions: sessionmaker[Session]) -> None:
        for _ in range(5):
            with transaction(sessions) as session:
                row = session.get(TokenQuota, ("c" * 64, "2026-11-20"))
                assert row is not None
                row.count = row.count + 1

    _in_processes(state, 4, bump)
    with state.sessions() as session:
        assert session.scalar(select(TokenQuota.count)) == 20


# --- the command line -------------------------------------------------------------------


def test_db_commands_on_postgresql(postgres: Any) -> None:
    url = postgres.create_schema().replace("ageverify@", "ageverify:s3cret@")
    runner = CliRunner(env={"AGEVERIFY_DATABASE_URL": url})
    head = schema.head_revision()

    before = runner.invoke(cli, ["db", "current"])
    assert (before.exit_code, before.output) == (
        0,
        f"none (latest: {head}; run `ageverify db upgrade`)\n",
    )
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from nothing to revision {head}" in upgraded.output
    # The password is never printed.
    assert "s3cret" not in upgraded.output and "ageverify:***@" in upgraded.output
    assert runner.invoke(cli, ["db", "current"]).output == f"{head} (latest)\n"
