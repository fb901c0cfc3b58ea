"""Privacy Pass in the SDK: TokenVerifier (platform), Holder and TokenClient (wallet), spent tokens.

The issuer is built here from the building blocks, no web app: a
:class:`BlindSigner` per token key, discovery and directory documents, and an
SDK :class:`Verifier` checking the credential presentations that authorise
token requests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sdk_vectors import ADULT, FIFTEEN, ISSUER, ISSUER_KEY, NOW, MovableClock, credentials_for, jwks

from ageverify import create_app
from ageverify.crypto.blindrsa import BlindSigner
from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier
from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.formats import jose
from ageverify.formats import privacypass as pp
from ageverify.sdk import (
    Holder,
    MemorySpentTokens,
    SpentTokens,
    TokenClient,
    TokenVerifier,
    Verifier,
)
from ageverify.sdk.verifier import DISCOVERY_PATH

ISSUER_NAME = "issuer.example"
ORIGIN = "platform.example"
NONCE_URL = ISSUER + "/v1/privacy-pass/nonce"
TOKEN_REQUEST_URL = ISSUER + "/v1/privacy-pass/token-request"

# Fresh RSA-2048 token keys, one per threshold, made once for the module.
KEY_18 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_21 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# The 18+ key of the next epoch, published ahead.
NEXT_KEY_18 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# A key no issuer publishes.
STRAY_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_id(key: rsa.RSAPrivateKey) -> bytes:
    return pp.token_key_id(key.public_key())


def spki(key: rsa.RSAPrivateKey) -> bytes:
    return pp.encode_pss_spki(key.public_key())


class TokenIssuerSite:
    """The issuer's Privacy Pass side in miniature: ``fetch`` and ``post`` for the SDK.

    ``keys`` are ``(private key, threshold, not_before)``. Token requests are
    authorised like the real issuer's: an ``AgeCredential`` presentation
    addressed to the issuer, on a nonce from the nonce endpoint, disclosing
    ``age_over_<threshold>`` = true.
    """

    def __init__(
        self,
        clock: MovableClock,
        keys: tuple[tuple[rsa.RSAPrivateKey, int, int | None], ...] = (
            (KEY_18, 18, None),
            (KEY_21, 21, None),
        ),
    ) -> None:
        self.clock = clock
        self.keys = keys
        self.signers = {key_id(key): (BlindSigner(key), threshold) for key, threshold, _ in keys}
        self.presentations = Verifier(ISSUER, issuer=ISSUER, jwks=jwks(ISSUER_KEY), clock=clock)
        self.token_requests: list[dict[str, str]] = []
        self.nonce_requests = 0
        self.tamper: Any = None

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "jwks_uri": ISSUER + "/.well-known/jwks.json",
            "privacy_pass": {
                "directory": ISSUER + pp.DIRECTORY_PATH,
                "token_request": TOKEN_REQUEST_URL,
                "nonce": NONCE_URL,
                "issuer_name": ISSUER_NAME,
                "token_keys": {
                    jose.b64url_encode(key_id(key)): {"threshold": threshold, "not_before": nb}
                    for key, threshold, nb in self.keys
                },
            },
        }

    def fetch(self, url: str) -> bytes:
        if url == ISSUER + DISCOVERY_PATH:
            return json.dumps(self.discovery()).encode()
        if url == ISSUER + pp.DIRECTORY_PATH:
            return pp.build_directory(
                TOKEN_REQUEST_URL,
                [pp.DirectoryKey(token_key=spki(key), not_before=nb) for key, _, nb in self.keys],
            )
        raise OSError(f"nothing at {url}")

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if url == NONCE_URL:
            self.nonce_requests += 1
            return 200, json.dumps(
                {"nonce": self.presentations.challenge(), "expires_in": 300}
            ).encode()
        if url != TOKEN_REQUEST_URL:
            return 404, b'{"code": "not-found"}'
        self.token_requests.append(dict(headers))
        if headers.get("Content-Type") != pp.MEDIA_TYPE_TOKEN_REQUEST:
            return 415, b'{"code": "unsupported-media-type"}'
        try:
            request = pp.TokenRequest.decode(body)
            matches = [kid for kid in self.signers if kid[-1] == request.truncated_token_key_id]
            if len(matches) != 1:
                raise AgeVerifyError("privacypass-bad-token-key")
            signer, threshold = self.signers[matches[0]]
            presentation = re.fullmatch(
                r'AgeCredential presentation="([^"]+)"', headers.get("Authorization", "")
            )
            if presentation is None:
                raise VerificationError("presentation-malformed")
            kb_payload = presentation.group(1).rsplit("~", 1)[1].split(".")[1]
            nonce = json.loads(jose.b64url_decode(kb_payload))["nonce"]
            self.presentations.verify(presentation.group(1), nonce=nonce, min_age=threshold)
            blind_sig = signer.sign(request.blinded_msg)
        except AgeVerifyError as error:
            return error.status, json.dumps(error.as_dict()).encode()
        if self.tamper is not None:
            blind_sig = self.tamper(blind_sig)
        return 200, pp.TokenResponse(blind_sig).encode()


def holder_for(
    site: TokenIssuerSite, age_over: dict[int, bool] = ADULT, clock: MovableClock | None = None
) -> Holder:
    holder = Holder(fetch=site.fetch, post_request=site.post, clock=clock or site.clock)
    keys = holder.new_keys(3)
    holder.store_credentials(ISSUER, credentials_for(keys, age_over), keys)
    return holder


def static_verifier(clock: MovableClock, **options: Any) -> TokenVerifier:
    options.setdefault("origin_info", (ORIGIN,))
    return TokenVerifier(
        ISSUER_NAME, {18: KEY_18.public_key(), 21: spki(KEY_21)}, clock=clock, **options
    )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(NOW)


@pytest.fixture
def site(clock: MovableClock) -> TokenIssuerSite:
    return TokenIssuerSite(clock)


def code_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(AgeVerifyError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# --- round trip -----------------------------------------------------------------


def test_round_trip(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    holder = holder_for(site)
    authorization = holder.answer(verifier.challenge(18), origin=ORIGIN)
    proof = verifier.verify(authorization, threshold=18)
    assert proof.threshold == 18
    assert proof.facts == {"age_over_18": True}
    assert proof.token_key_id == key_id(KEY_18)
    assert proof.challenge.issuer_name == ISSUER_NAME
    assert proof.challenge.origin_info == (ORIGIN,)
    # One nonce, one token request, authorised by a presentation to the issuer
    # that discloses the threshold's fact and nothing else.
    assert site.nonce_requests == 1
    (headers,) = site.token_requests
    assert headers["Accept"] == pp.MEDIA_TYPE_TOKEN_RESPONSE
    presentation = headers["Authorization"].split('"')[1]
    disclosed = [json.loads(jose.b64url_decode(d))[1] for d in presentation.split("~")[1:-1]]
    assert disclosed == ["age_over_18"]


def test_each_threshold_uses_its_own_key(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    holder = holder_for(site)
    proof = verifier.verify(holder.answer(verifier.challenge(21)), threshold=21)
    assert proof.token_key_id == key_id(KEY_21)


def test_header_formats(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock, challenge_ttl=120)
    header = verifier.challenge(18)
    (offered,) = pp.parse_www_authenticate(header)
    assert offered.token_key == spki(KEY_18)
    assert offered.max_age == 120
    assert offered.challenge.issuer_name == ISSUER_NAME
    assert len(offered.challenge.redemption_context) == 32
    assert offered.challenge.origin_info == (ORIGIN,)
    authorization = holder_for(site).answer(header)
    assert re.fullmatch(r'PrivateToken token="[A-Za-z0-9_-]+=*"', authorization)
    token = pp.parse_authorization(authorization)
    assert token.challenge_digest == pp.challenge_digest(offered.challenge)
    assert token.token_key_id == key_id(KEY_18)


def test_fresh_contexts_differ(clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    contexts = {
        pp.parse_www_authenticate(verifier.challenge(18))[0].challenge.redemption_context
        for _ in range(5)
    }
    assert len(contexts) == 5


# --- refusals -------------------------------------------------------------------


def test_a_token_of_another_threshold_is_refused(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock)
    authorization = holder_for(site).answer(verifier.challenge(18))
    assert code_of(verifier.verify, authorization, threshold=21) == "token-wrong-key"


def test_a_token_of_an_unknown_key_is_refused(clock: MovableClock) -> None:
    rogue = TokenIssuerSite(clock, keys=((STRAY_KEY, 18, None),))
    verifier = static_verifier(clock)
    (offered,) = pp.parse_www_authenticate(verifier.challenge(18))
    stray_header = pp.format_www_authenticate([(offered.challenge, spki(STRAY_KEY))])
    authorization = holder_for(rogue).answer(stray_header)
    assert code_of(verifier.verify, authorization, threshold=18) == "token-wrong-key"


def test_a_threshold_without_key(clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    assert code_of(verifier.challenge, 16) == "token-no-key"


def flip_bit(value: bytes, index: int = 5) -> bytes:
    return value[:index] + bytes([value[index] ^ 0x01]) + value[index + 1 :]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("authenticator", "token-bad-signature"),
        ("nonce", "token-bad-signature"),
        ("challenge_digest", "token-unknown-challenge"),
        ("token_key_id", "token-wrong-key"),
    ],
)
def test_tampered_token(
    site: TokenIssuerSite, clock: MovableClock, field: str, expected: str
) -> None:
    verifier = static_verifier(clock)
    token = pp.parse_authorization(holder_for(site).answer(verifier.challenge(18)))
    tampered = dataclasses.replace(token, **{field: flip_bit(getattr(token, field))})
    assert code_of(verifier.verify, pp.format_authorization(tampered), threshold=18) == expected
    # The genuine token is still good: the failed attempt spent nothing.
    assert verifier.verify(pp.format_authorization(token), threshold=18)


def test_replay_is_refused(site: TokenIssuerSite, clock: MovableClock) -> None:
    spent = MemorySpentTokens(clock=clock)
    verifier = static_verifier(clock, spent=spent)
    header = verifier.challenge(18)
    authorization = holder_for(site).answer(header)
    verifier.verify(authorization, threshold=18)
    assert code_of(verifier.verify, authorization, threshold=18) == "token-replayed"
    assert len(spent) == 1
    # Another process sharing the store, given the challenge, refuses it too.
    other = static_verifier(clock, spent=spent)
    assert code_of(other.verify, authorization, threshold=18, challenge=header) == (
        "token-replayed"
    )


def test_a_challenge_from_another_origin_is_refused(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    here = static_verifier(clock)
    elsewhere = static_verifier(clock, origin_info=("other.example",))
    holder = holder_for(site)
    authorization = holder.answer(elsewhere.challenge(18), origin="other.example")
    assert code_of(here.verify, authorization, threshold=18) == "token-unknown-challenge"
    # The other origin's own token is fine there.
    assert elsewhere.verify(authorization, threshold=18)


def test_the_wallet_refuses_a_challenge_naming_other_origins(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    elsewhere = static_verifier(clock, origin_info=("other.example",))
    holder = holder_for(site)
    assert code_of(holder.answer, elsewhere.challenge(18), origin=ORIGIN) == (
        "token-challenge-unusable"
    )
    assert site.token_requests == []


def test_missing_and_malformed_authorization(clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    assert code_of(verifier.verify, None, threshold=18) == "token-missing"
    assert code_of(verifier.verify, "  ", threshold=18) == "token-missing"
    assert code_of(verifier.verify, "Bearer abc", threshold=18) == "privacypass-header-malformed"
    assert code_of(verifier.verify, 'PrivateToken token="AAAA"', threshold=18) in {
        "privacypass-malformed",
        "privacypass-unsupported-token-type",
    }
    with pytest.raises(VerificationError):
        verifier.verify('PrivateToken token="AAAA"', threshold=18)


# --- redemption contexts ----------------------------------------------------------


def test_an_expired_challenge_is_refused(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock, challenge_ttl=60)
    authorization = holder_for(site).answer(verifier.challenge(18))
    clock.advance(61)
    assert code_of(verifier.verify, authorization, threshold=18) == "token-unknown-challenge"


def test_the_oldest_challenges_are_forgotten_beyond_the_bound(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock, max_challenges=2)
    first = verifier.challenge(18)
    verifier.challenge(18)
    authorization = holder_for(site).answer(first)
    verifier.challenge(18)
    assert code_of(verifier.verify, authorization, threshold=18) == "token-unknown-challenge"


def test_a_challenge_answered_at_another_threshold_is_refused(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock)
    # A token made with the 21+ key for a challenge the platform issued for 18+.
    (offered,) = pp.parse_www_authenticate(verifier.challenge(18))
    header_21 = pp.format_www_authenticate([(offered.challenge, spki(KEY_21))])
    authorization = holder_for(site).answer(header_21)
    assert code_of(verifier.verify, authorization, threshold=21) == "token-unknown-challenge"


def test_a_given_redemption_context(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    context = hashlib.sha256(b"session 42").digest()
    header = verifier.challenge(18, redemption_context=context)
    assert pp.parse_www_authenticate(header)[0].challenge.redemption_context == context
    assert verifier.verify(holder_for(site).answer(header), threshold=18)
    with pytest.raises(ValueError):
        verifier.challenge(18, redemption_context=b"short")


def test_a_given_context_issued_again_does_not_revive_its_tokens(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock, challenge_ttl=60)
    context = hashlib.sha256(b"session 42").digest()
    authorization = holder_for(site).answer(verifier.challenge(18, redemption_context=context))
    verifier.verify(authorization, threshold=18)
    clock.advance(50)
    verifier.challenge(18, redemption_context=context)
    clock.advance(50)
    assert code_of(verifier.verify, authorization, threshold=18) == "token-replayed"


def test_the_challenge_kept_by_the_platform(site: TokenIssuerSite, clock: MovableClock) -> None:
    # A platform running several processes keeps the header it sent (e.g. in
    # its session) and hands it to whichever process receives the token.
    issuing = static_verifier(clock)
    header = issuing.challenge(18)
    authorization = holder_for(site).answer(header)
    redeeming = static_verifier(clock)
    assert code_of(redeeming.verify, authorization, threshold=18) == "token-unknown-challenge"
    other_header = issuing.challenge(18)
    assert (
        code_of(redeeming.verify, authorization, threshold=18, challenge=other_header)
        == "token-unknown-challenge"
    )
    assert code_of(redeeming.verify, authorization, threshold=18, challenge="not a header (") == (
        "token-unknown-challenge"
    )
    proof = redeeming.verify(authorization, threshold=18, challenge=header)
    assert proof.challenge == pp.parse_www_authenticate(header)[0].challenge


def test_empty_context_needs_to_be_allowed(site: TokenIssuerSite, clock: MovableClock) -> None:
    strict = static_verifier(clock)
    with pytest.raises(ValueError):
        strict.challenge(18, redemption_context=b"")
    lenient = static_verifier(clock, allow_empty_context=True)
    header = lenient.challenge(18, redemption_context=b"")
    (offered,) = pp.parse_www_authenticate(header)
    assert offered.challenge.redemption_context == b""
    assert offered.max_age is None
    authorization = holder_for(site).answer(header)
    assert code_of(strict.verify, authorization, threshold=18) == "token-unknown-challenge"
    assert lenient.verify(authorization, threshold=18)
    assert code_of(lenient.verify, authorization, threshold=18) == "token-replayed"


def test_tokens_fetched_ahead_answer_empty_context_challenges(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock, allow_empty_context=True)
    holder = holder_for(site)
    tokens = holder.fetch_tokens(ISSUER, 18, 3, origin_info=(ORIGIN,))
    assert len(tokens) == 3 and len(holder.tokens.held(18)) == 3
    assert len(site.token_requests) == 3
    header = verifier.challenge(18, redemption_context=b"")
    for _ in range(3):
        assert verifier.verify(holder.answer(header, origin=ORIGIN), threshold=18)
    # No request reached the issuer when the platform was visited.
    assert len(site.token_requests) == 3
    assert holder.tokens.held(18) == []
    # With none left, the next one is minted for the challenge.
    assert verifier.verify(holder.answer(header, origin=ORIGIN), threshold=18)
    assert len(site.token_requests) == 4


def test_cross_origin_tokens(site: TokenIssuerSite, clock: MovableClock) -> None:
    holder = holder_for(site)
    holder.fetch_tokens(ISSUER, 18, 2)
    for origin in ("a.example", "b.example"):
        verifier = static_verifier(clock, origin_info=(), allow_empty_context=True)
        header = verifier.challenge(18, redemption_context=b"")
        assert verifier.verify(holder.answer(header, origin=origin), threshold=18)
    assert len(site.token_requests) == 2


def test_tokens_fetched_ahead_are_not_used_for_a_fresh_context(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock, allow_empty_context=True)
    holder = holder_for(site)
    holder.fetch_tokens(ISSUER, 18, 1, origin_info=(ORIGIN,))
    assert verifier.verify(holder.answer(verifier.challenge(18)), threshold=18)
    assert len(holder.tokens.held(18)) == 1
    assert len(site.token_requests) == 2


def test_tokens_fetched_ahead_for_another_origin_are_not_used(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = static_verifier(clock, allow_empty_context=True)
    holder = holder_for(site)
    holder.fetch_tokens(ISSUER, 18, 1, origin_info=("other.example",))
    header = verifier.challenge(18, redemption_context=b"")
    assert verifier.verify(holder.answer(header), threshold=18)
    assert len(holder.tokens.held(18)) == 1


# --- the wallet's side -------------------------------------------------------------


def test_an_under_age_holder_gets_no_token(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    holder = holder_for(site, age_over=FIFTEEN)
    assert code_of(holder.answer, verifier.challenge(18)) == "requirement-not-met"


def test_a_wrong_blind_signature_never_becomes_a_token(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    site.tamper = flip_bit
    verifier = static_verifier(clock)
    assert code_of(holder_for(site).answer, verifier.challenge(18)) == (
        "blind-rsa-invalid-signature"
    )


def test_a_challenge_of_an_issuer_without_credentials(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    verifier = TokenVerifier("other-issuer.example", {18: KEY_18.public_key()}, clock=clock)
    assert code_of(holder_for(site).answer, verifier.challenge(18)) == "token-challenge-unusable"
    assert code_of(Holder().answer, static_verifier(clock).challenge(18)) == (
        "token-challenge-unusable"
    )


def test_the_first_usable_challenge_is_answered(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = static_verifier(clock)
    header = 'Basic realm="x", ' + verifier.challenge(21) + ", " + verifier.challenge(18)
    proof = verifier.verify(holder_for(site).answer(header), threshold=21)
    assert proof.threshold == 21


def test_fetch_tokens_bounds(site: TokenIssuerSite) -> None:
    holder = holder_for(site)
    for count in (0, 31, True):
        with pytest.raises(ValueError):
            holder.fetch_tokens(ISSUER, 18, count)  # type: ignore[arg-type]
    assert code_of(holder.fetch_tokens, ISSUER, 16, 1) == "token-no-key"


def test_token_client_without_a_holder(site: TokenIssuerSite, clock: MovableClock) -> None:
    holder = holder_for(site)
    calls = []

    def present(issuer_url: str, nonce: str, threshold: int) -> str:
        calls.append((issuer_url, threshold))
        return holder.present(issuer_url, nonce, min_age=threshold)

    client = TokenClient(present, fetch=site.fetch, post=site.post, clock=clock)
    verifier = static_verifier(clock)
    authorization = client.answer(verifier.challenge(18), issuers=[ISSUER])
    assert verifier.verify(authorization, threshold=18)
    assert calls == [(ISSUER, 18)]


def test_an_unreachable_issuer(clock: MovableClock) -> None:
    def offline(url: str) -> bytes:
        raise OSError("offline")

    holder = Holder(fetch=offline, clock=clock)
    keys = holder.new_keys(1)
    holder.store_credentials(ISSUER, credentials_for(keys), keys)
    assert code_of(holder.answer, static_verifier(clock).challenge(18)) == "issuer-unreachable"


# --- keys from the issuer's discovery document ------------------------------------


def test_keys_from_discovery(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = TokenVerifier.from_issuer(ISSUER, fetch=site.fetch, clock=clock)
    assert verifier.issuer_name == ISSUER_NAME
    holder = holder_for(site)
    assert verifier.verify(holder.answer(verifier.challenge(21)), threshold=21)
    assert set(verifier.token_keys()) == {key_id(KEY_18), key_id(KEY_21)}


def test_keys_published_ahead_take_over_at_not_before(clock: MovableClock) -> None:
    switch = int(clock()) + 3600
    site = TokenIssuerSite(clock, keys=((KEY_18, 18, int(clock()) - 60), (NEXT_KEY_18, 18, switch)))
    verifier = TokenVerifier.from_issuer(
        ISSUER, fetch=site.fetch, clock=clock, challenge_ttl=7200, refresh_interval=60
    )
    holder = holder_for(site)
    before = pp.parse_authorization(holder.answer(verifier.challenge(18)))
    assert before.token_key_id == key_id(KEY_18)
    old_token = holder.answer(verifier.challenge(18))
    clock.advance(3600)
    after = holder.answer(verifier.challenge(18))
    assert pp.parse_authorization(after).token_key_id == key_id(NEXT_KEY_18)
    assert verifier.verify(after, threshold=18)
    # A token of the previous key, still listed, is still good.
    assert verifier.verify(old_token, threshold=18)


def test_discovery_naming_another_issuer_name(site: TokenIssuerSite, clock: MovableClock) -> None:
    verifier = TokenVerifier("elsewhere.example", issuer=ISSUER, fetch=site.fetch, clock=clock)
    assert code_of(verifier.challenge, 18) == "issuer-unreachable"


def test_verifier_needs_keys_or_an_issuer(clock: MovableClock) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(ISSUER_NAME)
    with pytest.raises(ValueError):
        TokenVerifier(ISSUER_NAME, {18: KEY_18.public_key()}, issuer=ISSUER)
    with pytest.raises(ValueError):
        TokenVerifier(ISSUER_NAME, issuer="http://issuer.example")
    with pytest.raises(AgeVerifyError):
        TokenVerifier(ISSUER_NAME, {18: b"not a key"})


# --- the spent-token store ------------------------------------------------------------


def test_spent_store_refuses_a_token_twice_until_it_expires(clock: MovableClock) -> None:
    spent = MemorySpentTokens(clock=clock)
    assert isinstance(spent, SpentTokens)
    token_id = hashlib.sha256(b"token").digest()
    assert spent.add(token_id, clock() + 60) is True
    assert spent.add(token_id, clock() + 60) is False
    assert spent.add(hashlib.sha256(b"other").digest(), clock() + 10) is True
    clock.advance(30)
    assert spent.add(token_id, clock() + 60) is False
    clock.advance(31)
    assert spent.add(token_id, clock() + 60) is True
    assert len(spent) == 1


def test_spent_store_is_thread_safe(clock: MovableClock) -> None:
    spent = MemorySpentTokens(clock=clock)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def spend() -> None:
        barrier.wait()
        results.append(spent.add(b"\x01" * 32, clock() + 60))

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_replay_protection_ends_with_the_challenge(
    site: TokenIssuerSite, clock: MovableClock
) -> None:
    spent = MemorySpentTokens(clock=clock)
    verifier = static_verifier(clock, spent=spent, challenge_ttl=60)
    verifier.verify(holder_for(site).answer(verifier.challenge(18)), threshold=18)
    clock.advance(61)
    # The entry went with the challenge it answered: nothing outlives its use.
    spent.add(b"\x02" * 32, clock() + 1)
    assert len(spent) == 1


# --- against the issuer's HTTP API -----------------------------------------------


def test_holder_to_issuer_app_to_verifier(instance: Path) -> None:
    clock = MovableClock(time.time())
    app = create_app({"env": "development", "instance_path": instance}, clock=clock)
    state = app.extensions["ageverify"]
    try:
        client = app.test_client()
        demo = DemoVerifier.load_or_create(instance)
        register_demo_verifier(state.sessions, demo, now=clock())
        issuer_url = state.settings.issuer_url

        def fetch(url: str) -> bytes:
            response = client.get(url)
            if response.status_code != 200:
                raise OSError(f"HTTP {response.status_code}")
            return response.data

        def post_json(url: str, body: bytes) -> tuple[int, bytes]:
            response = client.post(url, data=body, content_type="application/json")
            return response.status_code, response.data

        def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            response = client.post(url, data=body, headers=headers)
            return response.status_code, response.data

        holder = Holder(fetch=fetch, post=post_json, post_request=post, clock=clock)
        attestation = demo.attest(
            issuer=issuer_url, age_over=age_facts(30, state.settings.thresholds), now=clock()
        )
        holder.request_credentials(issuer_url, attestation, count=2)
        verifier = TokenVerifier.from_issuer(
            issuer_url, origin_info=(ORIGIN,), fetch=fetch, clock=clock
        )

        authorization = holder.answer(verifier.challenge(18), origin=ORIGIN)
        proof = verifier.verify(authorization, threshold=18)
        assert proof.facts == {"age_over_18": True}
        assert code_of(verifier.verify, authorization, threshold=18) == "token-replayed"
        assert code_of(verifier.verify, authorization, threshold=21) == "token-wrong-key"

        # Tokens fetched ahead for this origin, redeemed without asking the issuer.
        holder.fetch_tokens(issuer_url, 21, 2, origin_info=(ORIGIN,))
        ahead = TokenVerifier.from_issuer(
            issuer_url, origin_info=(ORIGIN,), allow_empty_context=True, fetch=fetch, clock=clock
        )
        header = ahead.challenge(21, redemption_context=b"")
        for _ in range(2):
            assert ahead.verify(holder.answer(header, origin=ORIGIN), threshold=21)
        assert holder.tokens.held(21) == []
    finally:
        state.close()


def test_tokens_of_a_key_no_longer_listed_are_dropped(clock: MovableClock) -> None:
    site = TokenIssuerSite(clock)
    holder = holder_for(site)
    holder.fetch_tokens(ISSUER, 18, 2)
    site.keys = ((NEXT_KEY_18, 18, None), (KEY_21, 21, None))
    clock.advance(301)
    holder.tokens.issuer(ISSUER)
    assert holder.tokens.held(18) == []
