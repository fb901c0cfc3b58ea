"""SD-JWT VC age credentials and their presentations (RFC 9901, draft-ietf-oauth-sd-jwt-vc).

A credential is an issuer-signed JWT whose ``_sd`` array holds the digests of
one disclosure per age threshold (``age_over_18`` and so on) plus random
decoys. A presentation reveals some disclosures and ends with a Key Binding
JWT signed by the holder key named in ``cnf``, over the platform's audience
and nonce and a hash of everything before it.

The constants below are wire format: they are only ever added to. Every check
that :func:`verify_presentation` makes is written out in the order documented
there and fails with one :class:`~ageverify.errors.VerificationError` code.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeGuard

from ageverify.errors import AgeVerifyError, VerificationError
from ageverify.formats import jose, strictjson
from ageverify.formats.jose import CompactJWS, PrivateKey, PublicKey

__all__ = [
    "AGE_CLAIM_PREFIX",
    "CREDENTIAL_TYP",
    "KB_TYP",
    "MAX_PRESENTATION_SIZE",
    "RESERVED_CLAIM_NAMES",
    "SALT_BYTES",
    "SD_ALG",
    "VCT",
    "Presentation",
    "VerifiedPresentation",
    "age_claim",
    "check_requirement",
    "issue_credential",
    "issue_credential_batch",
    "make_disclosure",
    "make_key_binding",
    "parse_age_claim",
    "parse_presentation",
    "requirement_claims",
    "verified_presentation",
    "verify_presentation",
]

# --- Wire format: only ever added to. ---------------------------------------
CREDENTIAL_TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
VCT = "urn:ageverify:age:1"
SD_ALG = "sha-256"
MAX_PRESENTATION_SIZE = 16_384
AGE_CLAIM_PREFIX = "age_over_"
SALT_BYTES = 16
CREDENTIAL_ALG = "ES256"
KB_ALG = "ES256"
# Names a disclosure may never carry (RFC 9901 section 4.2.1 and our own cnf).
RESERVED_CLAIM_NAMES = frozenset({"_sd", "...", "_sd_alg", "cnf"})
# ----------------------------------------------------------------------------

_DIGEST_BYTES = 32
# A salt's base64url: 22 characters, which '["' before it fills to 24 bytes,
# whole base64 groups (see _disclosure_starts).
_SALT_CHARS = 22


def age_claim(threshold: int) -> str:
    """Return the claim name for ``threshold``: ``age_claim(18) == "age_over_18"``."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold < 1000:
        raise ValueError("a threshold is an integer from 0 to 999")
    return f"{AGE_CLAIM_PREFIX}{threshold}"


# Every valid claim name, for a dictionary lookup in place of a regular
# expression on the verification path.
_AGE_CLAIMS = {f"{AGE_CLAIM_PREFIX}{threshold}": threshold for threshold in range(1000)}


def parse_age_claim(name: str) -> int | None:
    """Return the threshold named by ``name`` (``"age_over_18"`` -> 18), else ``None``.

    A threshold is a decimal number from 0 to 999 without leading zeros: one
    spelling per claim.
    """
    return _AGE_CLAIMS.get(name) if isinstance(name, str) else None


def _digest(disclosure: str) -> str:
    return jose.b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(salt: bytes, name: str, value: Any) -> tuple[str, str]:
    """Return ``(disclosure, digest)`` for the object property ``name: value``.

    The disclosure is the base64url of the JSON array ``[salt, name, value]``
    with ``salt`` base64url encoded; the digest is the base64url SHA-256 of the
    disclosure's ASCII text (RFC 9901 sections 4.2.1 and 4.2.3).
    """
    disclosure = jose.b64url_encode(strictjson.dumps([jose.b64url_encode(salt), name, value]))
    return disclosure, _digest(disclosure)


# Issuance signs one credential per holder key, tens per request, and must
# cost little more than the signature itself. So the fixed-shape JSON of a
# credential is assembled from cached pieces instead of going through the
# JSON encoder; a test holds the result byte-equal to strictjson.dumps.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_b2a = binascii.b2a_base64


_DISCLOSURE_TAILS: dict[tuple[int, bool], bytes] = {}


def _disclosure_tail(threshold: int, value: bool) -> bytes:
    """The cached :func:`_encode_disclosure_tail` (a dict: cheaper than lru_cache here)."""
    tail = _DISCLOSURE_TAILS.get((threshold, value))
    if tail is None:
        tail = _encode_disclosure_tail(threshold, value)
        if len(_DISCLOSURE_TAILS) < 2048:
            _DISCLOSURE_TAILS[threshold, value] = tail
    return tail


