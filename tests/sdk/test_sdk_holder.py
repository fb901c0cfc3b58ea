"""Holder: keys, credential requests, choosing a credential per audience, minimal disclosure."""

from __future__ import annotations

import json

import pytest
from sdk_vectors import (
    ADULT,
    AUDIENCE,
    FIFTEEN,
    ISSUER,
    ISSUER_KEY,
    NOW,
    MovableClock,
    credentials_for,
    jwks,
)

from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.formats import jose, sdjwt
from ageverify.sdk import FileWallet, Holder, MemoryWallet, Verifier


def holder_with(
    n: int = 10, age_over: dict[int, bool] = ADULT, clock: MovableClock | None = None, **kwargs
) -> Holder:  # type: ignore[no-untyped-def]
    holder = Holder(clock=clock or MovableClock(), **kwargs)
    keys = holder.new_keys(n)
    holder.store_credentials(ISSUER, credentials_for(keys, age_over), keys)
    return holder


def disclosed_names(presentation: str) -> list[str]:
    return [json.loads(jose.b64url_decode(d))[1] for d in presentation.split("~")[1:-1]]


def issuer_jwt_of(presentation: str) -> str:
    return presentation.split("~", 1)[0]


def test_new_keys_returns_public_jwks_and_keeps_private_ones() -> None:
    wallet = MemoryWallet()
    holder = Holder(wallet)
    keys = holder.new_keys(3)
    assert len(keys) == 3
    assert len({jose.thumbprint(k) for k in keys}) == 3
    for jwk in keys:
        assert set(jwk) == {"kty", "crv", "x", "y"}
        private = wallet.key(jose.thumbprint(jwk))
        assert private is not None and "d" in private


@pytest.mark.parametrize("n", [0, 31, -1, True, 2.0])
def test_new_keys_bounds(n: object) -> None:
    with pytest.raises(ValueError):
        Holder().new_keys(n)  # type: ignore[arg-type]


def test_same_audience_gets_the_same_credential() -> None:
    holder = holder_with()
    first = {issuer_jwt_of(holder.present(AUDIENCE, f"n{i}", min_age=18)) for i in range(5)}
    assert len(first) == 1


def test_audiences_spread_over_the_batch() -> None:
    holder = holder_with(10)
    chosen = {
        issuer_jwt_of(holder.present(f"https://platform-{i}.example", "n", min_age=18))
        for i in range(20)
    }
    assert len(chosen) >= 5


def test_choice_depends_on_the_wallet_secret() -> None:
    holder_a, holder_b = holder_with(10), holder_with(10)
    positions_a = [_position(holder_a, f"https://p{i}.example") for i in range(12)]
    positions_b = [_position(holder_b, f"https://p{i}.example") for i in range(12)]
    assert positions_a != positions_b


def _position(holder: Holder, audience: str) -> int:
    jwt = issuer_jwt_of(holder.present(audience, "n", min_age=18))
    return [held.credential.split("~", 1)[0] for held in holder.credentials()].index(jwt)


def test_only_the_needed_claims_are_disclosed() -> None:
    holder = holder_with()
    assert disclosed_names(holder.present(AUDIENCE, "n", min_age=18)) == ["age_over_18"]
    assert disclosed_names(holder.present(AUDIENCE, "n", max_age=17)) == ["age_over_18"]
    assert disclosed_names(holder.present(AUDIENCE, "n", min_age=13, max_age=17)) == [
        "age_over_13",
        "age_over_18",
    ]


def test_a_fifteen_year_old_discloses_the_false_fact() -> None:
    holder = holder_with(age_over=FIFTEEN)
    presentation = holder.present(AUDIENCE, "n", min_age=18)
    facts = sdjwt.verify_presentation(
        presentation,
        keys={jose.thumbprint(jose.public_jwk(ISSUER_KEY)): ISSUER_KEY.public_key()}.get,
        issuer=ISSUER,
        audience=AUDIENCE,
        nonce="n",
        now=NOW,
    )
    assert facts == {"age_over_18": False}


def test_claim_the_credential_lacks() -> None:
    holder = holder_with(age_over={13: True, 18: True})
    with pytest.raises(VerificationError) as caught:
        holder.present(AUDIENCE, "n", min_age=21)
    assert caught.value.code == "requirement-not-disclosed"


def test_invalid_requirement() -> None:
    with pytest.raises(VerificationError) as caught:
        holder_with().present(AUDIENCE, "n", min_age=18, max_age=13)
    assert caught.value.code == "requirement-invalid"


def test_expired_credentials_are_not_presented() -> None:
    clock = MovableClock()
    holder = holder_with(clock=clock)
    clock.advance(91 * 86400)
    with pytest.raises(VerificationError) as caught:
        holder.present(AUDIENCE, "n", min_age=18)
    assert caught.value.code == "requirement-not-disclosed"


