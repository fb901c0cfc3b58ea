"""Benchmark: credential issuance and presentation verification against their floors.

Run with ``make bench`` (``python -m benchmarks.credentials``). Every figure is
the median over rounds and is printed next to a floor measured in the same
run on the same machine, so that a busy or slow machine moves both:

- SDK presentation verification (``Verifier.verify``: nonce, strict parsing,
  two signatures, disclosures, requirement) against two raw ES256 verifies
  with ``cryptography`` — target at most 1.6 times the floor. A first visit
  brings a holder key never seen, so its floor also builds that key from the
  credential's coordinates (a raw verifier cannot check the Key Binding JWT
  without it); a returning visitor's floor has both keys built;
- issuance per credential in a batch of 30, without HTTP (``Issuer``: the
  attestation check, holder keys, the replay record and counts in one
  database transaction, 30 signatures) against one raw ES256 sign — target at
  most 2 times the floor. The signing core alone (``issue_batch``) is shown too.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ageverify import create_app
from ageverify.config import write_dev_settings
from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier
from ageverify.formats import jose
from ageverify.issuer.credentials import issue_batch, parse_holder_keys
from ageverify.sdk import Holder, Verifier
from benchmarks.timing import paired_seconds, report

BATCH = 30
ES256 = ec.ECDSA(hashes.SHA256())


def _split(token: str) -> tuple[bytes, bytes]:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}".encode("ascii"), jose.b64url_decode(signature)


def main() -> None:
    """Measure and print the figures; ``--quick`` for a short run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    # Many short rounds: the median of 27 rounds of 100 verifications moved
    # by 0.05 over five runs, that of 9 rounds of 300 by 0.3.
    rounds = 3 if args.quick else 27
    number = 50 if args.quick else 100
    batches = 3 if args.quick else 4

    with tempfile.TemporaryDirectory(prefix="ageverify-bench-") as folder:
        instance = Path(folder) / "instance"
        write_dev_settings(instance)
        app = create_app({"env": "development", "instance_path": instance, "log_level": "ERROR"})
        state = app.extensions["ageverify"]
        settings = state.settings
        demo = DemoVerifier.load_or_create(instance)
        register_demo_verifier(state.sessions, demo, now=state.clock())
        try:
            rows = _issuance(state, demo, rounds=rounds, batches=batches)
            rows += _verification(state, demo, settings, rounds=rounds, number=number)
        finally:
            state.close()
    print(report(rows))


def _issuance(state, demo, *, rounds: int, batches: int):  # type: ignore[no-untyped-def]
    settings = state.settings
    facts = age_facts(30, settings.thresholds)
    holder_keys = Holder().new_keys(BATCH)
    attestations = iter(
        [
            demo.attest(issuer=settings.issuer_url, age_over=facts, lifetime=600)
            for _ in range(rounds * batches * 2 + 2)
        ]
    )
    state.issuer.issue_credentials(next(attestations), holder_keys)  # warm: key loaded, caches

    signing = state.signing_keys.current()
    keys = parse_holder_keys(holder_keys, BATCH)

    def core() -> None:
        issue_batch(
            signing_key=signing.private_key,
            kid=signing.kid,
            issuer=settings.issuer_url,
            epoch_start=signing.epoch_start,
            lifetime=settings.credential_lifetime,
            holder_keys=keys,
            age_over=facts,
            decoys=settings.decoys,
        )

    credential = state.issuer.issue_credentials(next(attestations), holder_keys)[0]
    signing_input, _ = _split(credential.split("~")[0])
    key = signing.private_key

    def floor() -> None:
        key.sign(signing_input, ES256)

    per_batch = {"number": batches, "floor_number": batches * BATCH, "rounds": rounds, "per": BATCH}
    service = paired_seconds(
        lambda: state.issuer.issue_credentials(next(attestations), holder_keys), floor, **per_batch
    )
    core_time = paired_seconds(core, floor, **per_batch)
    return [
        ("issuance per credential, batch of 30 (Issuer, with DB)", *service[:2], 2.0, service[2]),
        ("issuance per credential, batch of 30 (signing core)", *core_time[:2], 2.0, core_time[2]),
    ]