def _encode_disclosure_tail(threshold: int, value: bool) -> bytes:
    """base64url of ``","age_over_NN",value]``: the end of a disclosure after its salt.

    A disclosure is ``["<22-character salt>","age_over_NN",value]``; its
    first 24 bytes are a whole number of base64 groups, so the encoding of
    the rest can be computed once and appended.
    """
    # '["age_over_NN",value]' without its '[', after the salt's closing quote.
    tail = b'",' + strictjson.dumps([age_claim(threshold), value])[1:]
    return _b2a(tail, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


@lru_cache(maxsize=64)
def _credential_header(kid: str) -> bytes:
    header = {"alg": CREDENTIAL_ALG, "typ": CREDENTIAL_TYP, "kid": kid}
    return jose.b64url_encode(strictjson.dumps(header)).encode("ascii")


@lru_cache(maxsize=64, typed=True)
def _payload_head(issuer: str, iat: int | float, exp: int | float) -> bytes:
    dumps = strictjson.dumps
    return b"".join(
        (
            b'{"iss":',
            dumps(issuer),
            b',"iat":',
            dumps(iat),
            b',"exp":',
            dumps(exp),
            b',"vct":',
            dumps(VCT),
            b',"cnf":{"jwk":',
        )
    )


def _jwk_json(jwk: dict[str, str]) -> bytes:
    """Serialise a minimal P-256 JWK like strictjson.dumps, by template when that is safe."""
    x, y = jwk.get("x"), jwk.get("y")
    if (
        len(jwk) == 4
        and jwk.get("kty") == "EC"
        and jwk.get("crv") == "P-256"
        and isinstance(x, str)
        and isinstance(y, str)
        and x.isascii()
        and y.isascii()
        # Only base64url characters: nothing that JSON would escape.
        and not (x + y).encode("ascii").translate(None, jose.B64URL_ALPHABET)
    ):
        return b'{"kty":"EC","crv":"P-256","x":"%s","y":"%s"}' % (x.encode(), y.encode())
    return strictjson.dumps(jwk)


_PAYLOAD_SD = b'},"_sd":'
_PAYLOAD_END = b',"_sd_alg":' + strictjson.dumps(SD_ALG) + b"}"


def issue_credential(
    *,
    signing_key: PrivateKey,
    kid: str,
    issuer: str,
    iat: int,
    exp: int,
    holder_jwk: dict[str, str],
    age_over: Mapping[int, bool],
    decoys: int,
    salts: bytes | None = None,
) -> str:
    """Sign one SD-JWT VC age credential bound to ``holder_jwk``.

    ``signing_key`` is the issuer's P-256 private key whose RFC 7638
    thumbprint is ``kid``; ``issuer`` goes into ``iss``; ``iat`` and ``exp``
    are the credential's validity. ``holder_jwk`` is the holder's minimal
    public JWK (carried as ``cnf.jwk``). Each ``age_over`` entry (threshold ->
    bool) becomes one selectively disclosable ``age_over_NN`` claim; ``decoys``
    random digests are added and the ``_sd`` array is sorted, which hides
    which digest belongs to which claim. ``salts``
    (``16 * len(age_over)`` bytes) fixes the salts for tests; by default they
    come from the operating system.

    Returns ``<issuer-jwt>~<disclosure>~...~``: an SD-JWT without key binding.
    """
    (credential,) = issue_credential_batch(
        signing_key=signing_key,
        kid=kid,
        issuer=issuer,
        iat=iat,
        exp=exp,
        holder_jwks=[holder_jwk],
        age_over=age_over,
        decoys=decoys,
        salts=salts,
    )
    return credential


def _b64url(data: bytes | bytearray) -> bytes:
    return _b2a(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


# Batches are encoded in one encoder call, not one per item: a batch holds
# hundreds of salts and digests, and a call costs more than its encoding.
# Each item is laid out followed by zero bytes up to a multiple of three
# (its "spread"), so that it fills whole base64 groups and the first
# characters of its groups are exactly its own canonical encoding (the zero
# bits are the ones canonical base64url requires).


def _gap(size: int) -> bytes:
    return bytes(-size % 3)


def _spread(items: Sequence[bytes]) -> bytes:
    """``items`` (all of one size) laid out for :func:`_b64url_items`."""
    if not items:
        return b""
    gap = _gap(len(items[0]))
    return gap.join(items) + gap


def _random_spread(count: int, size: int) -> bytearray:
    """``count`` random ``size``-byte items, laid out for :func:`_b64url_items`."""
    width = size + len(_gap(size))
    spread = bytearray(os.urandom(width * count))
    for offset in range(size, width):
        spread[offset::width] = bytes(count)
    return spread


def _b64url_items(spread: bytes | bytearray, size: int) -> list[bytes]:
    """The unpadded base64url of each ``size``-byte item of ``spread``."""
    text = _b2a(spread, newline=False).translate(_TO_URLSAFE)
    width, length = (size + len(_gap(size))) // 3 * 4, (4 * size + 2) // 3
    return [text[start : start + length] for start in range(0, len(text), width)]


def _b64url_all(items: list[bytes]) -> list[bytes]:
    """The unpadded base64url of each of ``items``: in one call when they have one size."""
    sizes = {len(item) for item in items}
    if len(sizes) != 1:
        return [_b64url(item) for item in items]
    return _b64url_items(_spread(items), sizes.pop())


def _disclosure_starts(salts: bytes | bytearray, count: int) -> bytes:
    """base64url of ``["<salt>`` for each of the ``count`` salts laid out in ``salts``.

    24 bytes each, so 32 characters each. The salts' encodings come in
    24-character groups, 22 characters of salt and two of zero padding:
    those two become the next disclosure's ``["``.
    """
    if not count:
        return b""
    text = bytearray(_b2a(salts, newline=False).translate(_TO_URLSAFE))
    text[_SALT_CHARS::24] = b"[" * count
    text[_SALT_CHARS + 1 :: 24] = b'"' * count
    return _b64url(b'["' + text[:-2])


def issue_credential_batch(
    *,
    signing_key: PrivateKey,
    kid: str,
    issuer: str,
    iat: int,
    exp: int,
    holder_jwks: Sequence[dict[str, str]],
    age_over: Mapping[int, bool],
    decoys: int,
    salts: bytes | None = None,
) -> list[str]:
    """Sign one credential per JWK in ``holder_jwks``, in their order; see :func:`issue_credential`.

    The arguments are those of :func:`issue_credential`, with the holders'
    public JWKs in ``holder_jwks`` and ``salts`` (for tests) of
    ``16 * len(age_over) * len(holder_jwks)`` bytes. The work that does not
    depend on the holder (checks, header, payload start, the reads of the
    operating system's randomness, the encoding of salts, digests, payloads
    and signatures) is done once per batch; every credential still gets its
    own salts and decoys, so no salt, digest or decoy links two credentials
    of a batch.
    """
    for holder_jwk in holder_jwks:
        if not jose.PRIVATE_JWK_MEMBERS.isdisjoint(holder_jwk):
            raise ValueError("holder_jwk must be a public JWK")
    if isinstance(iat, bool) or isinstance(exp, bool):
        raise ValueError("iat and exp must be numbers")
    if decoys < 0:
        raise ValueError("decoys must not be negative")
    claims = sorted(age_over.items())
    if not all(isinstance(value, bool) for _, value in claims):
        raise ValueError("age_over values must be booleans")
    sign = jose.es256_signer(signing_key)
    count, holders = len(claims), len(holder_jwks)
    disclosures_count, decoys_count = count * holders, decoys * holders
    salt_spread: bytes | bytearray
    if salts is None:
        salt_spread = _random_spread(disclosures_count, SALT_BYTES)
    elif len(salts) != SALT_BYTES * disclosures_count:
        raise ValueError(f"salts must be {SALT_BYTES} bytes per age_over entry and holder")
    else:
        salt_spread = _spread(
            [salts[start : start + SALT_BYTES] for start in range(0, len(salts), SALT_BYTES)]
        )
    # A start fills whole base64 groups, so a disclosure's encoding is its
    # start's followed by the cached encoding of the rest, '","age_over_NN",value]'.
    starts = _disclosure_starts(salt_spread, disclosures_count)
    tails = [_disclosure_tail(threshold, value) for threshold, value in claims] * holders
    disclosures = [starts[32 * index : 32 * index + 32] + tail for index, tail in enumerate(tails)]
    sha256 = hashlib.sha256
    # A decoy is indistinguishable from a digest: both are 32 uniform bytes.
    sd_items = _b64url_items(
        _spread([sha256(disclosure).digest() for disclosure in disclosures])
        + _random_spread(decoys_count, _DIGEST_BYTES),
        _DIGEST_BYTES,
    )
    digests, decoy_digests = sd_items[:disclosures_count], sd_items[disclosures_count:]
    head = _payload_head(issuer, iat, exp)
    payloads = []
    for index, holder_jwk in enumerate(holder_jwks):
        # RFC 9901 requires hiding the claims' order and names sorting the
        # digests alphanumerically as one way: digests and decoys are uniform
        # random strings, so each claim's place is uniformly random, as after
        # a shuffle, without a system call per element.
        sd = sorted(
            digests[index * count : (index + 1) * count]
            + decoy_digests[index * decoys : (index + 1) * decoys]
        )
        payloads.append(
            b"".join(
                (
                    head,
                    _jwk_json(holder_jwk),
                    _PAYLOAD_SD,
                    b'["' + b'","'.join(sd) + b'"]' if sd else b"[]",
                    _PAYLOAD_END,
                )
            )
        )
    header = _credential_header(kid) + b"."
    signing_inputs = [header + payload for payload in _b64url_all(payloads)]
    signatures = _b64url_items(_spread([sign(text) for text in signing_inputs]), 64)
    # Disclosures are listed in threshold order, which the digests no longer
    # reveal; every credential's take the same length.
    listed = b"~".join(disclosures) + b"~" if disclosures else b""
    length = len(listed) // holders if holders else 0
    return [
        b"".join(
            (text, b".", signature, b"~", listed[index * length : (index + 1) * length])
        ).decode("ascii")
        for index, (text, signature) in enumerate(zip(signing_inputs, signatures, strict=True))
    ]


def make_key_binding(
    *,
    holder_key: PrivateKey,
    sd_jwt_with_disclosures: str,
    audience: str,
    nonce: str,
    iat: int,
) -> str:
    """Return the Key Binding JWT for ``sd_jwt_with_disclosures``.

    ``sd_jwt_with_disclosures`` is ``<issuer-jwt>~<disclosure>~...~`` exactly
    as it will be sent (ending with ``~``); ``holder_key`` is the P-256 private
    key whose public JWK is the credential's ``cnf.jwk``; ``audience`` and
    ``nonce`` come from the platform's challenge and ``iat`` is now. The
    presentation is ``sd_jwt_with_disclosures + make_key_binding(...)``.
    """
    if not sd_jwt_with_disclosures.endswith("~"):
        raise ValueError("sd_jwt_with_disclosures must end with '~'")
    header = {"alg": KB_ALG, "typ": KB_TYP}
    payload = {
        "iat": iat,
        "aud": audience,
        "nonce": nonce,
        "sd_hash": _digest(sd_jwt_with_disclosures),
    }
    return jose.sign(holder_key, header, payload)


@dataclass(frozen=True)
class Presentation:
    """A presentation split into its parts, nothing verified yet.

    ``credential`` is the parsed issuer-signed JWT and ``issuer_jwt`` its text;
    ``disclosures`` are the disclosure texts in order; ``kb_jwt`` is the Key
    Binding JWT text, or ``None`` when the presentation ends with ``~``;
    ``sd_hash_input`` is the ASCII text the KB-JWT's ``sd_hash`` covers.
    """

    credential: CompactJWS
    issuer_jwt: str
    disclosures: list[str]
    kb_jwt: str | None
    sd_hash_input: bytes


def _reraise(error: AgeVerifyError) -> VerificationError:
    """Carry a strict JSON or JOSE failure over as a VerificationError with the same code."""
    if isinstance(error, VerificationError):
        return error
    return VerificationError(error.code, error.description)


def _split_presentation(text: str, max_size: int) -> tuple[str, list[str], str | None, bytes]:
    """Return ``(issuer_jwt, disclosures, kb_jwt, sd_hash_input)`` of presentation ``text``."""
    if not isinstance(text, str):
        raise VerificationError("presentation-malformed")
    # Before anything else: a megabyte of garbage costs one len().
    if len(text) > max_size:
        raise VerificationError("presentation-too-large")
    if not text.isascii():
        raise VerificationError("presentation-malformed")
    # The issuer JWT ends at the first "~", the KB-JWT starts after the last:
    # only the disclosures between them are split (a scan of the whole text
    # per character costs more than finding two).
    first, last = text.find("~"), text.rfind("~")
    if first <= 0:
        raise VerificationError("presentation-malformed")
    disclosures = text[first + 1 : last].split("~") if last > first else []
    if not all(disclosures):
        raise VerificationError("presentation-malformed")
    kb_jwt = text[last + 1 :]
    return text[:first], disclosures, kb_jwt or None, text[: last + 1].encode("ascii")


# A decoded compact JWS: (header, payload, signing input, signature).
_JWSParts = tuple[dict[str, Any], dict[str, Any], bytes, bytes]


def _decode_compact(token: str) -> _JWSParts:
    try:
        return jose.decode_compact(token, max_size=MAX_PRESENTATION_SIZE)
    except AgeVerifyError as error:
        raise _reraise(error) from None


def parse_presentation(text: str, *, max_size: int = MAX_PRESENTATION_SIZE) -> Presentation:
    """Split ``text`` (``<issuer-jwt>~<disclosure>~...~[<kb-jwt>]``) into a :class:`Presentation`.

    Longer than ``max_size`` characters raises ``presentation-too-large``
    before anything is parsed; no ``~``, an empty part, or non-ASCII text raise
    ``presentation-malformed``; the issuer JWT's own failures keep their JOSE
    or JSON codes. All raise :class:`~ageverify.errors.VerificationError`.
    """
    issuer_jwt, disclosures, kb_jwt, sd_hash_input = _split_presentation(text, max_size)
    return Presentation(
        credential=CompactJWS(*_decode_compact(issuer_jwt)),
        issuer_jwt=issuer_jwt,
        disclosures=disclosures,
        kb_jwt=kb_jwt,
        sd_hash_input=sd_hash_input,
    )


@dataclass(frozen=True)
class VerifiedPresentation:
    """What a verified presentation establishes.

    ``facts`` are the disclosed age claims (``{"age_over_18": True}``),
    ``issuer`` the credential's ``iss``, ``kid`` the issuer key that signed it,
    ``issued_at`` and ``expires_at`` its ``iat`` and ``exp``.
    """

    facts: dict[str, bool]
    issuer: str
    kid: str
    issued_at: float
    expires_at: float


@lru_cache(maxsize=4096)
def _holder_key_from_coordinates(x: str, y: str) -> PublicKey:
    return jose.p256_public_key(x, y)


def _holder_key(jwk: dict[str, Any]) -> PublicKey:
    """Build the cnf key, reusing it when the same credential comes back.

    A wallet shows one platform the same credential every time, so a
    platform sees the same holder keys again and again; building a P-256
    point from coordinates costs as much as parsing the rest of a
    presentation.
    """
    x, y = jwk.get("x"), jwk.get("y")
    if (
        len(jwk) != 4
        or jwk.get("kty") != "EC"
        or jwk.get("crv") != "P-256"
        or not isinstance(x, str)
        or not isinstance(y, str)
    ):
        # Anything but the minimal JWK takes the uncached path and its precise refusal.
        return jose.public_key_from_jwk(jwk, kinds=("EC-P-256",))
    return _holder_key_from_coordinates(x, y)


def _is_number(value: Any) -> TypeGuard[int | float]:
    # JSON true is not 1: bool is an int subclass in Python.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_credential_claims(
    payload: dict[str, Any],
    *,
    issuer: str,
    now: float,
    leeway: int,
    holder_key: PublicKey | None = None,
) -> tuple[PublicKey, set[str]]:
    """Check the issuer-signed payload; return the holder key and the digest set.

    ``holder_key`` is the key already built from this payload's ``cnf.jwk``, if any.
    """
    iss = payload.get("iss")
    if not isinstance(iss, str) or iss != issuer:
        raise VerificationError("credential-wrong-issuer")
    iat, exp = payload.get("iat"), payload.get("exp")
    if not _is_number(iat) or not _is_number(exp):
        raise VerificationError("credential-bad-claims", "iat and exp must be numbers.")
    if exp <= now - leeway:
        raise VerificationError("credential-expired")
    if iat > now + leeway:
        raise VerificationError("credential-not-yet-valid")
    if payload.get("vct") != VCT:
        raise VerificationError("credential-bad-claims", f"vct must be {VCT!r}.")
    if payload.get("_sd_alg") != SD_ALG:
        raise VerificationError("credential-bad-claims", f"_sd_alg must be {SD_ALG!r}.")
    sd = payload.get("_sd")
    if not isinstance(sd, list) or not all(isinstance(digest, str) for digest in sd):
        raise VerificationError("credential-bad-claims", "_sd must be an array of strings.")
    digests = set(sd)
    if len(digests) != len(sd):
        raise VerificationError("digest-duplicate")
    cnf = payload.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict) or len(cnf) != 1:
        raise VerificationError("credential-bad-claims", "cnf must hold exactly one jwk.")
    if holder_key is not None:
        return holder_key, digests
    try:
        holder_key = _holder_key(cnf["jwk"])
    except jose.JWKError:
        raise VerificationError(
            "credential-bad-claims", "cnf.jwk must be a P-256 public key."
        ) from None
    return holder_key, digests


