"""Attestation intake: is this a genuine, fresh attestation from an accredited verifier?

The order of checks matters. The header is checked first, then the
*unverified* ``iss`` is used for one thing only: finding the verifier whose
keys may have signed the token. The key is chosen by exact ``kid`` among that
verifier's keys (never by trying keys in turn), its registered algorithm must
be the header's, and only after the signature verifies are the claims
trusted. Recording the single-use ``jti`` belongs to the issuance
transaction, not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from ageverify.errors import IssuanceError
from ageverify.formats.attestation import Attestation, check_claims, parse_attestation
from ageverify.formats.jose import CompactJWS, public_key_from_jwk, verify_signature
from ageverify.storage.models import Verifier, VerifierKey

# The verifier named by `iss` and, if it has one, its key named by `kid`, in
# one round trip (the issuer adds its own reads to it: see
# ageverify.issuer.service). Built once: reused with new parameters.
VERIFIER_AND_KEY = (
    select(Verifier.status, Verifier.methods, VerifierKey.alg, VerifierKey.jwk)
    .select_from(Verifier)
    .outerjoin(
        VerifierKey,
        and_(VerifierKey.verifier_id == Verifier.id, VerifierKey.kid == bindparam("kid")),
    )
    .where(Verifier.id == bindparam("iss"))
)


def verify_attestation(
    session: Session,
    token: str,
    *,
    issuer: str,
    now: float,
    leeway: int,
    thresholds: Iterable[int],
) -> Attestation:
    """Verify attestation ``token`` against the verifier registry and return its content.

    ``issuer`` is this issuer's identifier (the expected ``aud``), ``now`` the
    unix time, ``leeway`` the tolerated clock skew in seconds and
    ``thresholds`` the configured ages. Raises ``IssuanceError`` with the
    attestation's code: header and JOSE codes from ``parse_attestation``, then
    ``attestation-unknown-verifier``, ``attestation-verifier-suspended``,
    ``attestation-unknown-key``, ``attestation-bad-algorithm``,
    ``attestation-bad-signature``, the claim codes of ``check_claims``, and
    ``attestation-method-not-allowed``.

    The three steps, for a caller that reads the registry in a statement of
    its own: :func:`parse_attestation`, :func:`lookup_parameters` for
    :data:`VERIFIER_AND_KEY`, then :func:`check_attestation`.
    """
    jws = parse_attestation(token)
    # Core execution on the session's connection: same transaction, without
    # the ORM's per-statement overhead.
    row = session.connection().execute(VERIFIER_AND_KEY, lookup_parameters(jws)).first()
    return check_attestation(jws, row, issuer=issuer, now=now, leeway=leeway, thresholds=thresholds)


def lookup_parameters(jws: CompactJWS) -> dict[str, str | None]:
    """The parameters of :data:`VERIFIER_AND_KEY` for ``jws``: its unverified ``iss`` and ``kid``.

    Raises ``attestation-bad-claims`` when ``iss`` is not a non-empty string,
    ``attestation-unknown-verifier`` when it holds a NUL character.
    """
    iss = jws.payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise IssuanceError("attestation-bad-claims", "iss must be a non-empty string.")
    # No registered id holds a NUL character, and PostgreSQL refuses one in a
    # parameter: such text finds nothing, with the same codes on every database.
    if "\x00" in iss:
        raise IssuanceError("attestation-unknown-verifier")
    kid = jws.header["kid"]
    return {"iss": iss, "kid": None if "\x00" in kid else kid}


class VerifierRow(Protocol):
    """What :data:`VERIFIER_AND_KEY` reads, by column name (a ``Row`` is one)."""

    @property
    def status(self) -> str: ...
    @property
    def methods(self) -> list[str]: ...
    @property
    def alg(self) -> str | None: ...
    @property
    def jwk(self) -> dict[str, Any] | None: ...


def check_attestation(
    jws: CompactJWS,
    row: VerifierRow | None,
    *,
    issuer: str,
    now: float,
    leeway: int,
    thresholds: Iterable[int],
) -> Attestation:
    """The checks of :func:`verify_attestation` once the registry was read.

    ``row`` is what :data:`VERIFIER_AND_KEY` found (a row with more columns
    will do), ``None`` when it found nothing.
    """
    if row is None:
        raise IssuanceError("attestation-unknown-verifier")
    if row.status != "active":
        raise IssuanceError("attestation-verifier-suspended")
    if row.alg is None or row.jwk is None:
        raise IssuanceError("attestation-unknown-key")
    # The registry fixes each key's algorithm; the token does not get to choose.
    if jws.header["alg"] != row.alg:
        raise IssuanceError("attestation-bad-algorithm")
    if not verify_signature(jws, public_key_from_jwk(row.jwk)):
        raise IssuanceError("attestation-bad-signature")
    attestation = check_claims(
        jws.payload,
        issuer=issuer,
        now=now,
        leeway=leeway,
        thresholds=thresholds,
        kid=jws.header["kid"],
    )
    if attestation.method not in row.methods:
        raise IssuanceError("attestation-method-not-allowed")
    return attestation
