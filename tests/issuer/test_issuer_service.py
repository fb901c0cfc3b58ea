"""The issuance transaction: all or nothing, single-use attestations, epochs, no personal data."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from issuer_vectors import (
    ED_KEY,
    ED_KID,
    ED_VERIFIER,
    ES_KEY,
    ES_KID,
    ES_VERIFIER,
    ISSUER,
    attest,
    holder_keys,
    verifier_jwk,
)
from sqlalchemy import func, select

from ageverify.errors import IssuanceError
from ageverify.formats import jose, sdjwt, strictjson
from ageverify.issuer import Issuer, SigningKeys, service
from ageverify.issuer.verifiers import add_key, add_verifier, remove_key, resume, suspend
from ageverify.storage import (
    IssuanceCount,
    UsedAttestation,
    create_schema,
    make_engine,
    session_factory,
    transaction,
)
from ageverify.translog.log import TransparencyLog

WEEK = 604_800


def _code(call, *args) -> str:
    with pytest.raises(IssuanceError) as caught:
        call(*args)
    return caught.value.code


def _used(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(UsedAttestation))


def _counts(sessions) -> dict[tuple[str, int, bool], int]:
    """Each fact's count, its shards added up."""
    counts: dict[tuple[str, int, bool], int] = {}
    with sessions() as session:
        for r in session.scalars(select(IssuanceCount)):
            key = (r.method, r.threshold, r.over)
            counts[key] = counts.get(key, 0) + r.count
    return counts


def _present(credential, holder_key, claims, *, audience="https://platform.test", nonce="n-1"):
    parts = credential.split("~")
    wanted = [d for d in parts[1:-1] if strictjson.loads(jose.b64url_decode(d))[1] in claims]
    sd_jwt = parts[0] + "~" + "".join(d + "~" for d in wanted)
    kb = sdjwt.make_key_binding(
        holder_key=holder_key,
        sd_jwt_with_disclosures=sd_jwt,
        audience=audience,
        nonce=nonce,
        iat=int(time.time()),
    )
    return sd_jwt + kb


def test_issued_credentials_verify_as_presentations(issuer, clock):
    keys, jwks = holder_keys(3)
    credentials = issuer.issue_credentials(attest(clock.now), jwks)
    assert len(credentials) == 3
    published = {k["kid"]: jose.public_key_from_jwk(k) for k in issuer.jwks()["keys"]}
    for key, credential in zip(keys, credentials, strict=True):
        presentation = _present(credential, key, {"age_over_18", "age_over_15"})
        facts = sdjwt.verify_presentation(
            presentation,
            keys=published.get,
            issuer=ISSUER,
            audience="https://platform.test",
            nonce="n-1",
            now=time.time(),
        )
        # 15 was not attested; it follows from 18 and is issued.
        assert facts == {"age_over_18": True, "age_over_15": True}