# The end of a disclosure as issuance writes it, after '["' and the 22
# characters of its salt: '","age_over_NN",value]' -> (claim name, value).
_ELEMENTS_BY_TAIL = {
    f'","{name}",{"true" if value else "false"}]'.encode(): (name, value)
    for name in _AGE_CLAIMS
    for value in (True, False)
}


def _disclosure_element(disclosure: str) -> Any:
    """The JSON value that ``disclosure`` encodes.

    A disclosure laid out as issuance writes it, ``["<salt>","age_over_NN",
    value]`` with a salt of 22 base64url characters (a JSON string with
    nothing to escape), is read by comparing bytes instead of running the
    JSON parser: the result is exactly the parser's (a property test holds
    them equal), and a first visit costs about 2% less. Anything else is
    parsed.
    """
    try:
        text = jose.b64url_decode(disclosure)
    except AgeVerifyError as error:
        raise _reraise(error) from None
    known = _ELEMENTS_BY_TAIL.get(text[24:])
    if (
        known is not None
        and text[:2] == b'["'
        and not text[2:24].translate(None, jose.B64URL_ALPHABET)
    ):
        return [text[2:24].decode("ascii"), *known]
    try:
        return strictjson.loads(text)
    except AgeVerifyError as error:
        raise _reraise(error) from None


