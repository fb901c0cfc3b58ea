"""Verifier attestations: the signed age facts an accredited verifier hands to the issuer.

An attestation is a compact JWS (``typ`` ``age-attestation+jwt``, ``alg``
ES256 or EdDSA, ``kid``) whose claims are exactly
:data:`ATTESTATION_CLAIMS`. Anything else, a name, a birth date or a document
number, is refused: the issuer never receives personal data.

This module checks the header and the claims. Finding the verifier's key by
``iss`` and ``kid`` and checking the signature belong to the issuer's intake,
which knows the verifier registry. The constants are wire format: only ever
added to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from ageverify.errors import AgeVerifyError, IssuanceError
from ageverify.formats import jose
from ageverify.formats.jose import CompactJWS

__all__ = [
    "ATTESTATION_ALGS",
    "ATTESTATION_CLAIMS",
    "ATTESTATION_TYP",
    "MAX_ATTESTATION_LIFETIME",
    "MAX_ATTESTATION_SIZE",
    "METHODS",
    "MIN_JTI_LENGTH",
    "Attestation",
    "check_claims",
    "parse_attestation",
]

# --- Wire format: only ever added to. ---------------------------------------
ATTESTATION_TYP = "age-attestation+jwt"
ATTESTATION_ALGS = ("ES256", "EdDSA")
METHODS = (
    "id_document",
    "eid",
    "bank",
    "mobile_operator",
    "facial_estimation",
    "credit_card",
    "other",
)
ATTESTATION_CLAIMS = frozenset({"iss", "aud", "iat", "exp", "jti", "age_over", "method"})
MAX_ATTESTATION_SIZE = 8192
MAX_ATTESTATION_LIFETIME = 600
# 128 random bits in base64url take 22 characters.
MIN_JTI_LENGTH = 22
# jti is stored until the attestation expires; bound what a verifier can make us keep.
MAX_JTI_LENGTH = 255
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attestation:
    """The checked content of a verifier attestation.

    ``verifier_id`` is its ``iss``, ``kid`` the verifier key that signed it,
    ``jti`` its single-use id, ``iat`` and ``exp`` its validity, ``method`` how
    the verifier checked the age and ``age_over`` the attested facts
    (threshold -> bool).
    """

    verifier_id: str
    kid: str
    jti: str
    iat: int
    exp: int
    method: str
    age_over: dict[int, bool]


def parse_attestation(token: str) -> CompactJWS:
    """Parse attestation ``token`` and check its header, not its signature.

    JOSE and JSON failures keep their codes (``jws-too-large`` above
    :data:`MAX_ATTESTATION_SIZE` characters, ``jws-malformed``,
    ``jws-forbidden-header``, ...). ``typ`` other than
    :data:`ATTESTATION_TYP` raises ``attestation-bad-type``, ``alg`` outside
    :data:`ATTESTATION_ALGS` ``attestation-bad-algorithm`` and a missing or
    non-string ``kid`` ``attestation-malformed``. All raise
    :class:`~ageverify.errors.IssuanceError`.
    """
    try:
        jws = jose.parse_compact(token, max_size=MAX_ATTESTATION_SIZE)
    except AgeVerifyError as error:
        raise IssuanceError(error.code, error.description) from None
    header = jws.header
    if header.get("typ") != ATTESTATION_TYP:
        raise IssuanceError("attestation-bad-type")
    if header.get("alg") not in ATTESTATION_ALGS:
        raise IssuanceError("attestation-bad-algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise IssuanceError("attestation-malformed", "The attestation header needs a kid string.")
    return jws


def _is_number(value: Any) -> TypeGuard[int | float]:
    # JSON true is not 1: bool is an int subclass in Python.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bad(description: str) -> IssuanceError:
    return IssuanceError("attestation-bad-claims", description)


def _age_over(value: Any, thresholds: frozenset[int]) -> dict[int, bool]:
    if not isinstance(value, dict) or not value:
        raise _bad("age_over must be a non-empty object.")
    facts: dict[int, bool] = {}
    for key, fact in value.items():
        # One spelling per threshold: "18", never "018", "+18" or " 18".
        if not (len(key) <= 3 and key.isascii() and key.isdigit() and str(int(key)) == key):
            raise _bad("age_over keys must be decimal thresholds.")
        threshold = int(key)
        if threshold not in thresholds:
            raise _bad(f"age_over_{threshold} is not a threshold of this issuer.")
        if not isinstance(fact, bool):
            raise _bad("age_over values must be booleans.")
        facts[threshold] = fact
    # Over 21 but not over 18 cannot be true of anyone: refuse rather than sign it.
    ordered = [facts[threshold] for threshold in sorted(facts)]
    if any(higher and not lower for lower, higher in zip(ordered, ordered[1:], strict=False)):
        raise _bad("age_over is not monotone.")
    return facts


def check_claims(
    payload: dict[str, Any],
    *,
    issuer: str,
    now: float,
    leeway: int,
    thresholds: Iterable[int],
    kid: str = "",
) -> Attestation:
    """Check an attestation's claims; its signature must already be verified.

    ``payload`` is the verified JWS payload, ``issuer`` this issuer's
    identifier (expected in ``aud``), ``now`` the Unix time, ``leeway`` the
    clock skew tolerated in seconds, ``thresholds`` the configured ages and
    ``kid`` the header's key id, copied into the result.

    Claims beyond :data:`ATTESTATION_CLAIMS` raise
    ``attestation-personal-data``; missing or mistyped claims
    ``attestation-bad-claims``; an ``aud`` without ``issuer``
    ``attestation-wrong-audience``; a lifetime outside (0, 600] seconds
    ``attestation-bad-lifetime``; ``exp`` in the past ``attestation-expired``
    and ``iat`` in the future ``attestation-not-yet-valid``. All raise
    :class:`~ageverify.errors.IssuanceError`.
    """
    if not isinstance(payload, dict):
        raise _bad("The attestation payload must be an object.")
    if not ATTESTATION_CLAIMS.issuperset(payload):
        # The extra names are not echoed: they may be the personal data itself.
        raise IssuanceError("attestation-personal-data")
    missing = ATTESTATION_CLAIMS.difference(payload)
    if missing:
        raise _bad(f"The attestation lacks {sorted(missing)[0]!r}.")
    iss, aud, iat, exp = payload["iss"], payload["aud"], payload["iat"], payload["exp"]
    jti, method = payload["jti"], payload["method"]
    if not isinstance(iss, str) or not iss:
        raise _bad("iss must be a non-empty string.")
    if not _is_number(iat) or not _is_number(exp):
        raise _bad("iat and exp must be numbers.")
    if (
        not isinstance(jti, str)
        or not MIN_JTI_LENGTH <= len(jti) <= MAX_JTI_LENGTH
        or not (jti.isascii() and jti.isprintable())
    ):
        raise _bad(f"jti must be a string of {MIN_JTI_LENGTH} to {MAX_JTI_LENGTH} characters.")
    if method not in METHODS:
        raise _bad("method is not a known verification method.")
    age_over = _age_over(payload["age_over"], frozenset(thresholds))
    if isinstance(aud, str):
        audiences = [aud]
    elif isinstance(aud, list) and aud and all(isinstance(item, str) for item in aud):
        audiences = aud
    else:
        raise _bad("aud must be a string or an array of strings.")
    if issuer not in audiences:
        raise IssuanceError("attestation-wrong-audience")
    # Compared, not subtracted: an integer beyond a double's range minus a
    # float raises OverflowError, where comparisons between them are exact.
    if not iat < exp <= iat + MAX_ATTESTATION_LIFETIME:
        raise IssuanceError("attestation-bad-lifetime")
    if exp <= now - leeway:
        raise IssuanceError("attestation-expired")
    if iat > now + leeway:
        raise IssuanceError("attestation-not-yet-valid")
    return Attestation(
        verifier_id=iss,
        kid=kid,
        jti=jti,
        iat=int(iat),
        exp=int(exp),
        method=method,
        age_over=age_over,
    )
