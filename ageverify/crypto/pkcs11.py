"""Private keys in a hardware token, through PKCS#11 (python-pkcs11).

:class:`Pkcs11KeyStore` implements :class:`~ageverify.crypto.keystore.KeyStore`
on one token of a PKCS#11 module (an HSM, a cloud HSM's library, SoftHSM2 in
tests). Every key is generated inside the token as a token object that is
private, sensitive and not extractable: its value never exists outside the
device, and the issuer holds only object handles. The operations:

- ES256 credential signing: ``CKM_ECDSA`` over the SHA-256 digest computed
  here; the token answers ``r || s``, the raw form JWS uses;
- Ed25519 log signing: ``CKM_EDDSA`` (PKCS#11 3.0; SoftHSM2 from 2.5). A
  token without it cannot hold the log key, and says so when the key is
  generated;
- RFC 9474 blind signing: ``CKM_RSA_X_509``, the raw RSA private operation,
  whose result is checked against the public exponent before it is returned,
  as :class:`~ageverify.crypto.blindrsa.BlindSigner` does.

A key is found by its ``CKA_LABEL`` (and ``CKA_ID``), which is its name in
the key store: a kid, ``pp-<token key id>`` or ``log-ed25519``. A new key is
generated under a random label first and renamed once its public key has
given it its name.

The PIN logs the process in once per token (PKCS#11 logs in an application,
not a session). python-pkcs11 initialises the module without locking
callbacks (``C_Initialize(NULL)``), which by the standard promises the module
that no two threads call it at once; SoftHSM2 indeed fails under concurrent
calls then. So every call here holds the module's lock: a process signs one
operation at a time, and throughput comes from more processes (gunicorn
workers), each with its own sessions. A process forked after the module was
loaded (a pre-forking server) initialises the module again and logs in
again before its first operation.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from ageverify.crypto.keystore import (
    RSA_BITS,
    RSA_PUBLIC_EXPONENT,
    GeneratedKey,
    KeyKind,
    NameFor,
    PrivateKey,
    PublicKey,
    check_rsasp1,
    check_rsasp1_input,
    kind_of,
)
from ageverify.errors import AgeVerifyError, ConfigurationError, KeyStoreError

__all__ = ["REQUIRED_MECHANISMS", "Pkcs11KeyStore"]

log = logging.getLogger("ageverify.keys")

# What the issuer's P-256 and RSA keys need; Ed25519 is checked on its own.
REQUIRED_MECHANISMS = {
    Mechanism.EC_KEY_PAIR_GEN: "CKM_EC_KEY_PAIR_GEN",
    Mechanism.ECDSA: "CKM_ECDSA",
    Mechanism.RSA_PKCS_KEY_PAIR_GEN: "CKM_RSA_PKCS_KEY_PAIR_GEN",
    Mechanism.RSA_X_509: "CKM_RSA_X_509",
}
_ED25519_MECHANISMS = (Mechanism.EC_EDWARDS_KEY_PAIR_GEN, Mechanism.EDDSA)

# RFC 9474 section 6.2: no blind signatures with shorter moduli.
MIN_RSA_BITS = 2048
_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_P256_PARAMS = encode_named_curve_parameters("secp256r1")
# PKCS#11 3.0 names Edwards curves by OID (RFC 8410) or by printable string.
_ED25519_PARAMS = encode_named_curve_parameters("1.3.101.112")
_ED25519_NAMES = (_ED25519_PARAMS, b"\x13\x0cedwards25519")

# Attributes of every private key: generated in the token, never readable
# outside it, and usable for one thing only (signing).
_PRIVATE_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}
_PUBLIC_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: False,
    Attribute.VERIFY: True,
    Attribute.ENCRYPT: False,
    Attribute.WRAP: False,
}


class _Login:
    """The process's login to one token: the session that holds it, and a digest of its PIN."""

    def __init__(self, session: Any, pin: str) -> None:
        self.session = session
        self.pin_digest = hashlib.sha256(pin.encode("utf-8")).digest()


