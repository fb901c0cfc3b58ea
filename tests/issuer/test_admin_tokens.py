"""Admin bearer tokens: shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from ageverify.errors import AgeVerifyError
from ageverify.issuer import admin_tokens
from ageverify.storage import AdminToken, transaction


def _create(sessions, name="ops"):
    with transaction(sessions) as session:
        return admin_tokens.create_token(session, name, now=1_700_000_000)


def test_token_shape_and_authentication(sessions):
    token = _create(sessions)
    assert token.startswith("avat_")
    token_id, secret = token[len("avat_") :].split(".")
    assert len(secret) >= 43
    with sessions() as session:
        assert admin_tokens.authenticate(session, token) == token_id


def test_only_the_hash_is_stored(sessions):
    token = _create(sessions)
    secret = token.split(".", 1)[1]
    with sessions() as session:
        row = session.scalars(select(AdminToken)).one()
    assert secret not in (row.id, row.name, row.secret_hash)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t.replace("avat_", "avxt_"),
        lambda t: "Bearer " + t,
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: None,
        lambda t: t + "x",
        lambda t: "avat_" + "A" * 16 + "." + t.split(".")[1],
    ],
)
def test_wrong_tokens_are_refused(sessions, mangle):
    token = _create(sessions)
    with sessions() as session:
        assert admin_tokens.authenticate(session, mangle(token)) is None


def test_revoked_token_is_refused_and_listed_without_secret(sessions):
    token = _create(sessions)
    token_id = token[len("avat_") :].split(".")[0]
    with transaction(sessions) as session:
        record = admin_tokens.revoke_token(session, token_id, now=1_700_000_100)
    assert record.revoked_at == 1_700_000_100
    with sessions() as session:
        assert admin_tokens.authenticate(session, token) is None
        (listed,) = admin_tokens.list_tokens(session)
    assert listed.as_dict() == {
        "id": token_id,
        "name": "ops",
        "created_at": 1_700_000_000,
        "revoked_at": 1_700_000_100,
    }


def test_revoke_unknown_token(sessions):
    with sessions() as session, pytest.raises(AgeVerifyError) as caught:
        admin_tokens.revoke_token(session, "nope")
    assert caught.value.code == "unknown-admin-token"


def test_each_token_is_distinct(sessions):
    assert _create(sessions) != _create(sessions)


def test_name_is_required(sessions):
    with sessions() as session, pytest.raises(AgeVerifyError) as caught:
        admin_tokens.create_token(session, "  ")
    assert caught.value.code == "invalid-request"
