"""The verifier registry: registration rules, keys, suspension, records not ORM objects."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from issuer_vectors import ED_KEY, ES_KEY, verifier_jwk

from ageverify.errors import AgeVerifyError
from ageverify.formats import jose
from ageverify.issuer import VerifierRecord
from ageverify.issuer.verifiers import (
    add_key,
    add_verifier,
    get_verifier,
    list_verifiers,
    remove_key,
    resume,
    suspend,
)
from ageverify.storage import Verifier, transaction


def _add(sessions, **overrides):
    values = {
        "id": "bank-co",
        "name": "Bank Co",
        "jwks": [jose.public_jwk(ES_KEY)],
        "methods": ["bank"],
        "now": 1_700_000_000,
    }
    values.update(overrides)
    with transaction(sessions) as session:
        return add_verifier(session, **values)


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(AgeVerifyError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_add_returns_a_record_with_thumbprint_kid(sessions):
    record = _add(sessions)
    assert isinstance(record, VerifierRecord)
    assert record.id == "bank-co" and record.active and record.methods == ("bank",)
    (key,) = record.keys
    assert key.kid == jose.thumbprint(jose.public_jwk(ES_KEY))
    assert key.alg == "ES256"
    assert record.created_at == 1_700_000_000


def test_explicit_kid_and_eddsa(sessions):
    record = _add(sessions, jwks=[verifier_jwk(ED_KEY, "ed-1")], methods=["eid", "bank"])
    (key,) = record.keys
    assert (key.kid, key.alg, key.jwk["crv"]) == ("ed-1", "EdDSA", "Ed25519")
    assert record.methods == ("eid", "bank")  # in the wire format's order


def test_records_render_as_json_values(sessions):
    assert _add(sessions).as_dict()["keys"][0]["alg"] == "ES256"


def test_duplicate_id_is_a_conflict(sessions):
    _add(sessions)
    assert _code(_add, sessions, name="Other") == "conflict"


PRIVATE_EC = {**jose.public_jwk(ES_KEY), "d": "AAAA"}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"id": ""}, "invalid-request"),
        ({"id": "has space"}, "invalid-request"),
        ({"id": 7}, "invalid-request"),
        ({"name": ""}, "invalid-request"),
        ({"methods": []}, "invalid-request"),
        ({"methods": ["palm_reading"]}, "invalid-request"),
        ({"methods": ["bank", "bank"]}, "invalid-request"),
        ({"methods": "bank"}, "invalid-request"),
        ({"jwks": []}, "invalid-request"),
        ({"jwks": [PRIVATE_EC]}, "invalid-request"),
        ({"jwks": [{"kty": "oct", "k": "c2VjcmV0"}]}, "invalid-request"),
        ({"jwks": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}, "invalid-request"),
        ({"jwks": [{**jose.public_jwk(ES_KEY), "x": "AAAA"}]}, "invalid-request"),
        ({"jwks": [{**jose.public_jwk(ES_KEY), "alg": "EdDSA"}]}, "invalid-request"),
        ({"jwks": [{**jose.public_jwk(ES_KEY), "kid": "bad kid"}]}, "invalid-request"),
        ({"jwks": [verifier_jwk(ES_KEY, "a"), verifier_jwk(ED_KEY, "a")]}, "conflict"),
        ({"jwks": [verifier_jwk(ES_KEY, "a"), verifier_jwk(ES_KEY, "b")]}, "conflict"),
    ],
)
def test_bad_registrations(sessions, overrides, code):
    assert _code(_add, sessions, **overrides) == code
    with sessions() as session:
        assert list_verifiers(session) == []


def test_private_key_message_says_public_only(sessions):
    with pytest.raises(AgeVerifyError, match="public key only"):
        _add(sessions, jwks=[PRIVATE_EC])


def test_suspend_and_resume(sessions):
    _add(sessions)
    with transaction(sessions) as session:
        assert suspend(session, "bank-co").status == "suspended"
    with transaction(sessions) as session:
        assert resume(session, "bank-co").status == "active"


def test_add_and_remove_keys(sessions):
    _add(sessions)
    new = ec.generate_private_key(ec.SECP256R1())
    with transaction(sessions) as session:
        key = add_key(session, "bank-co", verifier_jwk(new, "second"))
        assert key.kid == "second"
        assert _code(add_key, session, "bank-co", verifier_jwk(new, "second")) == "conflict"
    with transaction(sessions) as session:
        assert _code(add_key, session, "bank-co", jose.public_jwk(new)) == "conflict"
    with transaction(sessions) as session:
        remove_key(session, "bank-co", "second")
        assert _code(remove_key, session, "bank-co", "second") == "unknown-key"
    with sessions() as session:
        kids = [k.kid for k in get_verifier(session, "bank-co").keys]
    assert kids == [jose.thumbprint(jose.public_jwk(ES_KEY))]


def test_every_change_raises_the_version_and_nothing_else_does(sessions):
    def version() -> int:
        with sessions() as session:
            return session.get(Verifier, "bank-co").version

    _add(sessions)
    versions = [version()]
    other = ec.generate_private_key(ec.SECP256R1())
    changes = [
        lambda s: add_key(s, "bank-co", verifier_jwk(other, "second")),
        lambda s: remove_key(s, "bank-co", "second"),
        lambda s: suspend(s, "bank-co"),
        lambda s: suspend(s, "bank-co"),  # already suspended: no change
        lambda s: get_verifier(s, "bank-co"),
        lambda s: resume(s, "bank-co"),
    ]
    for change in changes:
        with transaction(sessions) as session:
            change(session)
        versions.append(version())
    assert versions == [0, 1, 2, 3, 3, 3, 4]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: get_verifier(s, "nobody"),
        lambda s: suspend(s, "nobody"),
        lambda s: resume(s, "nobody"),
        lambda s: add_key(s, "nobody", jose.public_jwk(ed25519.Ed25519PrivateKey.generate())),
        lambda s: remove_key(s, "nobody", "kid"),
    ],
)
def test_unknown_verifier(sessions, call):
    with sessions() as session:
        assert _code(call, session) == "unknown-verifier-record"


def test_list_is_ordered_and_complete(sessions):
    _add(sessions, id="b")
    _add(sessions, id="a", jwks=[jose.public_jwk(ED_KEY)], methods=["eid"])
    with sessions() as session:
        records = list_verifiers(session)
    assert [r.id for r in records] == ["a", "b"]
    assert [r.keys[0].alg for r in records] == ["EdDSA", "ES256"]
