"""Benchmark: RSA blind signatures (RFC 9474, RSA-2048) against OpenSSL through ``cryptography``.

Run with ``python -m benchmarks.blindrsa``. Every figure is the median over
rounds, on one core (one thread), next to a floor measured in the same run;
the calls compared with each other take turns round by round, so that another
process stealing the CPU for a while slows both sides of a ratio alike:

- token verification (``blindrsa.verify`` of a finalized signature) against a
  raw RSASSA-PSS verify with ``cryptography`` — target at most 1.3 times the
  floor;
- blind signing (``BlindSigner.sign``) against the product target of 1,000
  signatures per second per core, that is a budget of 1 ms each;
- blind signing against OpenSSL's RSA-2048 private operation. ``cryptography``
  has no raw (unpadded) RSA, so the nearest is a PKCS#1 v1.5 signature over a
  prehashed SHA-384 digest: padding is negligible next to the exponentiation,
  and OpenSSL also blinds and checks its CRT result, as ``BlindSigner`` does.
  No target: the ratio is reported as measured, with the share of the two
  ``gmpy2.powmod_sec`` half exponentiations, the floor of a constant-time
  gmpy2 signer.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import gmpy2
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 15
    signs = 20 if args.quick else 100
    verifies = 200 if args.quick else 2000

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    signer = blindrsa.BlindSigner(private_key)
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
    sign_ours, sign_openssl, halves, unblinded = _take_turns(
        [
            lambda: signer.sign(blinded_msg),
            lambda: private_key.sign(prehashed, PKCS1V15, PREHASHED_SHA384),
            _two_halves(private_key, blinded_msg),
            _unblinded_signature(private_key, blinded_msg),
        ],
        number=signs,
        rounds=rounds,
    )

    verify_name = "token verification: verify vs raw RSA-PSS verify"
    print(
        report(
            [
                (verify_name, verify_ours, verify_floor, 1.3),
                ("blind signature: BlindSigner.sign vs 1 ms budget", sign_ours, 1e-3, 1.0),
            ]
        )
    )
    print()
    print(f"BlindSigner.sign, RSA-2048, one core:       {1 / sign_ours:7.0f} signatures/s")
    print(f"OpenSSL RSA-2048 private operation, one core: {1 / sign_openssl:5.0f} signatures/s")
    print(f"time per signature, ours / OpenSSL:          {sign_ours / sign_openssl:7.2f}")
    print(
        f"the two powmod_sec halves alone:             {halves * 1e6:7.1f}us "
        f"({halves / sign_ours:.0%} of a signature; {1 / halves:.0f}/s at most)"
    )
    print(
        f"the same signature without base blinding:    {unblinded * 1e6:7.1f}us "
        f"(blinding costs {sign_ours / unblinded - 1:.1%})"
    )


def _take_turns(calls: list[Callable[[], object]], *, number: int, rounds: int) -> list[float]:
    """The median per-call time of each of ``calls``, measured one round of each in turn."""
    per_round: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for times, call in zip(per_round, calls, strict=True):
            times.append(median_seconds(call, number=number, rounds=1))
    return [statistics.median(times) for times in per_round]


def _two_halves(private_key: rsa.RSAPrivateKey, message: bytes) -> Callable[[], object]:
    """The two constant-time CRT exponentiations of a signature, alone."""
    numbers = private_key.private_numbers()
    p, q = gmpy2.mpz(numbers.p), gmpy2.mpz(numbers.q)
    d_p, d_q = gmpy2.mpz(numbers.dmp1), gmpy2.mpz(numbers.dmq1)
    m = gmpy2.mpz.from_bytes(message, "big")
    m_p, m_q = m % p, m % q
    return lambda: (gmpy2.powmod_sec(m_p, d_p, p), gmpy2.powmod_sec(m_q, d_q, q))


def _unblinded_signature(private_key: rsa.RSAPrivateKey, message: bytes) -> Callable[[], object]:
    """BlindSigner.sign's arithmetic without the base blinding: what the blinding costs."""
    numbers = private_key.private_numbers()
    n, e = gmpy2.mpz(numbers.public_numbers.n), gmpy2.mpz(numbers.public_numbers.e)
    p, q = gmpy2.mpz(numbers.p), gmpy2.mpz(numbers.q)
    d_p, d_q, q_inv = gmpy2.mpz(numbers.dmp1), gmpy2.mpz(numbers.dmq1), gmpy2.mpz(numbers.iqmp)

    def sign() -> bytes:
        m = gmpy2.mpz.from_bytes(message, "big")
        s_p = gmpy2.powmod_sec(m % p, d_p, p)
        s_q = gmpy2.powmod_sec(m % q, d_q, q)
        s = s_q + (s_p - s_q) * q_inv % p * q
        assert gmpy2.powmod(s, e, n) == m
        return s.to_bytes(256, "big")

    return sign


if __name__ == "__main__":
    main()