def _open_disclosures(
    disclosures: list[str], digests: set[str], payload: dict[str, Any]
) -> dict[str, bool]:
    """Check each disclosure against the credential; return the disclosed age facts."""
    facts: dict[str, bool] = {}
    seen: set[str] = set()
    for disclosure in disclosures:
        element = _disclosure_element(disclosure)
        if (
            not isinstance(element, list)
            or len(element) != 3
            or not isinstance(element[0], str)
            or not isinstance(element[1], str)
        ):
            raise VerificationError("disclosure-malformed")
        if disclosure in seen:
            raise VerificationError("disclosure-duplicate")
        seen.add(disclosure)
        _, name, value = element
        if name in RESERVED_CLAIM_NAMES:
            raise VerificationError("disclosure-reserved-name")
        if name in payload or name in facts:
            raise VerificationError("disclosure-conflict")
        if _digest(disclosure) not in digests:
            raise VerificationError("disclosure-unreferenced")
        if parse_age_claim(name) is None or not isinstance(value, bool):
            raise VerificationError(
                "credential-bad-claims", "Only age_over_NN boolean claims are disclosed."
            )
        facts[name] = value
    return facts


# A Key Binding JWT decoded and its signature checked ahead of its turn
# (see _verify): its parts, the holder key that was used, and the outcome.
_EarlyKeyBinding = tuple[_JWSParts, PublicKey, bool]


