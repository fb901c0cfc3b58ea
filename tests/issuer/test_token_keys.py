"""Privacy Pass token keys: one per threshold per epoch, generated ahead, unique
truncated ids, encrypted at rest, signers cached, retire and revoke."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from issuer_vectors import ISSUER, PASSPHRASE, attest, holder_keys
from sqlalchemy import select

from ageverify.config import Settings
from ageverify.crypto import FileKeyStore, blindrsa
from ageverify.errors import AgeVerifyError, ConfigurationError, KeyStoreError, UnauthorizedError
from ageverify.formats import jose, privacypass, sdjwt, strictjson
from ageverify.issuer import tokens
from ageverify.issuer.tokens import KEY_NAME_PREFIX, TokenIssuer, TokenKeys
from ageverify.storage.models import IssuerNonce, TokenQuota

WEEK = 604_800
THRESHOLDS = (13, 15, 16, 18, 21)


@pytest.fixture
def token_keys(sessions, keystore, settings, clock) -> TokenKeys:
    keys = TokenKeys(sessions, keystore, settings, clock)
    keys.generate_ahead()
    return keys


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings.load(
        {},
        issuer_url=ISSUER,
        key_passphrase=PASSPHRASE,
        instance_path=tmp_path / "instance",
        keys_dir=tmp_path / "keys",
        database_url=f"sqlite:///{tmp_path / 'issuer.db'}",
        **overrides,
    )


def _by_epoch(token_keys: TokenKeys) -> dict[int, dict[int, dict]]:
    table: dict[int, dict[int, dict]] = {}
    for row in token_keys.list():
        if row["status"] == "active":
            table.setdefault(row["epoch_start"], {})[row["threshold"]] = row
    return table


def test_one_key_per_threshold_for_this_epoch_and_the_ones_ahead(token_keys, settings, clock):
    start = int(clock.now // WEEK) * WEEK
    table = _by_epoch(token_keys)
    assert sorted(table) == [start + i * WEEK for i in range(settings.keys_ahead + 1)]
    for epoch_start, keys in table.items():
        assert tuple(sorted(keys)) == THRESHOLDS
        for row in keys.values():
            assert (row["not_before"], row["not_after"]) == (epoch_start, epoch_start + WEEK)
            assert row["published_until"] == epoch_start + 2 * WEEK
            assert row["token_type"] == 2


def test_generate_ahead_is_idempotent_and_follows_the_epochs(token_keys, clock):
    assert token_keys.generate_ahead() == []
    clock.advance(WEEK)
    assert len(token_keys.generate_ahead()) == len(THRESHOLDS)


def test_key_ids_are_computed_from_the_keys(token_keys, keystore):
    for row in token_keys.list():
        signer = token_keys._signer(row["token_key_id"])
        key_id = privacypass.token_key_id(signer.public_key)
        assert jose.b64url_encode(key_id) == row["token_key_id"]
        assert key_id[-1] == row["truncated_token_key_id"]


def test_key_files_are_encrypted_private_and_named_after_the_key(token_keys, settings):
    for row in token_keys.list():
        path = settings.keys_dir / f"{KEY_NAME_PREFIX}{row['token_key_id']}.pem"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_truncated_ids_are_unique_among_published_keys(token_keys, clock):
    for _ in range(4):
        clock.advance(WEEK)
        token_keys.generate_ahead()
        published = token_keys.published()
        truncated = [jose.b64url_decode(key.token_key_id)[-1] for key in published]
        assert len(truncated) == len(set(truncated))


def test_a_key_whose_truncated_id_is_taken_is_drawn_again(tmp_path, sessions, monkeypatch):
    settings = _settings(tmp_path, thresholds="18", keys_ahead=1)
    pool: list[rsa.RSAPrivateKey] = []
    seen: dict[int, rsa.RSAPrivateKey] = {}
    # Draw until two keys share the last byte of their ids (a few dozen at most).
    while True:
        key = tokens.generate_token_key()
        last = privacypass.token_key_id(key.public_key())[-1]
        if last in seen:
            first, clash = seen[last], key
            break
        seen[last] = key
    other = next(k for k in seen.values() if k is not first)
    pool = [first, clash, other]
    monkeypatch.setattr(tokens, "generate_token_key", lambda: pool.pop(0))
    keys = TokenKeys(sessions, FileKeyStore(settings.keys_dir, b"p"), settings)
    created = keys.generate_ahead()
    ids = [jose.b64url_encode(privacypass.token_key_id(k.public_key())) for k in (first, other)]
    assert created == ids and pool == []


def test_too_many_keys_for_one_byte_is_a_configuration_error(tmp_path, sessions):
    settings = _settings(tmp_path, thresholds=",".join(str(n) for n in range(1, 100)))
    keys = TokenKeys(sessions, FileKeyStore(settings.keys_dir, b"p"), settings)
    with pytest.raises(ConfigurationError, match="AGEVERIFY_KEYS_AHEAD"):
        keys.generate_ahead()
    assert keys.list() == []
    assert not settings.keys_dir.exists() or list(settings.keys_dir.iterdir()) == []


def test_a_failed_generation_leaves_no_key_files(tmp_path, sessions, monkeypatch):
    settings = _settings(tmp_path)
    keystore = FileKeyStore(settings.keys_dir, b"p")
    saved = []
    real_save = keystore.save

    def save_then_fail(name, key):
        if len(saved) == 3:
            raise KeyStoreError("disk full")
        real_save(name, key)
        saved.append(name)

    monkeypatch.setattr(keystore, "save", save_then_fail)
    keys = TokenKeys(sessions, keystore, settings)
    with pytest.raises(KeyStoreError):
        keys.generate_ahead()
    assert keys.list() == []
    assert [p for p in settings.keys_dir.iterdir() if p.suffix == ".pem"] == []


def test_signer_finds_the_key_by_truncated_id_and_is_cached(token_keys, clock, monkeypatch):
    start = int(clock.now // WEEK) * WEEK
    row = _by_epoch(token_keys)[start][18]
    found = token_keys.signer(row["truncated_token_key_id"])
    assert (found.threshold, found.token_key_id) == (18, row["token_key_id"])
    monkeypatch.setattr(tokens, "_load_token_key", pytest.fail)
    assert token_keys.signer(row["truncated_token_key_id"]).signer is found.signer
    # It signs, and the signature finalizes into one that verifies.
    msg = os.urandom(98)
    blinded = blindrsa.blind(found.signer.public_key, msg)
    sig = blindrsa.finalize(
        found.signer.public_key, msg, found.signer.sign(blinded.blinded_msg), blinded.inv
    )
    blindrsa.verify(found.signer.public_key, msg, sig)


def test_keys_of_coming_epochs_do_not_sign_until_their_epoch(token_keys, clock, settings):
    start = int(clock.now // WEEK) * WEEK
    ahead = _by_epoch(token_keys)[start + WEEK][21]
    with pytest.raises(AgeVerifyError) as refused:
        token_keys.signer(ahead["truncated_token_key_id"])
    assert (refused.value.code, refused.value.status) == ("privacypass-bad-token-key", 422)
    # Within the leeway before its epoch, and during it, it signs.
    clock.now = start + WEEK - settings.leeway + 1
    assert token_keys.signer(ahead["truncated_token_key_id"]).threshold == 21
    clock.now = start + 2 * WEEK - 1
    assert token_keys.signer(ahead["truncated_token_key_id"]).threshold == 21


def test_a_past_epochs_key_stays_published_one_epoch_but_signs_no_more(token_keys, clock, settings):
    start = int(clock.now // WEEK) * WEEK
    old = _by_epoch(token_keys)[start][16]
    clock.now = start + WEEK + settings.leeway + 1
    with pytest.raises(AgeVerifyError, match="privacypass-bad-token-key"):
        token_keys.signer(old["truncated_token_key_id"])
    published = [key.token_key_id for key in token_keys.published()]
    assert old["token_key_id"] in published
    # Those signing now are preferred to it.
    assert published.index(old["token_key_id"]) >= len(THRESHOLDS)
    clock.now = start + 2 * WEEK
    assert old["token_key_id"] not in [key.token_key_id for key in token_keys.published()]


def test_retired_keys_stay_published_but_do_not_sign(token_keys, clock):
    row = _by_epoch(token_keys)[int(clock.now // WEEK) * WEEK][18]
    retired = token_keys.retire(row["token_key_id"])
    assert retired["status"] == "retired" and retired["retired_at"] == int(clock.now)
    with pytest.raises(AgeVerifyError, match="privacypass-bad-token-key"):
        token_keys.signer(row["truncated_token_key_id"])
    assert row["token_key_id"] in [key.token_key_id for key in token_keys.published()]
    # generate_ahead replaces it in its epoch, with another truncated id.
    (replacement,) = token_keys.generate_ahead()
    assert jose.b64url_decode(replacement)[-1] != row["truncated_token_key_id"]


def test_revoke_unpublishes_and_deletes_the_private_key(token_keys, settings, clock):
    row = _by_epoch(token_keys)[int(clock.now // WEEK) * WEEK][13]
    token_keys.signer(row["truncated_token_key_id"])  # cached now
    assert token_keys.revoke(row["token_key_id"])["status"] == "revoked"
    assert not (settings.keys_dir / f"{KEY_NAME_PREFIX}{row['token_key_id']}.pem").exists()
    assert row["token_key_id"] not in [key.token_key_id for key in token_keys.published()]
    with pytest.raises(AgeVerifyError, match="privacypass-bad-token-key"):
        token_keys.signer(row["truncated_token_key_id"])
    with pytest.raises(AgeVerifyError, match="conflict"):
        token_keys.retire(row["token_key_id"])


@pytest.mark.parametrize("action", ["retire", "revoke"])
def test_unknown_key_ids_are_refused(token_keys, action):
    with pytest.raises(AgeVerifyError) as refused:
        getattr(token_keys, action)("no-such-key")
    assert refused.value.code == "unknown-key"


def test_a_key_file_readable_by_others_is_refused(token_keys, settings, clock):
    row = _by_epoch(token_keys)[int(clock.now // WEEK) * WEEK][18]
    path = settings.keys_dir / f"{KEY_NAME_PREFIX}{row['token_key_id']}.pem"
    path.chmod(0o640)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        token_keys.signer(row["truncated_token_key_id"])


def test_a_wrong_passphrase_is_refused_without_saying_more(token_keys, sessions, settings, clock):
    row = _by_epoch(token_keys)[int(clock.now // WEEK) * WEEK][18]
    other = TokenKeys(sessions, FileKeyStore(settings.keys_dir, b"not it"), settings, clock)
    with pytest.raises(KeyStoreError, match="cannot be decrypted") as refused:
        other.signer(row["truncated_token_key_id"])
    assert PASSPHRASE not in str(refused.value)


def test_a_key_file_of_another_type_is_refused(token_keys, settings, clock, keystore):
    row = _by_epoch(token_keys)[int(clock.now // WEEK) * WEEK][18]
    name = f"{KEY_NAME_PREFIX}{row['token_key_id']}"
    keystore.delete(name)
    keystore.save(name, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(KeyStoreError, match="RSA-2048"):
        token_keys.signer(row["truncated_token_key_id"])


def test_the_issuer_name_is_host_and_port() -> None:
    assert tokens.issuer_name("https://age.example.com") == "age.example.com"
    assert tokens.issuer_name("http://127.0.0.1:8000") == "127.0.0.1:8000"


# --- TokenIssuer, without a web app ---------------------------------------------


@pytest.fixture
def token_issuer(settings, sessions, signing_keys, token_keys, verifiers, clock) -> TokenIssuer:
    def credential_keys(now: float):
        jwks = signing_keys.jwks(now)["keys"]
        return {jwk["kid"]: jose.public_key_from_jwk(jwk) for jwk in jwks}.get

    return TokenIssuer(settings, sessions, token_keys, credential_keys, clock)


def _credential(issuer, clock) -> tuple[str, ec.EllipticCurvePrivateKey]:
    keys, jwks = holder_keys(1)
    (credential,) = issuer.issue_credentials(attest(clock.now), jwks)
    return credential, keys[0]


def _presentation(credential, holder_key, nonce, clock, claims=("age_over_18",)) -> str:
    parts = credential.split("~")
    wanted = [d for d in parts[1:-1] if strictjson.loads(jose.b64url_decode(d))[1] in claims]
    sd_jwt = parts[0] + "~" + "".join(d + "~" for d in wanted)
    return sd_jwt + sdjwt.make_key_binding(
        holder_key=holder_key,
        sd_jwt_with_disclosures=sd_jwt,
        audience=ISSUER,
        nonce=nonce,
        iat=int(clock.now),
    )


def _request(token_keys, clock, threshold=18) -> tuple[bytes, rsa.RSAPublicKey, bytes, int]:
    row = _by_epoch(token_keys)[int(clock.now // WEEK) * WEEK][threshold]
    public_key = token_keys.signer(row["truncated_token_key_id"]).signer.public_key
    msg = privacypass.authenticator_input(
        os.urandom(32), os.urandom(32), jose.b64url_decode(row["token_key_id"])
    )
    blinded = blindrsa.blind(public_key, msg)
    body = privacypass.TokenRequest(
        truncated_token_key_id=row["truncated_token_key_id"], blinded_msg=blinded.blinded_msg
    ).encode()
    return body, public_key, msg, blinded.inv


def test_issue_signs_for_a_valid_presentation(token_issuer, token_keys, issuer, clock, sessions):
    credential, holder_key = _credential(issuer, clock)
    nonce, lifetime = token_issuer.new_nonce()
    assert lifetime == 300
    body, public_key, msg, inv = _request(token_keys, clock)
    answer = token_issuer.issue(body, _presentation(credential, holder_key, nonce, clock))
    blind_sig = privacypass.TokenResponse.decode(answer).blind_sig
    blindrsa.verify(public_key, msg, blindrsa.finalize(public_key, msg, blind_sig, inv))
    # The quota row is keyed by a hash of the credential's signed part, nothing of the holder's.
    with sessions() as session:
        (row,) = session.scalars(select(TokenQuota)).all()
        (used,) = session.scalars(select(IssuerNonce)).all()
    signed = credential.split("~")[0].rpartition(".")[0].encode("ascii")
    assert row.credential == hashlib.sha256(signed).hexdigest() and row.count == 1
    assert used.nonce == nonce and used.used


def test_two_requests_racing_for_one_nonce_get_one_token(token_issuer, token_keys, issuer, clock):
    credential, holder_key = _credential(issuer, clock)
    nonce, _ = token_issuer.new_nonce()
    presentation = _presentation(credential, holder_key, nonce, clock)
    bodies = [_request(token_keys, clock)[0] for _ in range(2)]
    outcomes: list[str] = []

    def attempt(body: bytes) -> None:
        try:
            token_issuer.issue(body, presentation)
            outcomes.append("signed")
        except AgeVerifyError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=attempt, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["nonce-reused", "signed"]


def test_a_presentation_failure_is_a_401_with_its_own_code(token_issuer, token_keys, issuer, clock):
    credential, holder_key = _credential(issuer, clock)
    nonce, _ = token_issuer.new_nonce()
    presentation = _presentation(credential, holder_key, nonce, clock)
    body = _request(token_keys, clock)[0]
    clock.advance(3600)  # the Key Binding JWT is stale by now
    with pytest.raises(UnauthorizedError) as refused:
        token_issuer.issue(body, presentation)
    assert (refused.value.code, refused.value.status) == ("key-binding-stale", 401)
    assert refused.value.as_dict()["code"] == "key-binding-stale"