# One login per (module, token) per process: PKCS#11 refuses a second C_Login.
_logins: dict[tuple[str, str], _Login] = {}
_logins_lock = threading.Lock()
# The process that initialised each module; a forked child initialises again.
_initialised_by: dict[str, int] = {}
# One lock per module: it was initialised without locking callbacks (see above).
_module_locks: dict[str, threading.RLock] = {}


def _module_lock(module: str) -> threading.RLock:
    with _logins_lock:
        return _module_locks.setdefault(module, threading.RLock())


class Pkcs11KeyStore:
    """The issuer's private keys in the token labelled ``token_label`` of the PKCS#11 ``module``.

    ``module`` is the path of the vendor's PKCS#11 library (``.so``) and
    ``pin`` the token user's PIN, kept out of ``repr``. The token is opened
    and logged in here, so a wrong module, label or PIN stops the issuer at
    start-up: ``ConfigurationError`` for a module that does not load or a
    token without the mechanisms the issuer needs, ``KeyStoreError`` for a
    token that is not there or refuses the PIN.
    """

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        if not module or not os.path.isfile(module):
            raise ConfigurationError(
                f"AGEVERIFY_PKCS11_MODULE ({module!r}) is not a file: give the path of the "
                "token vendor's PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)"
            )
        if not token_label:
            raise ConfigurationError("AGEVERIFY_PKCS11_TOKEN_LABEL must name the token to use")
        if not pin:
            raise ConfigurationError("AGEVERIFY_PKCS11_PIN must be set to the token user's PIN")
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._lock = threading.Lock()
        self._current: _Session | None = None
        self._public: dict[str, PublicKey] = {}
        self._pid = -1
        self._token: Any = None
        self.supports_ed25519 = False
        """Whether the token offers ``CKM_EDDSA``, so that it can hold the log key."""
        with _module_lock(module):
            self._open()

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore(module={self.module!r}, token_label={self.token_label!r})"

    # --- KeyStore -------------------------------------------------------------

    def describe(self, name: str) -> str:
        """``PKCS#11 key '<name>' in token '<label>'``: where the key lives, for messages."""
        return f"PKCS#11 key {name!r} in token {self.token_label!r}"

    def exists(self, name: str) -> bool:
        """Whether the token holds a private key labelled ``name``."""
        _check_name(name)
        with self._session() as session:
            return any(session.find(ObjectClass.PRIVATE_KEY, name))

    def generate(
        self,
        kind: KeyKind,
        name_for: NameFor,
        *,
        new_key: Callable[[], PrivateKey] | None = None,
    ) -> GeneratedKey:
        """Generate a key pair of ``kind`` in the token and label it ``name_for(public_key)``.

        See :meth:`KeyStore.generate`; ``new_key`` is not called (the token
        generates). The private key is a token object with ``CKA_SENSITIVE``
        true and ``CKA_EXTRACTABLE`` false. An Ed25519 key on a token without
        ``CKM_EDDSA`` raises ``ConfigurationError``.
        """
        if kind is KeyKind.ED25519 and not self.supports_ed25519:
            raise ConfigurationError(
                f"the PKCS#11 token {self.token_label!r} offers no CKM_EDDSA, so the "
                "transparency log's Ed25519 key cannot be generated in it: use a token "
                "with Ed25519 (SoftHSM2 2.5 or later, PKCS#11 3.0 HSMs), or open the "
                "store with open_key_store, which keeps that key in AGEVERIFY_KEYS_DIR"
            )
        with self._session() as session:
            while True:
                public, private = session.generate(kind)
                try:
                    public_key = _export(public)
                    if kind_of(public_key) is not kind:
                        raise KeyStoreError(f"the token generated another key than {kind.value}")
                    name = name_for(public_key)
                    if name is None:
                        _destroy(public, private)
                        continue
                    _check_name(name)
                    if any(session.find(ObjectClass.PRIVATE_KEY, name)):
                        raise KeyStoreError(f"{self.describe(name)} already exists")
                    for obj in (public, private):
                        obj[Attribute.LABEL] = name
                        obj[Attribute.ID] = name.encode("ascii")
                except BaseException:
                    _destroy(public, private)
                    raise
                with self._lock:
                    self._public[name] = public_key
                return GeneratedKey(name, public_key)

    def public_key(self, name: str) -> PublicKey:
        """The public key of the key pair labelled ``name``, read from its public object."""
        public_key = self._public.get(name)
        if public_key is None:
            public_key = self._read_public_key(name)
            with self._lock:
                self._public[name] = public_key
        return public_key

    def sign(self, name: str, message: bytes) -> bytes:
        """ES256 (``CKM_ECDSA`` on SHA-256, raw ``r || s``) or Ed25519 (``CKM_EDDSA``) signature."""
        kind = kind_of(self.public_key(name))
        if kind is KeyKind.P256:
            data, mechanism = hashlib.sha256(message).digest(), Mechanism.ECDSA
        elif kind is KeyKind.ED25519:
            data, mechanism = message, Mechanism.EDDSA
        else:
            raise KeyStoreError(f"{self.describe(name)} is no P-256 or Ed25519 signing key")
        with self._session() as session:
            try:
                signature = bytes(session.private_key(name).sign(data, mechanism=mechanism))
            except pkcs11.PKCS11Error as error:
                session.forget(name)
                raise KeyStoreError(
                    f"{self.describe(name)} could not sign ({type(error).__name__})"
                ) from None
        if len(signature) != 64:
            raise KeyStoreError(f"{self.describe(name)} returned a malformed signature")
        return signature

    def rsasp1(self, name: str, message: bytes) -> bytes:
        """RSASP1 with ``CKM_RSA_X_509``, the result checked (s^e = m) before it is returned.

        See :meth:`KeyStore.rsasp1`. A token failure or a wrong result raises
        ``blind-rsa-signing-failure``.
        """
        public_key = self.public_key(name)
        if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < MIN_RSA_BITS:
            raise KeyStoreError(f"{self.describe(name)} is no RSA key of 2048 bits or more")
        check_rsasp1_input(public_key, message)
        with self._session() as session:
            try:
                result = bytes(
                    session.private_key(name).sign(message, mechanism=Mechanism.RSA_X_509)
                )
            except pkcs11.PKCS11Error as error:
                session.forget(name)
                log.error("the RSA private operation of %s failed: %s", name, type(error).__name__)
                raise AgeVerifyError("blind-rsa-signing-failure") from None
        return check_rsasp1(public_key, message, result)

    def delete(self, name: str) -> None:
        """Destroy both objects labelled ``name``; a missing key is not an error."""
        _check_name(name)
        with self._lock:
            self._public.pop(name, None)
        with self._session() as session:
            session.forget(name)
            try:
                for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                    for obj in list(session.find(object_class, name)):
                        obj.destroy()
            except pkcs11.PKCS11Error as error:
                raise KeyStoreError(
                    f"{self.describe(name)} could not be destroyed ({type(error).__name__})"
                ) from None

    def close(self) -> None:
        """Close the sessions this store opened (the process stays logged in)."""
        with _module_lock(self.module), self._lock:
            current, self._current = self._current, None
            if current is not None:
                current.close()

    # --- the token ------------------------------------------------------------

    def _open(self) -> None:
        """Load the module, find the token, check its mechanisms and log in (once per process)."""
        pid = os.getpid()
        try:
            lib = pkcs11.lib(self.module)
            if _initialised_by.setdefault(self.module, pid) != pid:
                # A forked child inherits the parent's state, which PKCS#11
                # does not allow to be used: start the module again.
                lib.reinitialize()
                _initialised_by[self.module] = pid
                with _logins_lock:
                    for key in [key for key in _logins if key[0] == self.module]:
                        del _logins[key]
        except pkcs11.PKCS11Error as error:
            raise ConfigurationError(
                f"the PKCS#11 module {self.module} cannot be loaded ({type(error).__name__})"
            ) from None
        try:
            token = lib.get_token(token_label=self.token_label)
        except pkcs11.NoSuchToken:
            raise KeyStoreError(
                f"no token labelled {self.token_label!r} in the PKCS#11 module {self.module}: "
                "check AGEVERIFY_PKCS11_TOKEN_LABEL"
            ) from None
        except pkcs11.MultipleTokensReturned:
            raise KeyStoreError(
                f"more than one token is labelled {self.token_label!r} in {self.module}"
            ) from None
        mechanisms = token.slot.get_mechanisms()
        missing = [label for mech, label in REQUIRED_MECHANISMS.items() if mech not in mechanisms]
        if missing:
            raise ConfigurationError(
                f"the PKCS#11 token {self.token_label!r} lacks {', '.join(missing)}, "
                "which the issuer's keys need"
            )
        self.supports_ed25519 = all(mech in mechanisms for mech in _ED25519_MECHANISMS)
        self._login(token)
        self._token = token
        self._pid = pid

    def _login(self, token: Any) -> None:
        key = (self.module, self.token_label)
        with _logins_lock:
            login = _logins.get(key)
            if login is not None:
                # PKCS#11 has no second login to check the PIN with: compare it.
                digest = hashlib.sha256(self._pin.encode("utf-8")).digest()
                if not hmac.compare_digest(digest, login.pin_digest):
                    raise KeyStoreError(
                        f"the PKCS#11 token {self.token_label!r} is logged in by this process "
                        "with another PIN"
                    )
                return
            try:
                session = token.open(rw=True, user_pin=self._pin)
            except pkcs11.PinIncorrect:
                raise KeyStoreError(
                    f"the PKCS#11 token {self.token_label!r} refused the PIN: "
                    "check AGEVERIFY_PKCS11_PIN"
                ) from None
            except pkcs11.PinLocked:
                raise KeyStoreError(
                    f"the PIN of the PKCS#11 token {self.token_label!r} is locked: "
                    "the token's security officer must unlock it"
                ) from None
            except pkcs11.PKCS11Error as error:
                raise KeyStoreError(
                    f"cannot log in to the PKCS#11 token {self.token_label!r} "
                    f"({type(error).__name__})"
                ) from None
            _logins[key] = _Login(session, self._pin)

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        """The store's session, for the caller alone: the module's lock is held meanwhile."""
        with _module_lock(self.module):
            if self._pid != os.getpid():
                # Forked: the parent's sessions and handles mean nothing here.
                self._current = None
                self._public.clear()
                self._open()
            if self._current is None:
                try:
                    self._current = _Session(self._token.open(rw=True))
                except pkcs11.PKCS11Error as error:
                    raise KeyStoreError(
                        f"cannot open a session on the PKCS#11 token {self.token_label!r} "
                        f"({type(error).__name__})"
                    ) from None
            yield self._current

    def _read_public_key(self, name: str) -> PublicKey:
        _check_name(name)
        with self._session() as session:
            objects = list(session.find(ObjectClass.PUBLIC_KEY, name))
            if not objects:
                raise KeyStoreError(f"no {self.describe(name)}")
            if len(objects) != 1 or not any(session.find(ObjectClass.PRIVATE_KEY, name)):
                raise KeyStoreError(f"{self.describe(name)} is not one key pair")
            try:
                return _export(objects[0])
            except KeyStoreError as error:
                raise KeyStoreError(f"{self.describe(name)}: {error}") from None