def test_the_newest_batch_is_used() -> None:
    holder = holder_with(3)
    keys = holder.new_keys(3)
    newer = credentials_for(keys)
    holder.store_credentials(ISSUER, newer, keys)
    newest_jwts = {c.split("~", 1)[0] for c in newer}
    for i in range(10):
        assert (
            issuer_jwt_of(holder.present(f"https://p{i}.example", "n", min_age=18)) in newest_jwts
        )


def test_issuer_filter() -> None:
    holder = holder_with(3)
    with pytest.raises(VerificationError):
        holder.present(AUDIENCE, "n", min_age=18, issuer="https://other-issuer.example")
    assert holder.present(AUDIENCE, "n", min_age=18, issuer=ISSUER)


def test_store_refuses_credentials_bound_to_foreign_keys() -> None:
    holder = Holder()
    keys = holder.new_keys(2)
    foreign = Holder().new_keys(1)
    with pytest.raises(VerificationError):
        holder.store_credentials(ISSUER, credentials_for(foreign), keys)
    with pytest.raises(VerificationError):
        holder.store_credentials(ISSUER, credentials_for(keys, issuer="https://evil.example"), keys)
    with pytest.raises(VerificationError):
        holder.store_credentials(ISSUER, ["not a credential"], keys)
    assert holder.credentials() == []


def test_presentation_verifies_end_to_end() -> None:
    clock = MovableClock()
    holder = holder_with(clock=clock)
    verifier = Verifier(AUDIENCE, issuer=ISSUER, jwks=jwks(ISSUER_KEY), clock=clock)
    nonce = verifier.challenge()
    proof = verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
    assert proof.facts == {"age_over_18": True}


# --- requesting credentials over an injected POST ---------------------------------


class FakeIssuance:
    """``post`` for a Holder: signs one credential per posted holder key."""

    def __init__(self, status: int = 200, answer: bytes | None = None) -> None:
        self.status = status
        self.answer = answer
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, url: str, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        self.calls.append((url, request))
        if self.answer is not None:
            return self.status, self.answer
        credentials = credentials_for(request["holder_keys"])
        return 200, json.dumps({"credentials": credentials}).encode()


def test_request_credentials() -> None:
    post = FakeIssuance()
    holder = Holder(post=post, clock=MovableClock())
    credentials = holder.request_credentials(ISSUER, "attestation-token", count=5)
    assert len(credentials) == 5
    url, request = post.calls[0]
    assert url == ISSUER + "/v1/credentials"
    assert request["attestation"] == "attestation-token"
    assert len(request["holder_keys"]) == 5
    assert all("d" not in jwk for jwk in request["holder_keys"])
    assert [held.credential for held in holder.credentials()] == credentials
    assert holder.present(AUDIENCE, "n", min_age=18)


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [
        (409, b'{"code":"attestation-replayed","description":"x"}', "attestation-replayed"),
        (400, b'{"code":"holder-keys-invalid"}', "holder-keys-invalid"),
        (400, b'{"code":"made-up-code"}', "issuer-unreachable"),
        (500, b"<html>oops</html>", "issuer-unreachable"),
        (200, b'{"credentials":"nope"}', "issuer-unreachable"),
        (200, b'{"credentials":[1]}', "issuer-unreachable"),
    ],
)
def test_request_credentials_errors(status: int, answer: bytes, code: str) -> None:
    holder = Holder(post=FakeIssuance(status, answer))
    with pytest.raises(AgeVerifyError) as caught:
        holder.request_credentials(ISSUER, "attestation-token", count=2)
    assert caught.value.code == code
    assert holder.credentials() == []


def test_request_credentials_network_failure() -> None:
    def down(url: str, body: bytes) -> tuple[int, bytes]:
        raise OSError("connection refused")

    with pytest.raises(AgeVerifyError) as caught:
        Holder(post=down).request_credentials(ISSUER, "a", count=1)
    assert caught.value.code == "issuer-unreachable"


def test_discover_reads_the_discovery_document() -> None:
    holder = Holder(fetch=lambda url: json.dumps({"issuer": ISSUER, "url": url}).encode())
    assert holder.discover(ISSUER)["url"] == ISSUER + "/.well-known/age-verification"


def test_file_wallet_holder_survives_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "wallet.json"
    clock = MovableClock()
    holder = holder_with(5, clock=clock, wallet=FileWallet(path))
    before = holder.present(AUDIENCE, "n", min_age=18)
    reloaded = Holder(FileWallet(path), clock=clock)
    after = reloaded.present(AUDIENCE, "n", min_age=18)
    assert issuer_jwt_of(before) == issuer_jwt_of(after)
    verifier = Verifier(AUDIENCE, issuer=ISSUER, jwks=jwks(ISSUER_KEY), clock=clock)
    nonce = verifier.challenge()
    assert verifier.verify(reloaded.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