def test_credentials_carry_the_epoch_start_as_iat(issuer, clock, settings):
    _, jwks = holder_keys(2)
    credentials = issuer.issue_credentials(attest(clock.now), jwks)
    epoch_start = int(clock.now // WEEK) * WEEK
    for credential in credentials:
        payload = jwt.decode(credential.split("~")[0], options={"verify_signature": False})
        assert payload["iat"] == epoch_start
        assert payload["exp"] == epoch_start + settings.credential_lifetime
        assert set(payload) == {"iss", "iat", "exp", "vct", "cnf", "_sd", "_sd_alg"}


def test_every_credential_has_the_same_number_of_digests(issuer, clock, settings):
    expected = len(settings.thresholds) + settings.decoys
    for age_over in ({"18": True}, {"13": True, "15": True, "16": False}, {"21": True}):
        _, jwks = holder_keys(1)
        (credential,) = issuer.issue_credentials(attest(clock.now, age_over=age_over), jwks)
        payload = jwt.decode(credential.split("~")[0], options={"verify_signature": False})
        assert len(payload["_sd"]) == expected


def test_attestation_is_single_use(issuer, clock, sessions):
    token = attest(clock.now)
    issuer.issue_credentials(token, holder_keys(1)[1])
    assert _code(issuer.issue_credentials, token, holder_keys(1)[1]) == "attestation-replayed"
    assert _used(sessions) == 1


def test_replay_is_refused_after_a_restart(issuer, clock, settings, keystore, verifiers):
    token = attest(clock.now)
    issuer.issue_credentials(token, holder_keys(1)[1])
    # A new process: new engine on the same SQLite file, fresh key cache.
    engine = make_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        TransparencyLog(sessions, keystore, settings.issuer_url).attach(sessions)
        restarted = Issuer(
            settings, sessions, SigningKeys(sessions, keystore, settings, clock), clock
        )
        code = _code(restarted.issue_credentials, token, holder_keys(1)[1])
    finally:
        engine.dispose()
    assert code == "attestation-replayed"


def _count_reads(monkeypatch) -> list[str]:
    """The verifier id of each read the issuer makes from now on."""
    reads: list[str] = []
    first = service._READ.first

    def counted(cursor, dialect, parameters):
        reads.append(parameters["iss"])
        return first(cursor, dialect, parameters)

    monkeypatch.setattr(service._READ, "first", counted)
    return reads


def _count_signings(monkeypatch) -> list[str]:
    """The kid of each batch the issuer signs from now on."""
    kids: list[str] = []
    sign = service.issue_batch

    def counted(**kwargs):
        kids.append(kwargs["kid"])
        return sign(**kwargs)

    monkeypatch.setattr(service, "issue_batch", counted)
    return kids


def _change(sessions, change, *args) -> None:
    """Make a registry change as another process would: its own transaction."""
    with transaction(sessions) as session:
        change(session, *args)


def test_a_verifier_key_is_read_once_while_nothing_changes(issuer, clock, monkeypatch):
    reads = _count_reads(monkeypatch)
    for _ in range(3):
        issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    eddsa = attest(clock.now, key=ED_KEY, alg="EdDSA", kid=ED_KID, iss=ED_VERIFIER, method="eid")
    issuer.issue_credentials(eddsa, holder_keys(1)[1])
    assert reads == [ES_VERIFIER, ED_VERIFIER]


def test_a_refused_attestation_reads_but_leaves_the_verifier_remembered(issuer, clock, monkeypatch):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    reads = _count_reads(monkeypatch)
    forged = attest(clock.now, key=ec.generate_private_key(ec.SECP256R1()))
    assert _code(issuer.issue_credentials, forged, holder_keys(1)[1]) == (
        "attestation-bad-signature"
    )
    # Refused only once the read confirmed it; the next one needs no read.
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    assert reads == [ES_VERIFIER]


def test_a_replay_of_a_remembered_verifier_is_refused_by_the_record(
    issuer, clock, sessions, monkeypatch
):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    token = attest(clock.now)
    issuer.issue_credentials(token, holder_keys(1)[1])
    counts = _counts(sessions)
    reads, signings = _count_reads(monkeypatch), _count_signings(monkeypatch)
    assert _code(issuer.issue_credentials, token, holder_keys(1)[1]) == "attestation-replayed"
    # Signed without a read, refused by the jti's key: nothing returned, nothing counted.
    assert (len(reads), len(signings)) == (0, 1)
    assert _used(sessions) == 2
    assert _counts(sessions) == counts


def test_a_verifier_suspended_elsewhere_is_refused_at_once(issuer, clock, sessions):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    counts = _counts(sessions)
    _change(sessions, suspend, ES_VERIFIER)
    token = attest(clock.now)
    assert _code(issuer.issue_credentials, token, holder_keys(1)[1]) == (
        "attestation-verifier-suspended"
    )
    assert (_used(sessions), _counts(sessions)) == (1, counts)
    # Refused by a read now: the suspended verifier is not remembered.
    assert _code(issuer.issue_credentials, token, holder_keys(1)[1]) == (
        "attestation-verifier-suspended"
    )
    _change(sessions, resume, ES_VERIFIER)
    assert len(issuer.issue_credentials(token, holder_keys(1)[1])) == 1


def test_a_verifier_changed_elsewhere_is_read_again_and_signed_once(
    issuer, clock, sessions, monkeypatch
):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    _change(sessions, suspend, ES_VERIFIER)
    _change(sessions, resume, ES_VERIFIER)
    reads, signings = _count_reads(monkeypatch), _count_signings(monkeypatch)
    assert len(issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])) == 1
    # The record found another version; the read found the same key signing.
    assert (len(reads), len(signings)) == (1, 1)
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    assert len(reads) == 1