class _Session:
    """One PKCS#11 session and the private key objects found through it."""

    __slots__ = ("_keys", "session")

    def __init__(self, session: Any) -> None:
        self.session = session
        self._keys: dict[str, Any] = {}

    def find(self, object_class: ObjectClass, name: str) -> Iterator[Any]:
        return iter(
            self.session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: name})
        )

    def private_key(self, name: str) -> Any:
        key = self._keys.get(name)
        if key is None:
            found = list(self.find(ObjectClass.PRIVATE_KEY, name))
            if len(found) != 1:
                raise KeyStoreError(
                    f"the token holds {len(found)} private keys labelled {name!r}, not one"
                )
            key = self._keys[name] = found[0]
        return key

    def forget(self, name: str) -> None:
        self._keys.pop(name, None)

    def generate(self, kind: KeyKind) -> tuple[Any, Any]:
        """A new key pair of ``kind`` under a random label, stored in the token."""
        label = "new-" + secrets.token_hex(8)
        options: dict[str, Any] = {
            "label": label,
            "id": label.encode("ascii"),
            "store": True,
            "private_template": _PRIVATE_TEMPLATE,
        }
        try:
            if kind is KeyKind.RSA2048:
                return self.session.generate_keypair(
                    KeyType.RSA,
                    RSA_BITS,
                    mechanism=Mechanism.RSA_PKCS_KEY_PAIR_GEN,
                    public_template={
                        **_PUBLIC_TEMPLATE,
                        Attribute.PUBLIC_EXPONENT: RSA_PUBLIC_EXPONENT.to_bytes(3, "big"),
                    },
                    **options,
                )
            if kind is KeyKind.P256:
                key_type, mechanism, params = KeyType.EC, Mechanism.EC_KEY_PAIR_GEN, _P256_PARAMS
            else:
                key_type = KeyType.EC_EDWARDS
                mechanism, params = Mechanism.EC_EDWARDS_KEY_PAIR_GEN, _ED25519_PARAMS
            return self.session.generate_keypair(
                key_type,
                mechanism=mechanism,
                public_template={**_PUBLIC_TEMPLATE, Attribute.EC_PARAMS: params},
                **options,
            )
        except pkcs11.PKCS11Error as error:
            raise KeyStoreError(
                f"the PKCS#11 token could not generate a {kind.value} key ({type(error).__name__})"
            ) from None

    def close(self) -> None:
        with suppress(pkcs11.PKCS11Error):
            self.session.close()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise KeyStoreError("a key name must be 1 to 100 characters of [A-Za-z0-9_-]")


