"""Keys and builders of hostile JOSE tokens for the security tests.

Built from ``json``, ``base64``, ``hmac`` and ``cryptography`` directly, never
from ``ageverify.formats``: a forged token must not inherit the defences of
the code it attacks. Every key here is a real key, fixed so that a failing
case can be replayed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

# Order n of the P-256 group: ECDSA halves r and s are only meaningful in [1, n - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Order L of the Ed25519 base point: a signature's S must be below it (RFC 8032 section 5.1.7).
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493

# The issuer's credential signing key (P-256).
ISSUER_KEY = ec.derive_private_key(
    0x5A17E3C0FFEE0DDBA11ADE1E7E5C0DE5EED0F1A7B0A710CA7ED5A1AD0B0E1F2, ec.SECP256R1()
)
# The holder key a credential is bound to (cnf.jwk).
HOLDER_KEY = ec.derive_private_key(
    0x7E11A0B5C3D2E1F00A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F607, ec.SECP256R1()
)
# A registered verifier's ES256 key, and another registered verifier's Ed25519 key.
ES_VERIFIER_KEY = ec.derive_private_key(
    0x3C0DE1A7E5A17ED0C0FFEE5EEDBEEF0123456789ABCDEF0FEDCBA987654321, ec.SECP256R1()
)
ED_VERIFIER_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
# Keys of nobody the system trusts: the attacker's.
ATTACKER_KEY = ec.derive_private_key(
    0x0BADC0DE0BADC0DE0BADC0DE0BADC0DE0BADC0DE0BADC0DE0BADC0DE0BADC0D, ec.SECP256R1()
)
ATTACKER_ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
# An RSA key of the attacker's, for genuine RS256 and PS256 signatures.
ATTACKER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

ES_VERIFIER = "es-verifier"
ED_VERIFIER = "ed-verifier"
ISSUER = "https://issuer.example"
AUDIENCE = "https://platform.example"
VCT = "urn:ageverify:age:1"
# A fixed "now" for the SDK entry points (the HTTP intake uses the app's clock).
NOW = 1_760_000_000

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def b64(data: bytes) -> str:
    """Unpadded base64url of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """Decode unpadded base64url ``text`` (lenient: only for taking our own tokens apart)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def json_bytes(value: Any) -> bytes:
    """Compact JSON of ``value``; ``bytes`` and ``str`` pass through as raw JSON text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def public_jwk(key: PrivateKey) -> dict[str, str]:
    """The minimal public JWK of ``key`` (members in RFC 7638 order)."""
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a minimal ``jwk``."""
    text = json.dumps(dict(sorted(jwk.items())), separators=(",", ":")).encode()
    return b64(hashlib.sha256(text).digest())


ISSUER_KID = thumbprint(public_jwk(ISSUER_KEY))
ES_KID = thumbprint(public_jwk(ES_VERIFIER_KEY))
ED_KID = thumbprint(public_jwk(ED_VERIFIER_KEY))


def signature_of(key: PrivateKey, data: bytes) -> bytes:
    """The JWS signature of ``data``: raw ``r || s`` for P-256 (ES256), 64 bytes for Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(data)


def rsa_signed(header: dict[str, Any], payload: Any, *, pss: bool) -> str:
    """A genuine RS256 (or, with ``pss``, PS256) token signed by the attacker's RSA key."""
    signing_input = (b64(json_bytes(header)) + "." + b64(json_bytes(payload))).encode("ascii")
    scheme: padding.AsymmetricPadding = (
        padding.PSS(padding.MGF1(hashes.SHA256()), 32) if pss else padding.PKCS1v15()
    )
    signature = ATTACKER_RSA_KEY.sign(signing_input, scheme, hashes.SHA256())
    return signing_input.decode("ascii") + "." + b64(signature)


def compact(
    header: Any, payload: Any, key: PrivateKey | None, signature: bytes | None = None
) -> str:
    """A compact JWS of ``header`` and ``payload`` signed by ``key``.

    ``signature`` replaces the signature bytes; with neither, the signature is empty.
    """
    signing_input = b64(json_bytes(header)) + "." + b64(json_bytes(payload))
    if signature is None:
        signature = b"" if key is None else signature_of(key, signing_input.encode("ascii"))
    return signing_input + "." + b64(signature)


def hmac_forgery(header: dict[str, Any], payload: Any, secret: bytes) -> str:
    """An HS256 token keyed with ``secret``: the classic RS/ES-to-HS confusion."""
    signing_input = b64(json_bytes(header)) + "." + b64(json_bytes(payload))
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def public_key_secrets(key: PrivateKey) -> dict[str, bytes]:
    """The public half of ``key`` in every form an HMAC confusion attack might use as a secret."""
    public = key.public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return {
        "PEM": public.public_bytes(serialization.Encoding.PEM, spki),
        "DER": public.public_bytes(serialization.Encoding.DER, spki),
        "JWK": json.dumps(public_jwk(key)).encode(),
    }