def _verification(state, demo, settings, *, rounds: int, number: int):  # type: ignore[no-untyped-def]
    audience = "https://platform.example"
    verifier = Verifier(
        audience,
        issuer=settings.issuer_url,
        jwks=state.issuer.jwks(),
        thresholds=settings.thresholds,
    )
    # First visits: every presentation comes from a credential (and holder key)
    # the platform has not seen, so no cache of the verifier helps.
    total = rounds * number + 1
    holders: list[Holder] = []
    while len(holders) < total:
        batch = [Holder() for _ in range(BATCH)]
        keys = [holder.new_keys(1)[0] for holder in batch]
        attestation = demo.attest(
            issuer=settings.issuer_url, age_over=age_facts(30, settings.thresholds)
        )
        for holder, key, credential in zip(
            batch, keys, state.issuer.issue_credentials(attestation, keys), strict=True
        ):
            holder.store_credentials(settings.issuer_url, [credential], [key])
        holders.extend(batch)
    first_visits = []
    for holder in holders[:total]:
        nonce = verifier.challenge()
        first_visits.append((holder.present(audience, nonce, min_age=18), nonce))
    # Returning visits: one person comes back, with the same credential.
    returning = []
    for _ in range(total):
        nonce = verifier.challenge()
        returning.append((holders[0].present(audience, nonce, min_age=18), nonce))

    first_queue = iter(first_visits)

    def first_verify() -> None:
        presentation, nonce = next(first_queue)
        verifier.verify(presentation, nonce=nonce, min_age=18)

    first_verify()  # warm: the issuer key is parsed once and cached

    # cryptography takes DER: the conversion is part of the floor, as any ES256 verifier needs it.
    def der(raw: bytes) -> bytes:
        return encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )

    def raw_parts(presentation: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        issuer_jwt, *_, kb_jwt = presentation.split("~")
        credential = jose.parse_compact(issuer_jwt, max_size=len(issuer_jwt))
        jwk = credential.payload["cnf"]["jwk"]
        point = b"\x04" + jose.b64url_decode(jwk["x"]) + jose.b64url_decode(jwk["y"])
        return (*_split(issuer_jwt), point, *_split(kb_jwt))

    issuer_key = next(iter(verifier.keys().values()))
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)  # noqa: S101 - ES256 credentials

    # Returning visitor: both keys already built, as a platform holding them would.
    credential_input, credential_sig, point, kb_input, kb_sig = raw_parts(returning[0][0])
    holder_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)

    def floor() -> None:
        issuer_key.verify(der(credential_sig), credential_input, ES256)
        holder_key.verify(der(kb_sig), kb_input, ES256)

    # First visit: the holder key arrives in the credential, so even a raw
    # verifier builds it from its coordinates before the second verify.
    first_parts = [raw_parts(presentation) for presentation, _ in first_visits]
    queue = iter(first_parts)

    def first_floor() -> None:
        credential_input, credential_sig, point, kb_input, kb_sig = next(queue)
        issuer_key.verify(der(credential_sig), credential_input, ES256)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        key.verify(der(kb_sig), kb_input, ES256)

    returning_queue = iter(returning)

    def returning_verify() -> None:
        presentation, nonce = next(returning_queue)
        verifier.verify(presentation, nonce=nonce, min_age=18)

    first = paired_seconds(first_verify, first_floor, number=number, rounds=rounds)
    again = paired_seconds(returning_verify, floor, number=number, rounds=rounds)
    return [
        ("verification, first visit (Verifier.verify)", *first[:2], 1.6, first[2]),
        ("verification, returning visitor (Verifier.verify)", *again[:2], 1.6, again[2]),
    ]


if __name__ == "__main__":
    main()
