"""The issuer's transparency log: every key event appended in the transaction of its change."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.crypto import FileKeyStore
from ageverify.errors import AgeVerifyError
from ageverify.formats.jose import public_jwk
from ageverify.issuer import admin_tokens
from ageverify.issuer import verifiers as registry
from ageverify.issuer.keys import SigningKeys
from ageverify.issuer.tokens import TokenKeys
from ageverify.storage import make_engine, session_factory, transaction
from ageverify.storage.models import AdminToken, LogCheckpoint, LogEntry, SigningKey
from ageverify.translog import events, merkle, tiles
from ageverify.translog.checkpoint import open_checkpoint
from ageverify.translog.log import LOG_KEY_NAME, TransparencyLog, log_origin, record
from ageverify.translog.note import Verifier

ISSUER = "https://issuer.test"
PASSPHRASE = "log test passphrase"  # noqa: S105 - a test fixture

# Every event type, in the order the scenario below produces them.
SCENARIO_TYPES = [
    "log-key",
    "credential-key-published",
    "credential-key-retired",
    "credential-key-revoked",
    "token-key-published",
    "token-key-retired",
    "token-key-revoked",
    "verifier-registered",
    "verifier-key-added",
    "verifier-key-removed",
    "verifier-suspended",
    "verifier-resumed",
    "admin-token-created",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # One epoch, no keys ahead and one threshold: one key of each kind per generation.
    return Settings.load(
        {},
        issuer_url=ISSUER,
        key_passphrase=PASSPHRASE,
        instance_path=tmp_path / "instance",
        keys_dir=tmp_path / "keys",
        database_url=f"sqlite:///{tmp_path / 'issuer.db'}",
        keys_ahead=0,
        thresholds=(18,),
    )


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def log(sessions: sessionmaker[Session], keystore: FileKeyStore) -> TransparencyLog:
    log = TransparencyLog(sessions, keystore, ISSUER)
    log.attach(sessions)
    return log


def verifier_jwk() -> dict[str, Any]:
    return public_jwk(ec.generate_private_key(ec.SECP256R1()))


def all_entries(log: TransparencyLog) -> list[bytes]:
    """Every entry the latest checkpoint covers, read back through entry bundles."""
    size = log.covered_size()
    found: list[bytes] = []
    for bundle in [t for t in tiles.tiles_for_size(size) if t.level == 0]:
        found += tiles.decode_entry_bundle(log.entries(bundle.index, bundle.width), bundle.width)
    return found


def opened_checkpoint(log: TransparencyLog) -> Any:
    checkpoint, _ = open_checkpoint(log.checkpoint(), log.origin, [log.verifier])
    return checkpoint


def run_scenario(
    sessions: sessionmaker[Session], keystore: FileKeyStore, settings: Settings
) -> tuple[SigningKeys, TokenKeys, str]:
    """One change of every kind the log records; returns the keys and the admin token."""
    now = time.time()
    signing = SigningKeys(sessions, keystore, settings)
    (kid,) = signing.generate_ahead(now)
    signing.retire(kid, now)
    signing.revoke(kid, now)
    token_keys = TokenKeys(sessions, keystore, settings)
    (token_key_id,) = token_keys.generate_ahead(now)
    token_keys.retire(token_key_id, now)
    token_keys.revoke(token_key_id, now)
    with transaction(sessions) as session:
        registry.add_verifier(
            session, id="bank-1", name="Bank", jwks=[verifier_jwk()], methods=["bank"], now=now
        )
        second = {**verifier_jwk(), "kid": "second"}
        registry.add_key(session, "bank-1", second, now=now)
        registry.remove_key(session, "bank-1", "second", now=now)
        registry.suspend(session, "bank-1", now=now)
        registry.resume(session, "bank-1", now=now)
        token = admin_tokens.create_token(session, "ops", now=now)
    return signing, token_keys, token


def test_origin_is_the_issuer_host_and_port_followed_by_log() -> None:
    assert log_origin("https://issuer.test") == "issuer.test/log"
    assert log_origin("http://127.0.0.1:8000") == "127.0.0.1:8000/log"


def test_every_event_type_appears_in_order(sessions, keystore, settings, log):
    run_scenario(sessions, keystore, settings)
    decoded = [json.loads(entry) for entry in all_entries(log)]
    assert [event["type"] for event in decoded] == SCENARIO_TYPES
    assert sorted(SCENARIO_TYPES) == sorted(events.EVENT_TYPES)
    assert all(event["v"] == 1 and isinstance(event["time"], int) for event in decoded)
    # Entry 0 names the log's own key.
    assert decoded[0]["vkey"] == log.vkey
    # Each entry is the canonical JSON of its event.
    assert all(
        events.encode(event) == entry
        for event, entry in zip(decoded, all_entries(log), strict=True)
    )


def test_keys_record_their_published_entry(sessions, keystore, settings, log):
    signing = SigningKeys(sessions, keystore, settings)
    (kid,) = signing.generate_ahead()
    with sessions() as session:
        row = session.get(SigningKey, kid)
        assert row is not None
        index = row.log_index
    event = json.loads(all_entries(log)[index])
    assert event["type"] == "credential-key-published"
    assert event["kid"] == kid
    assert event["alg"] == "ES256"
    assert event["jwk"] == row.public_jwk
    assert (event["epoch_start"], event["epoch_end"], event["verify_until"]) == (
        row.epoch_start,
        row.epoch_end,
        row.verify_until,
    )


def test_checkpoint_verifies_and_matches_the_entries(sessions, keystore, settings, log):
    run_scenario(sessions, keystore, settings)
    checkpoint = opened_checkpoint(log)
    entries = all_entries(log)
    assert checkpoint.origin == "issuer.test/log"
    assert checkpoint.size == len(entries) == len(SCENARIO_TYPES)
    assert checkpoint.root_hash == merkle.root([merkle.leaf_hash(e) for e in entries])
    # A checkpoint was signed for every size, each the root of that prefix.
    with sessions() as session:
        stored = session.execute(select(LogCheckpoint.size, LogCheckpoint.root)).all()
    assert sorted(size for size, _ in stored) == list(range(1, len(entries) + 1))
    for size, root in stored:
        assert root == merkle.root([merkle.leaf_hash(e) for e in entries[:size]])


def test_tiles_and_bundles_match_the_leaves_past_a_full_tile(sessions, log):
    # 600 entries: two full level-0 tiles, a partial one, and a partial level-1 tile.
    with transaction(sessions) as session:
        for n in range(599):
            record(session, events.verifier_suspended(verifier_id=f"v{n}", time=n))
    size = log.covered_size()
    assert size == 600
    entries = all_entries(log)
    expected = merkle.MerkleTree()
    for entry in entries:
        expected.append(entry)
    checkpoint = opened_checkpoint(log)
    assert checkpoint.size == size
    assert checkpoint.root_hash == expected.root()
    served = tiles.tiles_for_size(size)
    assert [t.path for t in served] == [
        "tile/0/000",
        "tile/0/001",
        "tile/0/002.p/88",
        "tile/1/000.p/2",
    ]
    for tile in served:
        hashes = tiles.decode_hash_tile(log.tile(tile.level, tile.index, tile.width), tile.width)
        level = tile.level * tiles.TILE_HEIGHT
        first = tile.index * tiles.TILE_WIDTH
        assert hashes == [expected.hash_at(level, first + i) for i in range(tile.width)]
    # A partial tile is a prefix of what is served for a narrower width, and
    # nothing beyond the checkpoint is served.
    assert log.tile(0, 2, 10) == log.tile(0, 2, 88)[: 10 * 32]
    for beyond in (lambda: log.tile(0, 2, 89), lambda: log.tile(0, 3), lambda: log.entries(2)):
        with pytest.raises(AgeVerifyError) as raised:
            beyond()
        assert raised.value.code == "log-tile-not-found"


def test_a_rolled_back_key_leaves_neither_entry_nor_key_file(
    sessions, keystore, settings, log, monkeypatch
):
    signing = SigningKeys(sessions, keystore, settings)

    def fail(self):
        raise RuntimeError("database went away")

    with monkeypatch.context() as patched:
        patched.setattr(Session, "commit", fail)
        with pytest.raises(RuntimeError):
            signing.generate_ahead()
    # Not even the log key of the first entry stays behind.
    assert not settings.keys_dir.exists() or list(settings.keys_dir.iterdir()) == []
    assert log.covered_size() == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(LogEntry)) == 0
    with pytest.raises(AgeVerifyError) as raised:
        log.checkpoint()
    assert raised.value.code == "log-unavailable"

    # Once the log has entries, a failed change adds none and keeps the log key.
    (kid,) = signing.generate_ahead()
    before = log.checkpoint()
    with monkeypatch.context() as patched:
        patched.setattr(Session, "commit", fail)
        with pytest.raises(RuntimeError):
            signing.revoke(kid)
    assert log.checkpoint() == before
    assert keystore.exists(LOG_KEY_NAME)
    assert signing.jwks()["keys"][0]["kid"] == kid


def test_a_key_is_served_only_while_a_checkpoint_covers_its_entry(
    sessions, keystore, settings, log
):
    signing = SigningKeys(sessions, keystore, settings)
    token_keys = TokenKeys(sessions, keystore, settings)
    (kid,) = signing.generate_ahead()
    (token_key_id,) = token_keys.generate_ahead()
    assert [key["kid"] for key in signing.jwks()["keys"]] == [kid]
    assert [key.token_key_id for key in token_keys.published()] == [token_key_id]
    # A key whose entry lies beyond the latest checkpoint is not served.
    with transaction(sessions) as session:
        session.execute(update(SigningKey).values(log_index=log.covered_size()))
    assert signing.jwks()["keys"] == []


def test_nothing_secret_is_logged(sessions, keystore, settings, log):
    _, _, token = run_scenario(sessions, keystore, settings)
    secret = token.rpartition(".")[2]
    with sessions() as session:
        secret_hash = session.scalars(select(AdminToken.secret_hash)).one()
    passphrase = PASSPHRASE.encode()
    key_files = [path.read_bytes() for path in settings.keys_dir.iterdir()]
    for entry in all_entries(log):
        assert secret.encode() not in entry
        assert secret_hash.encode() not in entry
        assert passphrase not in entry
        assert b"PRIVATE KEY" not in entry
        assert not any(pem in entry for pem in key_files)
        assert not _private_members(json.loads(entry))


def _private_members(value: Any) -> bool:
    if isinstance(value, dict):
        if {"d", "p", "q", "dp", "dq", "qi", "k"} & set(value):
            return True
        return any(_private_members(v) for v in value.values())
    if isinstance(value, list):
        return any(_private_members(v) for v in value)
    return False


def test_events_refuse_private_key_members():
    private = {**verifier_jwk(), "d": "secret"}
    with pytest.raises(ValueError):
        events.verifier_key_added(verifier_id="v", jwk=private, time=0)


def test_a_session_without_a_log_refuses_key_changes(engine):
    bare = session_factory(engine)
    with pytest.raises(RuntimeError, match="transparency log"), transaction(bare) as session:
        admin_tokens.create_token(session, "ops")
    with bare() as session:
        assert session.scalar(select(func.count()).select_from(AdminToken)) == 0


def test_the_log_key_is_never_replaced_once_the_log_has_entries(sessions, keystore, settings, log):
    SigningKeys(sessions, keystore, settings).generate_ahead()
    vkey = log.vkey
    assert log.ensure_key() is False
    keystore.delete(LOG_KEY_NAME)
    fresh = TransparencyLog(sessions, keystore, ISSUER)
    with pytest.raises(Exception, match="restore it from backup"):
        fresh.ensure_key()
    assert Verifier.from_vkey(vkey).name == "issuer.test/log"


def test_concurrent_appends_leave_no_gap(sessions, log, engine):
    # Four workers, each with its own engine on the same file, as gunicorn runs them.
    from concurrent.futures import ThreadPoolExecutor

    def work(worker: int) -> None:
        own = make_engine(str(engine.url))
        try:
            factory = session_factory(own)
            log.attach(factory)
            for n in range(10):
                with transaction(factory) as session:
                    admin_tokens.create_token(session, f"w{worker}-{n}")
        finally:
            own.dispose()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    entries = all_entries(log)
    assert len(entries) == 41
    assert opened_checkpoint(log).root_hash == merkle.root([merkle.leaf_hash(e) for e in entries])
    names = {json.loads(e)["name"] for e in entries[1:]}
    assert names == {f"w{w}-{n}" for w in range(4) for n in range(10)}