def self_signed_certificate(key: PrivateKey) -> bytes:
    """A real self-signed X.509 certificate (DER) for ``key``: what an x5c attack embeds."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example")])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def with_signature(token: str, signature: bytes) -> str:
    """``token`` with its signature replaced by ``signature``."""
    return token.rsplit(".", 1)[0] + "." + b64(signature)


def signature_bytes(token: str) -> bytes:
    """The raw signature of ``token``."""
    return unb64(token.rsplit(".", 1)[1])


def high_s_twin(token: str) -> str:
    """The other valid ES256 signature of the same message: ``(r, n - s)`` for ``(r, s)``.

    Anyone can compute it from a token, without the key: ECDSA signatures are
    malleable.
    """
    raw = signature_bytes(token)
    s = int.from_bytes(raw[32:], "big")
    return with_signature(token, raw[:32] + (P256_ORDER - s).to_bytes(32, "big"))


def ed25519_s_plus_order(token: str) -> str:
    """``token`` with its Ed25519 ``S`` replaced by ``S + L``: same value mod L, non-canonical."""
    raw = signature_bytes(token)
    s = int.from_bytes(raw[32:], "little") + ED25519_ORDER
    return with_signature(token, raw[:32] + s.to_bytes(32, "little"))


def set_unused_bits(part: str) -> str:
    """``part`` (length 2 or 3 modulo 4) with an unused trailing bit set: same bytes, new text."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(part) % 4 in (2, 3)
    return part[:-1] + alphabet[alphabet.index(part[-1]) | 1]


def json_serializations(token: str) -> dict[str, str]:
    """The general and flattened JWS JSON serialisations (RFC 7515 section 7.2) of ``token``."""
    protected, payload, signature = token.split(".")
    flattened = {"payload": payload, "protected": protected, "signature": signature}
    general = {"payload": payload, "signatures": [{"protected": protected, "signature": signature}]}
    return {
        "general": json.dumps(general, separators=(",", ":")),
        "flattened": json.dumps(flattened, separators=(",", ":")),
    }


def jwe_compact() -> str:
    """A five-part JWE compact serialisation (RFC 7516) with a real-looking header."""
    header = b64(json_bytes({"alg": "RSA-OAEP-256", "enc": "A256GCM", "typ": "JWT"}))
    return ".".join([header, b64(bytes(256)), b64(bytes(12)), b64(b"ciphertext"), b64(bytes(16))])


def digest(disclosure: str) -> str:
    """The SD-JWT digest of ``disclosure``."""
    return b64(hashlib.sha256(disclosure.encode("utf-8")).digest())


def disclosure(name: str, value: Any, salt: str) -> str:
    """The disclosure of ``name: value`` with ``salt``."""
    return b64(json_bytes([salt, name, value]))


AGE_FACTS = {"age_over_13": True, "age_over_16": True, "age_over_18": True, "age_over_21": True}
DISCLOSURES = [disclosure(name, value, b64(name.encode())) for name, value in AGE_FACTS.items()]

# Keep the key a Forge signs with: ``key=KEEP`` (the default) means "the legitimate key".
KEEP: Any = object()


@dataclass
class Forge:
    """The legitimate token of one entry point, and the means to bend it.

    ``key`` is the private key the entry point trusts for this token (a
    registered verifier's, the issuer's or the holder's); ``header`` and
    ``claims`` make its legitimate header and payload afresh on each call.
    ``disclosures`` are sent with a credential (credential entry point only).
    """

    entry: str
    key: PrivateKey
    make_header: Callable[[], dict[str, Any]]
    make_claims: Callable[[], dict[str, Any]]
    disclosures: list[str] = field(default_factory=lambda: list(DISCLOSURES))

    def header(self, **changes: Any) -> dict[str, Any]:
        """The legitimate header with ``changes`` (a value of ``DROP`` removes the member)."""
        return _apply(self.make_header(), changes)

    def claims(self, **changes: Any) -> dict[str, Any]:
        """The legitimate payload with ``changes`` (a value of ``DROP`` removes the claim)."""
        return _apply(self.make_claims(), changes)

    def token(
        self,
        header: Any = None,
        payload: Any = None,
        *,
        key: Any = KEEP,
        signature: bytes | None = None,
    ) -> str:
        """A compact JWS: the legitimate header and payload unless given, signed by ``key``."""
        return compact(
            self.header() if header is None else header,
            self.claims() if payload is None else payload,
            self.key if key is KEEP else key,
            signature,
        )

    @property
    def public_secrets(self) -> dict[str, bytes]:
        """The trusted public key in the forms an HMAC confusion would use."""
        return public_key_secrets(self.key)


DROP: Any = object()


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result