def test_a_kid_given_to_another_key_is_not_trusted_from_memory(issuer, clock, sessions):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    replacement = ec.generate_private_key(ec.SECP256R1())
    _change(sessions, remove_key, ES_VERIFIER, ES_KID)
    _change(sessions, add_key, ES_VERIFIER, verifier_jwk(replacement, ES_KID))
    # Signed by the key that had this kid before: refused, though this
    # process last saw that key under it.
    old = attest(clock.now)
    assert _code(issuer.issue_credentials, old, holder_keys(1)[1]) == "attestation-bad-signature"
    assert _used(sessions) == 1
    new = attest(clock.now, key=replacement)
    assert len(issuer.issue_credentials(new, holder_keys(1)[1])) == 1


def test_a_key_revoked_between_two_issuances_signs_nothing_returned(
    issuer, signing_keys, clock, sessions, monkeypatch
):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    revoked = signing_keys.current().kid
    signing_keys.revoke(revoked)
    signing_keys.generate_ahead()
    signings = _count_signings(monkeypatch)
    (credential,) = issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    header = strictjson.loads(jose.b64url_decode(credential.split(".")[0]))
    # The kid this process remembered signed first; the record refused it.
    assert signings == [revoked, header["kid"]] and header["kid"] != revoked
    assert _used(sessions) == 2


def test_same_jti_from_two_verifiers_are_two_attestations(issuer, clock):
    jti = "shared-jti-0123456789abcdef"
    issuer.issue_credentials(attest(clock.now, jti=jti), holder_keys(1)[1])
    eddsa = attest(
        clock.now, key=ED_KEY, alg="EdDSA", kid=ED_KID, iss=ED_VERIFIER, method="eid", jti=jti
    )
    assert len(issuer.issue_credentials(eddsa, holder_keys(1)[1])) == 1


def test_concurrent_replay_issues_once(issuer, clock):
    token = attest(clock.now)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        try:
            issuer.issue_credentials(token, holder_keys(1)[1])
            outcomes.append("issued")
        except IssuanceError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["attestation-replayed"] * 3 + ["issued"]


def test_bad_holder_keys_do_not_burn_the_attestation(issuer, clock, sessions):
    token = attest(clock.now)
    assert _code(issuer.issue_credentials, token, [{"kty": "EC"}]) == "holder-keys-invalid"
    assert _used(sessions) == 0
    assert len(issuer.issue_credentials(token, holder_keys(2)[1])) == 2


def test_missing_signing_key_after_the_jti_insert_leaves_nothing(
    settings, sessions, keystore, verifiers, clock
):
    keys = SigningKeys(sessions, keystore, settings, clock)  # nothing generated
    issuer = Issuer(settings, sessions, keys, clock)
    token = attest(clock.now)
    assert _code(issuer.issue_credentials, token, holder_keys(1)[1]) == "no-signing-key"
    assert _used(sessions) == 0
    assert _counts(sessions) == {}
    keys.generate_ahead()
    assert len(issuer.issue_credentials(token, holder_keys(1)[1])) == 1


