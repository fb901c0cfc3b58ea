"""Benchmark: RSA blind signatures (RFC 9474, RSA-2048) against OpenSSL through ``cryptography``.

Run with ``python -m benchmarks.blindrsa``. Every figure is the median over
rounds, on one core (one thread), next to a floor measured in the same run;
the calls compared with each other take turns round by round, so that another
process stealing the CPU for a while slows both sides of a ratio alike:

- token verification (``blindrsa.verify`` of a finalized signature) against a
  raw RSASSA-PSS verify with ``cryptography`` — target at most 1.3 times the
  floor;
- blind signing (``BlindSigner.sign``, which runs RSASP1 in libcrypto, and its
  gmpy2 ``powmod_sec`` fallback) against OpenSSL's RSA-2048 private operation.
  ``cryptography`` has no raw (unpadded) RSA, so the floor is a PKCS#1 v1.5
  signature over a prehashed SHA-384 digest: padding is negligible next to the
  exponentiation, and OpenSSL blinds and checks its CRT result there as well.
  The product target is 1,000 signatures per second per core.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from ageverify.crypto import blindrsa
from benchmarks.timing import median_seconds, report

# A Privacy Pass token input is 2 + 32 + 32 + 32 bytes (RFC 9578 section 6.1).
TOKEN_INPUT = bytes(range(98))
PSS_SHA384 = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
PKCS1V15 = padding.PKCS1v15()
PREHASHED_SHA384 = utils.Prehashed(hashes.SHA384())


def main() -> None:
    """Measure and print the figures; ``--quick`` for a short run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 15
    signs = 20 if args.quick else 100
    verifies = 200 if args.quick else 2000

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    signer = blindrsa.BlindSigner(private_key)
    fallback = blindrsa.BlindSigner(private_key, backend="gmpy2")
    blinded_msg, inv = blindrsa.blind(public_key, TOKEN_INPUT)
    sig = blindrsa.finalize(public_key, TOKEN_INPUT, signer.sign(blinded_msg), inv)
    digest = hashes.Hash(hashes.SHA384())
    digest.update(TOKEN_INPUT)
    prehashed = digest.finalize()

    verify_ours, verify_floor = _take_turns(
        [
            lambda: blindrsa.verify(public_key, TOKEN_INPUT, sig),
            lambda: public_key.verify(sig, TOKEN_INPUT, PSS_SHA384, hashes.SHA384()),
        ],
        number=verifies,
        rounds=rounds,
    )
    sign_ours, sign_openssl, sign_fallback = _take_turns(
        [
            lambda: signer.sign(blinded_msg),
            lambda: private_key.sign(prehashed, PKCS1V15, PREHASHED_SHA384),
            lambda: fallback.sign(blinded_msg),
        ],
        number=signs,
        rounds=rounds,
    )

    print(
        report(
            [
                (
                    "token verification: verify vs raw RSA-PSS verify",
                    verify_ours,
                    verify_floor,
                    1.3,
                ),
                (
                    f"blind signature ({signer.backend}) vs OpenSSL private op",
                    sign_ours,
                    sign_openssl,
                    1.2,
                ),
                (
                    "blind signature (gmpy2 fallback) vs OpenSSL private op",
                    sign_fallback,
                    sign_openssl,
                    2.5,
                ),
            ]
        )
    )
    print()
    print(
        f"BlindSigner.sign ({signer.backend}), RSA-2048, one core: "
        f"{1 / sign_ours:6.0f} signatures/s (target >= 1000)"
    )
    print(f"BlindSigner.sign (gmpy2 powmod_sec), one core:   {1 / sign_fallback:6.0f} signatures/s")
    print(f"OpenSSL RSA-2048 private operation, one core:    {1 / sign_openssl:6.0f} signatures/s")


def _take_turns(calls: list[Callable[[], object]], *, number: int, rounds: int) -> list[float]:
    """The median per-call time of each of ``calls``, measured one round of each in turn."""
    per_round: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for times, call in zip(per_round, calls, strict=True):
            times.append(median_seconds(call, number=number, rounds=1))
    return [statistics.median(times) for times in per_round]


if __name__ == "__main__":
    main()
