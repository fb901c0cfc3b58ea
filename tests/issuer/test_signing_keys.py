"""Credential signing keys: epochs, generation ahead, caching, retire, revoke, JWKS."""

from __future__ import annotations

import os
import stat

import pytest
from issuer_vectors import PASSPHRASE
from sqlalchemy.orm import Session

from ageverify.crypto import FileKeyStore
from ageverify.errors import AgeVerifyError, KeyStoreError
from ageverify.formats import jose
from ageverify.issuer import SigningKeys

WEEK = 604_800


def test_generate_ahead_covers_current_and_next_epochs(signing_keys, settings, clock):
    keys = signing_keys.list()
    assert len(keys) == settings.keys_ahead + 1
    start = int(clock.now // WEEK) * WEEK
    assert sorted(k["epoch_start"] for k in keys) == [start, start + WEEK, start + 2 * WEEK]
    for key in keys:
        assert key["epoch_end"] == key["epoch_start"] + WEEK
        assert key["verify_until"] == key["epoch_end"] + settings.credential_lifetime
        assert key["status"] == "active"
        assert key["kid"] == jose.thumbprint(key["public_jwk"])
        assert "d" not in key["public_jwk"]


def test_generate_ahead_is_idempotent(signing_keys):
    assert signing_keys.generate_ahead() == []


def test_generate_ahead_adds_one_key_per_new_epoch(signing_keys, clock):
    clock.advance(WEEK)
    assert len(signing_keys.generate_ahead()) == 1


def test_key_files_are_encrypted_and_private(signing_keys, settings):
    for key in signing_keys.list():
        path = settings.keys_dir / f"{key['kid']}.pem"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_current_key_is_the_epoch_key_and_is_cached(signing_keys, clock, monkeypatch):
    current = signing_keys.current()
    assert current.epoch_start == int(clock.now // WEEK) * WEEK
    assert jose.thumbprint(jose.public_jwk(current.private_key)) == current.kid
    # A second call must not decrypt the file again.
    monkeypatch.setattr(signing_keys._keystore, "load", pytest.fail)
    assert signing_keys.current().private_key is current.private_key


def test_current_moves_with_the_epoch(signing_keys, clock):
    first = signing_keys.current()
    clock.advance(WEEK)
    second = signing_keys.current()
    assert second.kid != first.kid
    assert second.epoch_start == first.epoch_start + WEEK


def test_no_key_for_the_epoch(sessions, keystore, settings, clock):
    empty = SigningKeys(sessions, keystore, settings, clock)
    with pytest.raises(AgeVerifyError) as caught:
        empty.current()
    assert caught.value.code == "no-signing-key"


def test_keys_beyond_the_generated_horizon_are_missing(signing_keys, clock):
    clock.advance(3 * WEEK)
    with pytest.raises(AgeVerifyError) as caught:
        signing_keys.current()
    assert caught.value.code == "no-signing-key"


def test_jwks_lists_public_keys_with_kid_alg_use(signing_keys):
    jwks = signing_keys.jwks()
    assert len(jwks["keys"]) == 3
    for jwk in jwks["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert (jwk["alg"], jwk["use"], jwk["crv"]) == ("ES256", "sig", "P-256")
        assert jose.thumbprint(jwk) == jwk["kid"]


def test_retired_key_stops_signing_but_stays_published(signing_keys):
    old = signing_keys.current().kid
    described = signing_keys.retire(old)
    assert described["status"] == "retired" and described["retired_at"] is not None
    assert old in [k["kid"] for k in signing_keys.jwks()["keys"]]
    with pytest.raises(AgeVerifyError) as caught:
        signing_keys.current()
    assert caught.value.code == "no-signing-key"
    (replacement,) = signing_keys.generate_ahead()
    assert signing_keys.current().kid == replacement != old


def test_revoked_key_leaves_the_jwks_and_its_file_is_deleted(signing_keys, keystore):
    kid = signing_keys.current().kid
    described = signing_keys.revoke(kid)
    assert described["status"] == "revoked"
    assert kid not in [k["kid"] for k in signing_keys.jwks()["keys"]]
    assert not keystore.exists(kid)
    with pytest.raises(AgeVerifyError) as caught:
        signing_keys.current()
    assert caught.value.code == "no-signing-key"


def test_revoking_with_a_read_only_key_folder_still_revokes(
    signing_keys, keystore, monkeypatch, caplog
):
    # A key folder mounted read-only (a Kubernetes Secret) cannot lose the file;
    # the revocation itself must not fail for that.
    def read_only(name):
        raise PermissionError(30, "Read-only file system")

    kid = signing_keys.current().kid
    monkeypatch.setattr(keystore, "delete", read_only)
    with caplog.at_level("WARNING", logger="ageverify.keys"):
        described = signing_keys.revoke(kid)
    assert described["status"] == "revoked"
    assert kid not in [k["kid"] for k in signing_keys.jwks()["keys"]]
    with pytest.raises(AgeVerifyError):
        signing_keys.current()
    assert "could not be removed (PermissionError)" in caplog.text


def test_revoked_key_cannot_be_retired(signing_keys):
    kid = signing_keys.current().kid
    signing_keys.revoke(kid)
    with pytest.raises(AgeVerifyError) as caught:
        signing_keys.retire(kid)
    assert caught.value.code == "conflict"


def test_revoke_in_another_process_stops_signing_here(
    signing_keys, sessions, keystore, settings, clock
):
    kid = signing_keys.current().kid  # cached here
    SigningKeys(sessions, keystore, settings, clock).revoke(kid)
    with pytest.raises(AgeVerifyError):
        signing_keys.current()


def test_key_leaves_the_jwks_after_verify_until(signing_keys, clock, settings):
    kid = signing_keys.current().kid
    clock.advance(WEEK + settings.credential_lifetime)
    assert kid not in [k["kid"] for k in signing_keys.jwks()["keys"]]


@pytest.mark.parametrize("operation", ["retire", "revoke"])
def test_unknown_kid(signing_keys, operation):
    with pytest.raises(AgeVerifyError) as caught:
        getattr(signing_keys, operation)("no-such-kid")
    assert caught.value.code == "unknown-key"


def test_world_readable_key_file_is_refused(signing_keys, settings, sessions, clock):
    kid = signing_keys.current().kid
    os.chmod(settings.keys_dir / f"{kid}.pem", 0o644)
    fresh = SigningKeys(
        sessions, FileKeyStore(settings.keys_dir, PASSPHRASE.encode()), settings, clock
    )
    with pytest.raises(KeyStoreError, match="chmod 600"):
        fresh.current()


def test_wrong_passphrase_is_refused(signing_keys, settings, sessions, clock):
    fresh = SigningKeys(
        sessions, FileKeyStore(settings.keys_dir, b"not the passphrase"), settings, clock
    )
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        fresh.current()


def test_failed_commit_removes_the_new_key_files(sessions, keystore, settings, clock, monkeypatch):
    keys = SigningKeys(sessions, keystore, settings, clock)

    def fail(self):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Session, "commit", fail)
    with pytest.raises(RuntimeError):
        keys.generate_ahead()
    assert not settings.keys_dir.exists() or list(settings.keys_dir.iterdir()) == []
