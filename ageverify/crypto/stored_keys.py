"""Keys that stay in their key store, seen by signing code as ``cryptography`` key objects.

The credential and note signing code (``ageverify.formats.jose``,
``ageverify.translog.note``) signs with ``cryptography`` private key objects.
:class:`StoredP256Key` and :class:`StoredEd25519Key` are such objects whose
``sign`` asks the :class:`~ageverify.crypto.keystore.KeyStore` and whose
private numbers and bytes cannot be had: with a PKCS#11 store, the key never
leaves the token, and the signing code is the same for both stores.
:func:`blind_signer` does the same for Privacy Pass token keys.
"""

from __future__ import annotations

from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ageverify.crypto.blindrsa import BlindSigner
from ageverify.crypto.keystore import KeyStore, raw_to_der
from ageverify.errors import KeyStoreError

__all__ = ["StoredEd25519Key", "StoredP256Key", "blind_signer", "ed25519_key", "p256_key"]


def _stays_in_store(*_: Any, **__: Any) -> NoReturn:
    raise TypeError("a stored private key never leaves its key store")


class StoredP256Key(ec.EllipticCurvePrivateKey):
    """The P-256 key ``name`` of ``store``: ECDSA with SHA-256 only, computed by the store."""

    __slots__ = ("_name", "_public", "_store")

    def __init__(self, store: KeyStore, name: str, public_key: ec.EllipticCurvePublicKey) -> None:
        self._store = store
        self._name = name
        self._public = public_key

    @property
    def name(self) -> str:
        """The key's name in its store (its kid)."""
        return self._name

    @property
    def curve(self) -> ec.EllipticCurve:
        """The curve: SECP256R1."""
        return self._public.curve

    @property
    def key_size(self) -> int:
        """256."""
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half, as the store exported it."""
        return self._public

    def sign(
        self,
        data: bytes | bytearray | memoryview,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        """DER ECDSA signature of ``data`` hashed with SHA-256 (what ES256 signs with)."""
        if not isinstance(signature_algorithm, ec.ECDSA) or not isinstance(
            signature_algorithm.algorithm, hashes.SHA256
        ):
            raise ValueError("a stored P-256 key signs with ECDSA over SHA-256 only")
        return raw_to_der(self._store.sign(self._name, bytes(data)))

    def sign_raw(self, data: bytes) -> bytes:
        """The ES256 signature of ``data`` as JWS carries it: raw ``r || s``, 64 bytes.

        What the store makes, without the DER round trip of :meth:`sign`: a
        batch of credentials makes tens of signatures.
        """
        return self._store.sign(self._name, data)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """Refused (``TypeError``): the issuer's keys only sign."""
        _stays_in_store()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        """Refused (``TypeError``): the private value stays in the store."""
        _stays_in_store()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Refused (``TypeError``): the private value stays in the store."""
        _stays_in_store()

    def __copy__(self) -> StoredP256Key:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> StoredP256Key:
        return self

    def __repr__(self) -> str:
        return f"StoredP256Key({self._name!r} in {self._store!r})"


class StoredEd25519Key(ed25519.Ed25519PrivateKey):
    """The Ed25519 key ``name`` of ``store``, signing through the store."""

    __slots__ = ("_name", "_public", "_store")

    def __init__(self, store: KeyStore, name: str, public_key: ed25519.Ed25519PublicKey) -> None:
        self._store = store
        self._name = name
        self._public = public_key

    def public_key(self) -> ed25519.Ed25519PublicKey:
        """The public half, as the store exported it."""
        return self._public

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._store.sign(self._name, bytes(data))

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Refused (``TypeError``): the private value stays in the store."""
        _stays_in_store()

    def private_bytes_raw(self) -> bytes:
        """Refused (``TypeError``): the private value stays in the store."""
        _stays_in_store()

    def __copy__(self) -> StoredEd25519Key:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> StoredEd25519Key:
        return self

    def __repr__(self) -> str:
        return f"StoredEd25519Key({self._name!r} in {self._store!r})"


def p256_key(store: KeyStore, name: str) -> StoredP256Key:
    """The P-256 key ``name`` of ``store``; ``KeyStoreError`` if it is missing or another kind."""
    public = store.public_key(name)
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise KeyStoreError(f"{store.describe(name)} does not hold a P-256 key")
    return StoredP256Key(store, name, public)


def ed25519_key(store: KeyStore, name: str) -> StoredEd25519Key:
    """The Ed25519 key ``name`` of ``store``; ``KeyStoreError`` if it is missing or another kind."""
    public = store.public_key(name)
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise KeyStoreError(f"{store.describe(name)} does not hold an Ed25519 key")
    return StoredEd25519Key(store, name, public)


def blind_signer(store: KeyStore, name: str, *, modulus_bits: int = 2048) -> BlindSigner:
    """An RFC 9474 :class:`BlindSigner` whose RSASP1 is the store's, for the RSA key ``name``.

    ``KeyStoreError`` if the key is missing or is not RSA with a
    ``modulus_bits`` modulus. The signer checks every result again.
    """
    public = store.public_key(name)
    if not isinstance(public, rsa.RSAPublicKey) or public.key_size != modulus_bits:
        raise KeyStoreError(f"{store.describe(name)} does not hold an RSA-{modulus_bits} key")

    def rsasp1(message: bytes) -> bytes:
        return store.rsasp1(name, message)

    return BlindSigner.with_operation(public, rsasp1, backend=type(store).__name__)
