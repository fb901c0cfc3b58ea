"""Verifier: challenges, offline verification, replay protection and key fetching."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from sdk_vectors import (
    ADULT,
    AUDIENCE,
    FIFTEEN,
    ISSUER,
    ISSUER_KEY,
    NEXT_KEY,
    NOW,
    FakeIssuerSite,
    MovableClock,
    credentials_for,
    jwks,
)

from ageverify.errors import VerificationError
from ageverify.sdk import AgeProof, Holder, Verifier
from ageverify.sdk.verifier import fetch_url, is_allowed_url


def holder_with(
    age_over: dict[int, bool] = ADULT, *, clock: MovableClock, key=ISSUER_KEY
) -> Holder:  # type: ignore[no-untyped-def]
    holder = Holder(clock=clock)
    keys = holder.new_keys(3)
    holder.store_credentials(ISSUER, credentials_for(keys, age_over, key=key), keys)
    return holder


def static_verifier(clock: MovableClock, **kwargs) -> Verifier:  # type: ignore[no-untyped-def]
    return Verifier(AUDIENCE, issuer=ISSUER, jwks=jwks(ISSUER_KEY), clock=clock, **kwargs)


def code_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(VerificationError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_static_jwks_verifies_without_network() -> None:
    clock = MovableClock()

    def no_network(url: str) -> bytes:
        raise AssertionError(f"fetched {url}")

    verifier = Verifier(
        AUDIENCE, issuer=ISSUER, jwks=jwks(ISSUER_KEY), fetch=no_network, clock=clock
    )
    nonce = verifier.challenge()
    proof = verifier.verify(
        holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18
    )
    assert proof == AgeProof(
        facts={"age_over_18": True},
        min_age=18,
        max_age=None,
        issuer=ISSUER,
        expires_at=NOW + 90 * 86400,
    )


def test_challenge_nonces_are_fresh_and_long() -> None:
    verifier = static_verifier(MovableClock())
    nonces = {verifier.challenge() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) >= 22 for n in nonces)


def test_nonce_is_single_use() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18)
    verifier.verify(presentation, nonce=nonce, min_age=18)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "nonce-reused"


def test_expired_nonce() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock, nonce_ttl=120)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18)
    clock.advance(121)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "nonce-expired"


def test_unknown_nonce() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    presentation = holder_with(clock=clock).present(AUDIENCE, "made-up-nonce", min_age=18)
    assert (
        code_of(verifier.verify, presentation, nonce="made-up-nonce", min_age=18) == "nonce-unknown"
    )


def test_a_failed_attempt_burns_the_nonce() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    nonce = verifier.challenge()
    holder = holder_with(clock=clock)
    wrong = holder.present("https://other.example", nonce, min_age=18)
    assert code_of(verifier.verify, wrong, nonce=nonce, min_age=18) == "key-binding-wrong-audience"
    right = holder.present(AUDIENCE, nonce, min_age=18)
    assert code_of(verifier.verify, right, nonce=nonce, min_age=18) == "nonce-reused"


def test_invalid_requirement_is_refused_before_the_nonce_is_used() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=17) == "requirement-invalid"
    assert code_of(verifier.verify, presentation, nonce=nonce) == "requirement-invalid"
    assert verifier.verify(presentation, nonce=nonce, min_age=18).facts == {"age_over_18": True}


def test_fifteen_year_old_is_refused_adult_content_and_admitted_to_teen_rooms() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    teen = holder_with(FIFTEEN, clock=clock)
    nonce = verifier.challenge()
    presentation = teen.present(AUDIENCE, nonce, min_age=18)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "requirement-not-met"
    nonce = verifier.challenge()
    proof = verifier.verify(
        teen.present(AUDIENCE, nonce, min_age=13, max_age=17), nonce=nonce, min_age=13, max_age=17
    )
    assert proof.facts == {"age_over_13": True, "age_over_18": False}


def test_requirement_not_disclosed() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=13)
    assert (
        code_of(verifier.verify, presentation, nonce=nonce, min_age=18)
        == "requirement-not-disclosed"
    )


def test_credential_from_an_unpublished_key_is_refused() -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock, key=NEXT_KEY).present(AUDIENCE, nonce, min_age=18)
    assert (
        code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "credential-unknown-key"
    )


def test_static_jwks_needs_thresholds() -> None:
    with pytest.raises(ValueError):
        Verifier(AUDIENCE, issuer=ISSUER, jwks=jwks(ISSUER_KEY), thresholds=None)


def test_jwks_skips_unusable_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from ageverify.formats import jose

    document = jwks(ISSUER_KEY)
    document["keys"] += [
        {**jose.public_jwk(ed25519.Ed25519PrivateKey.generate()), "kid": "ed"},
        {**jose.public_jwk(NEXT_KEY)},  # no kid
        {**jose.public_jwk(NEXT_KEY), "kid": "private", "d": "AAAA"},
        {**jose.public_jwk(NEXT_KEY), "kid": "enc", "use": "enc"},
        "not a key",
    ]
    verifier = Verifier(AUDIENCE, issuer=ISSUER, jwks=document)
    assert list(verifier.keys()) == [jose.thumbprint(jose.public_jwk(ISSUER_KEY))]


# --- fetching keys --------------------------------------------------------------


def test_keys_and_thresholds_come_from_discovery() -> None:
    clock = MovableClock()
    site = FakeIssuerSite(thresholds=(13, 18))
    verifier = Verifier(AUDIENCE, issuer=ISSUER, thresholds=None, fetch=site, clock=clock)
    assert verifier.thresholds == {13, 18}
    nonce = verifier.challenge()
    assert code_of(verifier.verify, "x", nonce=nonce, min_age=16) == "requirement-invalid"
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18)
    assert verifier.verify(presentation, nonce=nonce, min_age=18).facts == {"age_over_18": True}
    assert site.requests == [
        ISSUER + "/.well-known/age-verification",
        ISSUER + "/.well-known/jwks.json",
    ]


def test_unknown_kid_refetches_at_most_once_per_interval() -> None:
    clock = MovableClock()
    site = FakeIssuerSite(ISSUER_KEY)
    verifier = Verifier(AUDIENCE, issuer=ISSUER, fetch=site, clock=clock, refresh_interval=300)
    holder = holder_with(clock=clock)
    rotated = holder_with(clock=clock, key=NEXT_KEY)

    nonce = verifier.challenge()
    verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
    assert site.jwks_requests() == 1

    # A credential from a key the verifier does not know: one refetch, then none.
    for _ in range(5):
        nonce = verifier.challenge()
        presentation = rotated.present(AUDIENCE, nonce, min_age=18)
        assert (
            code_of(verifier.verify, presentation, nonce=nonce, min_age=18)
            == "credential-unknown-key"
        )
        clock.advance(10)
    assert site.jwks_requests() == 1

    # The issuer publishes the new key; after the interval the verifier picks it up.
    site.keys.append(NEXT_KEY)
    clock.advance(300)
    nonce = verifier.challenge()
    assert verifier.verify(rotated.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
    assert site.jwks_requests() == 2


def test_known_kid_uses_the_cache_within_the_interval() -> None:
    clock = MovableClock()
    site = FakeIssuerSite()
    verifier = Verifier(AUDIENCE, issuer=ISSUER, fetch=site, clock=clock)
    holder = holder_with(clock=clock)
    for _ in range(10):
        nonce = verifier.challenge()
        verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
        clock.advance(20)
    assert site.jwks_requests() == 1


def test_revoked_key_disappears_after_the_interval() -> None:
    clock = MovableClock()
    site = FakeIssuerSite()
    verifier = Verifier(AUDIENCE, issuer=ISSUER, fetch=site, clock=clock, refresh_interval=60)
    holder = holder_with(clock=clock)
    nonce = verifier.challenge()
    verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
    site.keys = [NEXT_KEY]
    clock.advance(61)
    nonce = verifier.challenge()
    presentation = holder.present(AUDIENCE, nonce, min_age=18)
    assert (
        code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "credential-unknown-key"
    )


def test_unreachable_issuer_without_cached_keys() -> None:
    clock = MovableClock()
    site = FakeIssuerSite()
    site.down = True
    verifier = Verifier(AUDIENCE, issuer=ISSUER, fetch=site, clock=clock)
    holder = holder_with(clock=clock)
    nonce = verifier.challenge()
    presentation = holder.present(AUDIENCE, nonce, min_age=18)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "issuer-unreachable"
    # Retried soon, not on every request.
    nonce = verifier.challenge()
    presentation = holder.present(AUDIENCE, nonce, min_age=18)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "issuer-unreachable"
    assert len(site.requests) == 1
    site.down = False
    clock.advance(11)
    nonce = verifier.challenge()
    assert verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)


def test_unreachable_issuer_with_cached_keys_keeps_verifying() -> None:
    clock = MovableClock()
    site = FakeIssuerSite()
    verifier = Verifier(AUDIENCE, issuer=ISSUER, fetch=site, clock=clock)
    holder = holder_with(clock=clock)
    nonce = verifier.challenge()
    verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)
    site.down = True
    clock.advance(3600)
    nonce = verifier.challenge()
    assert verifier.verify(holder.present(AUDIENCE, nonce, min_age=18), nonce=nonce, min_age=18)


@pytest.mark.parametrize(
    "discovery",
    [
        {"issuer": "https://evil.example", "jwks_uri": ISSUER + "/.well-known/jwks.json"},
        {"issuer": ISSUER, "jwks_uri": "http://evil.example/jwks.json"},
        {"issuer": ISSUER, "jwks_uri": "file:///etc/passwd"},
        {"issuer": ISSUER},
    ],
)
def test_untrustworthy_discovery_is_refused(discovery: dict) -> None:
    clock = MovableClock()
    site = FakeIssuerSite()
    site.discovery = discovery
    verifier = Verifier(AUDIENCE, issuer=ISSUER, fetch=site, clock=clock)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18)
    assert code_of(verifier.verify, presentation, nonce=nonce, min_age=18) == "issuer-unreachable"
    assert site.jwks_requests() == 0


def test_issuer_url_must_be_https_or_loopback() -> None:
    with pytest.raises(ValueError):
        Verifier(AUDIENCE, issuer="http://issuer.example")
    assert Verifier(AUDIENCE, issuer="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://issuer.example/x", True),
        ("http://127.0.0.1:8000/x", True),
        ("http://127.9.9.9/x", True),
        ("http://[::1]:8000/x", True),
        ("http://localhost:8000/x", True),
        ("http://issuer.example/x", False),
        ("http://10.0.0.1/x", False),
        ("http://localhost.evil.example/x", False),
        ("http://127.0.0.1.evil.example/x", False),
        ("https://user:pass@issuer.example/x", False),
        ("ftp://issuer.example/x", False),
        ("file:///etc/passwd", False),
        ("https:///x", False),
        ("http://[::1/x", False),
    ],
)
def test_allowed_urls(url: str, allowed: bool) -> None:
    assert is_allowed_url(url) is allowed


# --- the default HTTP client, against a loopback server --------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server spelling
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
            return
        body = b"x" * 300_000 if self.path == "/huge" else json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_url_reads_a_loopback_document(loopback_server: str) -> None:
    assert json.loads(fetch_url(loopback_server + "/doc")) == {"path": "/doc"}


def test_fetch_url_follows_no_redirect(loopback_server: str) -> None:
    with pytest.raises(OSError):
        fetch_url(loopback_server + "/redirect")


def test_fetch_url_caps_the_size(loopback_server: str) -> None:
    with pytest.raises(ValueError):
        fetch_url(loopback_server + "/huge")


def test_fetch_url_refuses_plain_http_elsewhere() -> None:
    with pytest.raises(ValueError):
        fetch_url("http://issuer.example/")


@pytest.mark.parametrize(
    ("min_age", "max_age"), [(18.0, None), (True, None), (None, 17.0), ("18", None)]
)
def test_requirement_cache_does_not_confuse_types(min_age: object, max_age: object) -> None:
    clock = MovableClock()
    verifier = static_verifier(clock)
    nonce = verifier.challenge()
    presentation = holder_with(clock=clock).present(AUDIENCE, nonce, min_age=18)
    assert verifier.verify(presentation, nonce=nonce, min_age=18).min_age == 18
    with pytest.raises(VerificationError):  # a 17-or-under requirement, for the cache
        verifier.verify(presentation, nonce=verifier.challenge(), max_age=17)
    nonce = verifier.challenge()
    assert (
        code_of(verifier.verify, presentation, nonce=nonce, min_age=min_age, max_age=max_age)
        == "requirement-invalid"
    )