def _destroy(*objects: Any) -> None:
    for obj in objects:
        try:
            obj.destroy()
        except pkcs11.PKCS11Error:
            log.warning("a key object could not be destroyed after a failed generation")


def _export(public: Any) -> PublicKey:
    """The ``cryptography`` public key of the public key object ``public``."""
    key_type = public[Attribute.KEY_TYPE]
    if key_type == KeyType.RSA:
        return rsa.RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(public[Attribute.MODULUS], "big"),
        ).public_key()
    params = bytes(public[Attribute.EC_PARAMS])
    point = bytes(public[Attribute.EC_POINT])
    try:
        if key_type == KeyType.EC and params == _P256_PARAMS:
            return ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), _unwrap_point(point, 65)
            )
        if key_type == KeyType.EC_EDWARDS and params in _ED25519_NAMES:
            return ed25519.Ed25519PublicKey.from_public_bytes(_unwrap_point(point, 32))
    except ValueError:
        raise KeyStoreError("its public key is not on its curve") from None
    raise KeyStoreError("it is of a kind the issuer does not use")


def _unwrap_point(value: bytes, length: int) -> bytes:
    """CKA_EC_POINT without its DER OCTET STRING wrapper (some tokens omit it)."""
    if len(value) == length + 2 and value[0] == 0x04 and value[1] == length:
        return value[2:]
    if len(value) == length:
        return value
    raise KeyStoreError("its public key point has an unexpected size")