def _early_key_binding(
    kb_parts: _JWSParts | None,
    payload: dict[str, Any],
) -> _EarlyKeyBinding | None:
    """Check the KB-JWT's signature with the cnf key of a payload whose signature verified.

    ``None`` when anything the check needs is missing or malformed: the
    normal path then finds and reports the problem in its documented turn.
    """
    if kb_parts is None:
        return None
    header, _, signing_input, signature = kb_parts
    cnf = payload.get("cnf")
    if header.get("typ") != KB_TYP or header.get("alg") != KB_ALG or not isinstance(cnf, dict):
        return None
    jwk = cnf.get("jwk")
    if not isinstance(jwk, dict):
        return None
    try:
        holder_key = _holder_key(jwk)
    except jose.JWKError:
        return None
    return kb_parts, holder_key, jose.verify_parts(KB_ALG, signing_input, signature, holder_key)


def _check_key_binding(
    kb_jwt: str,
    holder_key: PublicKey,
    sd_hash_input: bytes,
    *,
    audience: str,
    nonce: str,
    now: float,
    leeway: int,
    kb_max_age: int,
    early: _EarlyKeyBinding | None = None,
) -> None:
    if early is not None and early[1] is holder_key:
        (header, claims, signing_input, signature), _, verified = early
    else:
        header, claims, signing_input, signature = _decode_compact(kb_jwt)
        verified = None
    if header.get("typ") != KB_TYP:
        raise VerificationError("key-binding-bad-type")
    if header.get("alg") != KB_ALG:
        raise VerificationError("key-binding-bad-algorithm")
    if verified is None:
        verified = jose.verify_parts(KB_ALG, signing_input, signature, holder_key)
    if not verified:
        raise VerificationError("key-binding-bad-signature")
    iat = claims.get("iat")
    if not _is_number(iat):
        raise VerificationError("key-binding-bad-claims", "iat must be a number.")
    if not now - kb_max_age - leeway <= iat <= now + leeway:
        raise VerificationError("key-binding-stale")
    aud = claims.get("aud")
    if not isinstance(aud, str):
        raise VerificationError("key-binding-bad-claims", "aud must be a string.")
    if aud != audience:
        raise VerificationError("key-binding-wrong-audience")
    kb_nonce = claims.get("nonce")
    if not isinstance(kb_nonce, str):
        raise VerificationError("key-binding-bad-claims", "nonce must be a string.")
    if not hmac.compare_digest(kb_nonce.encode(), nonce.encode()):
        raise VerificationError("key-binding-wrong-nonce")
    sd_hash = claims.get("sd_hash")
    if not isinstance(sd_hash, str):
        raise VerificationError("key-binding-bad-claims", "sd_hash must be a string.")
    expected = jose.b64url_encode(hashlib.sha256(sd_hash_input).digest())
    if not hmac.compare_digest(sd_hash.encode(), expected.encode()):
        raise VerificationError("sd-hash-mismatch")