def test_failure_while_signing_rolls_back_the_jti(issuer, clock, sessions, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("signing device unplugged")

    monkeypatch.setattr(service, "issue_batch", broken)
    token = attest(clock.now)
    with pytest.raises(RuntimeError):
        issuer.issue_credentials(token, holder_keys(1)[1])
    assert _used(sessions) == 0
    assert _counts(sessions) == {}
    monkeypatch.undo()
    assert len(issuer.issue_credentials(token, holder_keys(1)[1])) == 1


def test_a_key_revoked_while_the_batch_is_signed_never_signs_a_returned_credential(
    issuer, signing_keys, clock, sessions, monkeypatch
):
    # The batch is signed before the write transaction; a revocation that
    # lands in between must throw that batch away, not return it.
    revoked = signing_keys.current().kid
    signed_by = []
    sign = service.issue_batch

    def revoke_once(**kwargs):
        signed_by.append(kwargs["kid"])
        batch = sign(**kwargs)
        if len(signed_by) == 1:
            signing_keys.revoke(revoked)
            signing_keys.generate_ahead()  # the replacement for this epoch
        return batch

    monkeypatch.setattr(service, "issue_batch", revoke_once)
    (credential,) = issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    header = strictjson.loads(jose.b64url_decode(credential.split(".")[0]))
    assert signed_by[0] == revoked != header["kid"] == signed_by[1]
    assert _used(sessions) == 1


def test_a_key_revoked_with_no_replacement_burns_nothing(
    issuer, signing_keys, clock, sessions, monkeypatch
):
    sign = service.issue_batch

    def revoke_all(**kwargs):
        batch = sign(**kwargs)
        for key in signing_keys.list():
            if key["status"] != "revoked":
                signing_keys.revoke(key["kid"])
        return batch

    monkeypatch.setattr(service, "issue_batch", revoke_all)
    token = attest(clock.now)
    assert _code(issuer.issue_credentials, token, holder_keys(1)[1]) == "no-signing-key"
    assert _used(sessions) == 0
    assert _counts(sessions) == {}


def test_failure_while_counting_rolls_back_everything(issuer, clock, sessions, monkeypatch):
    class Broken:
        def run(self, *args):
            raise RuntimeError("disk full")

    monkeypatch.setattr(service, "_count_facts", lambda facts: Broken())
    with pytest.raises(RuntimeError):
        issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    assert _used(sessions) == 0


def test_counts_per_attested_fact(issuer, clock, sessions):
    issuer.issue_credentials(attest(clock.now, age_over={"18": True}), holder_keys(5)[1])
    issuer.issue_credentials(
        attest(clock.now, age_over={"18": False}, method="bank"), holder_keys(1)[1]
    )
    issuer.issue_credentials(attest(clock.now, age_over={"18": True}), holder_keys(1)[1])
    assert _counts(sessions) == {("id_document", 18, True): 2, ("bank", 18, False): 1}


def test_counts_mix_existing_and_first_rows_of_the_day(issuer, clock, sessions):
    # One statement bumps the rows that exist; the others are inserted, none twice.
    issuer.issue_credentials(attest(clock.now, age_over={"18": True}), holder_keys(1)[1])
    issuer.issue_credentials(
        attest(clock.now, age_over={"13": True, "18": True, "21": False}), holder_keys(1)[1]
    )
    issuer.issue_credentials(
        attest(clock.now, age_over={"13": True, "18": True, "21": False}), holder_keys(1)[1]
    )
    assert _counts(sessions) == {
        ("id_document", 13, True): 2,
        ("id_document", 18, True): 3,
        ("id_document", 21, False): 2,
    }


def test_expired_jtis_are_purged(issuer, clock, sessions):
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    clock.advance(service.PURGE_INTERVAL + 1000)
    issuer.issue_credentials(attest(clock.now), holder_keys(1)[1])
    assert _used(sessions) == 1


def test_nothing_personal_or_secret_is_stored(issuer, clock, settings, engine):
    token = attest(clock.now)
    _, jwks = holder_keys(2)
    credentials = issuer.issue_credentials(token, jwks)
    engine.dispose()  # checkpoint the WAL into the main file
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    assert stored
    for secret in (
        jwks[0]["x"],
        jwks[1]["y"],
        token.split(".")[2],
        credentials[0].split("~")[0].split(".")[2],
        credentials[1].split("~")[1],
    ):
        assert secret.encode() not in stored


def test_metadata(issuer, settings):
    metadata = issuer.metadata()
    assert metadata["issuer"] == ISSUER
    assert metadata["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert metadata["credential_endpoint"] == ISSUER + "/v1/credentials"
    assert metadata["presentation_verify_endpoint"] == ISSUER + "/v1/presentations/verify"
    assert metadata["thresholds"] == [13, 15, 16, 18, 21]
    assert metadata["vct"] == sdjwt.VCT
    assert metadata["max_batch"] == settings.max_batch
    assert metadata["credential_lifetime"] == settings.credential_lifetime
    assert metadata["epoch_seconds"] == settings.epoch_seconds
    assert issuer.jwt_vc_issuer_metadata() == {
        "issuer": ISSUER,
        "jwks_uri": ISSUER + "/.well-known/jwks.json",
    }


def test_in_memory_database_works_end_to_end(settings, keystore, clock):
    engine = make_engine("sqlite://")
    create_schema(engine)
    sessions = session_factory(engine)
    TransparencyLog(sessions, keystore, settings.issuer_url).attach(sessions)

    with transaction(sessions) as session:
        add_verifier(
            session,
            id=ES_VERIFIER,
            name="V",
            jwks=[verifier_jwk(ES_KEY, ES_KID)],
            methods=["id_document"],
        )
    keys = SigningKeys(sessions, keystore, settings, clock)
    keys.generate_ahead()
    issuer = Issuer(settings, sessions, keys, clock)
    assert len(issuer.issue_credentials(attest(clock.now), holder_keys(2)[1])) == 2