# Issuer JWTs whose signature verified, by their exact text, with the key
# object that verified them: a wallet shows a platform the same credential on
# every visit. A hit saves the parsing and the signature check, nothing else:
# the header and every claim are checked again, the kid's current key is
# asked for on every call, and only the very key object that verified the
# signature counts (a refreshed or withdrawn key means a new check, or none).
# Nothing here is ever mutated after it is stored. Kept small: a large table
# of live payloads and keys measurably slowed the first visits it cannot help.
_VERIFIED_ISSUER_JWTS: dict[str, tuple[dict[str, Any], dict[str, Any], PublicKey]] = {}
_VERIFIED_ISSUER_JWTS_SIZE = 256


def _verify(
    text: str,
    keys: Callable[[str], PublicKey | None],
    issuer: str,
    audience: str,
    nonce: str,
    now: float,
    leeway: int,
    kb_max_age: int,
) -> tuple[dict[str, bool], dict[str, Any], str]:
    """Run every check of verify_presentation; return (facts, payload, kid)."""
    issuer_jwt, disclosures, kb_jwt, sd_hash_input = _split_presentation(
        text, MAX_PRESENTATION_SIZE
    )
    seen = _VERIFIED_ISSUER_JWTS.get(issuer_jwt)
    if seen is None:
        header, payload, signing_input, signature = _decode_compact(issuer_jwt)
        verified_by = None
    else:
        header, payload, verified_by = seen
    if kb_jwt is None:
        raise VerificationError("key-binding-missing")
    if header.get("typ") != CREDENTIAL_TYP:
        raise VerificationError("credential-bad-type")
    if header.get("alg") != CREDENTIAL_ALG:
        raise VerificationError("credential-bad-algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise VerificationError("credential-unknown-key", "The credential header has no kid.")
    issuer_key = keys(kid)
    if issuer_key is None:
        raise VerificationError("credential-unknown-key")
    early = None
    if issuer_key is not verified_by:
        if seen is not None:
            # Verified before, by another key object (the keys were refreshed).
            header, payload, signing_input, signature = _decode_compact(issuer_jwt)
        # The holder's signature is checked right after the issuer's, not after
        # the claims and disclosures: back to back, the second ECDSA
        # verification finds OpenSSL's code still in the CPU caches, and a
        # first visit costs about 4% less. Only the work moves: every failure
        # is still reported in the order documented in verify_presentation.
        try:
            kb_parts = _decode_compact(kb_jwt)
        except VerificationError:
            kb_parts = None
        if not jose.verify_parts(CREDENTIAL_ALG, signing_input, signature, issuer_key):
            raise VerificationError("credential-bad-signature")
        if len(_VERIFIED_ISSUER_JWTS) >= _VERIFIED_ISSUER_JWTS_SIZE:
            _VERIFIED_ISSUER_JWTS.clear()
        _VERIFIED_ISSUER_JWTS[issuer_jwt] = (header, payload, issuer_key)
        early = _early_key_binding(kb_parts, payload)
    holder_key, digests = _check_credential_claims(
        payload,
        issuer=issuer,
        now=now,
        leeway=leeway,
        holder_key=None if early is None else early[1],
    )
    facts = _open_disclosures(disclosures, digests, payload)
    _check_key_binding(
        kb_jwt,
        holder_key,
        sd_hash_input,
        audience=audience,
        nonce=nonce,
        now=now,
        leeway=leeway,
        kb_max_age=kb_max_age,
        early=early,
    )
    return facts, payload, kid


def verified_presentation(
    text: str,
    *,
    keys: Callable[[str], PublicKey | None],
    issuer: str,
    audience: str,
    nonce: str,
    now: float,
    leeway: int = 60,
    kb_max_age: int = 300,
) -> VerifiedPresentation:
    """Verify presentation ``text`` and return a :class:`VerifiedPresentation`.

    Takes the same arguments and makes the same checks as
    :func:`verify_presentation`, which returns only the facts.
    """
    facts, payload, kid = _verify(text, keys, issuer, audience, nonce, now, leeway, kb_max_age)
    return VerifiedPresentation(
        facts=facts,
        issuer=payload["iss"],
        kid=kid,
        issued_at=payload["iat"],
        expires_at=payload["exp"],
    )


def verify_presentation(
    text: str,
    *,
    keys: Callable[[str], PublicKey | None],
    issuer: str,
    audience: str,
    nonce: str,
    now: float,
    leeway: int = 60,
    kb_max_age: int = 300,
) -> dict[str, bool]:
    """Verify presentation ``text`` offline and return its disclosed age facts.

    ``keys`` maps an issuer ``kid`` to its public key (``None`` if unknown);
    ``issuer`` is the expected ``iss``; ``audience`` and ``nonce`` are the
    platform's challenge; ``now`` is the current Unix time, ``leeway`` the
    clock skew tolerated in seconds and ``kb_max_age`` how old a Key Binding
    JWT may be. Returns e.g. ``{"age_over_18": True}``.

    Checks, in order, each failing with one
    :class:`~ageverify.errors.VerificationError` code: size
    (``presentation-too-large``); structure (``presentation-malformed``, or
    the JOSE/JSON code of a broken part); a Key Binding JWT is present
    (``key-binding-missing``); the credential header (``credential-bad-type``,
    ``credential-bad-algorithm``, ``credential-unknown-key``); its signature
    (``credential-bad-signature``); its claims (``credential-wrong-issuer``,
    ``credential-expired``, ``credential-not-yet-valid``, ``digest-duplicate``,
    ``credential-bad-claims``); each disclosure (``disclosure-malformed``,
    ``disclosure-duplicate``, ``disclosure-reserved-name``,
    ``disclosure-conflict``, ``disclosure-unreferenced``,
    ``credential-bad-claims``); the KB-JWT (``key-binding-bad-type``,
    ``key-binding-bad-algorithm``, ``key-binding-bad-signature``,
    ``key-binding-stale``, ``key-binding-wrong-audience``,
    ``key-binding-wrong-nonce``, ``sd-hash-mismatch``,
    ``key-binding-bad-claims``).
    """
    return _verify(text, keys, issuer, audience, nonce, now, leeway, kb_max_age)[0]


def _requirement_threshold(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise VerificationError("requirement-invalid", f"{name} must be a non-negative integer.")


def requirement_claims(
    min_age: int | None, max_age: int | None, thresholds: Iterable[int] | None
) -> dict[str, bool]:
    """Return the claims a requirement needs, each with the value that satisfies it.

    ``min_age`` needs ``age_over_{min_age}`` true; ``max_age`` needs
    ``age_over_{max_age + 1}`` false: "13 to 17" is
    ``{"age_over_13": True, "age_over_18": False}``. ``thresholds`` are the
    issuer's thresholds; ``None`` accepts any. Both bounds ``None``,
    ``min_age > max_age`` or a threshold the issuer does not attest raise
    ``requirement-invalid``.
    """
    _requirement_threshold(min_age, "min_age")
    _requirement_threshold(max_age, "max_age")
    if min_age is None and max_age is None:
        raise VerificationError("requirement-invalid", "Give min_age, max_age or both.")
    if min_age is not None and max_age is not None and min_age > max_age:
        raise VerificationError("requirement-invalid", "min_age is above max_age.")
    allowed = None if thresholds is None else frozenset(thresholds)
    claims: dict[str, bool] = {}
    for threshold, value in ((min_age, True), (None if max_age is None else max_age + 1, False)):
        if threshold is None:
            continue
        if (allowed is not None and threshold not in allowed) or threshold >= 1000:
            raise VerificationError(
                "requirement-invalid", f"The issuer attests no age_over_{threshold} claim."
            )
        claims[age_claim(threshold)] = value
    return claims


def check_requirement(
    facts: Mapping[str, bool],
    min_age: int | None,
    max_age: int | None,
    thresholds: Iterable[int] | None,
) -> None:
    """Raise unless ``facts`` satisfy the requirement ``min_age``..``max_age``.

    A needed claim missing from ``facts`` raises ``requirement-not-disclosed``;
    one with the wrong value raises ``requirement-not-met``; an impossible
    requirement raises ``requirement-invalid`` (see :func:`requirement_claims`).
    """
    needed = requirement_claims(min_age, max_age, thresholds)
    if any(name not in facts for name in needed):
        raise VerificationError("requirement-not-disclosed")
    for name, value in needed.items():
        if facts[name] is not value:
            raise VerificationError("requirement-not-met")
