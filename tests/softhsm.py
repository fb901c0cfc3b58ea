"""A real SoftHSM2 for the PKCS#11 tests: tokens in a temporary folder, fixtures to use them.

``SoftHSM.start(folder)`` writes a ``softhsm2.conf`` whose token directory is
in ``folder``, points ``SOFTHSM2_CONF`` at it and creates a pool of tokens
with ``softhsm2-util --init-token --free``. SoftHSM2 reads its configuration
and lists its tokens once, when the module is first initialised in the
process, so the tokens are made up front (some 0.1 s each).

Fixtures (imported by ``tests/crypto/conftest.py``): ``softhsm`` (one per
run), ``hsm_store`` (a :class:`~ageverify.crypto.pkcs11.Pkcs11KeyStore` on
a token the run shares: keys named after their public keys never clash) and
``hsm_token`` (the label of a fresh token no other test has used, for tests
that need it empty or its login untouched).
Without softhsm2 or python-pkcs11 the tests skip, except under ``CI=true``,
where they fail: CI must never pass by not testing.

``import_private_key`` puts a known private key into a token, for tests only
(the RFC test vectors): the issuer itself only ever generates keys inside.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

# Debian's softhsm2 package puts the module here; SOFTHSM2_MODULE overrides it.
MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
# Test-only PINs of throwaway tokens.
USER_PIN = "2468-ageverify-user"
SO_PIN = "1357-ageverify-so"
# Tokens made per run: the shared one, and one per test that needs its own.
TOKEN_COUNT = 8


class SoftHSMUnavailable(Exception):
    """SoftHSM2 or python-pkcs11 is missing; the message says which and how to install it."""


def find_module() -> str:
    """The path of libsofthsm2.so: ``SOFTHSM2_MODULE`` or Debian's location."""
    override = os.environ.get("SOFTHSM2_MODULE")
    candidates = (override,) if override else MODULE_PATHS
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    raise SoftHSMUnavailable(
        f"libsofthsm2.so is not in {', '.join(candidates)}: apt-get install -y softhsm2"
    )


@dataclass
class SoftHSM:
    """A SoftHSM2 configuration in ``folder`` with initialised tokens ``labels``."""

    module: str
    folder: Path
    labels: list[str]
    pin: str = USER_PIN
    _next: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def shared_label(self) -> str:
        """The token ``hsm_store`` uses, shared by the run."""
        return self.labels[0]

    @classmethod
    def start(cls, folder: Path, tokens: int = TOKEN_COUNT) -> SoftHSM:
        """Configure SoftHSM2 in ``folder`` and create ``tokens`` tokens.

        Raises ``SoftHSMUnavailable`` without softhsm2 or python-pkcs11, and
        ``RuntimeError`` if the module was already initialised in this
        process (it would not see this configuration).
        """
        try:
            import pkcs11
        except ImportError:
            raise SoftHSMUnavailable(
                "python-pkcs11 is not installed: pip install 'python-pkcs11>=0.10.1,<0.11'"
            ) from None
        module = find_module()
        util = shutil.which("softhsm2-util")
        if util is None:
            raise SoftHSMUnavailable("softhsm2-util is not on PATH: apt-get install -y softhsm2")
        if module in getattr(pkcs11, "_loaded", {}):
            raise RuntimeError("SoftHSM2 was initialised before its test configuration was set")
        tokendir = folder / "tokens"
        tokendir.mkdir(mode=0o700, parents=True)
        conf = folder / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {tokendir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
        labels = [f"ageverify-{index}" for index in range(tokens)]
        for label in labels:
            subprocess.run(  # noqa: S603 - a fixed binary and test-only arguments
                [
                    util,
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--pin",
                    USER_PIN,
                    "--so-pin",
                    SO_PIN,
                ],
                check=True,
                capture_output=True,
            )
        return cls(module=module, folder=folder, labels=labels)

    def take_token(self) -> str:
        """The label of a token no test has used yet."""
        index = next(self._next)
        if index >= len(self.labels):
            raise RuntimeError(
                f"all {len(self.labels)} SoftHSM2 tokens are used: raise TOKEN_COUNT"
            )
        return self.labels[index]

    def session(self, label: str) -> Any:
        """A read-write session on token ``label`` of a process already logged in to it."""
        import pkcs11

        return pkcs11.lib(self.module).get_token(token_label=label).open(rw=True)


def import_private_key(hsm: SoftHSM, label: str, name: str, private_key: rsa.RSAPrivateKey) -> None:
    """Put the known RSA ``private_key`` in token ``label`` as the key pair ``name`` (tests only).

    The private object is sensitive and not extractable, as generated keys
    are; the process must already be logged in to the token (open a
    :class:`Pkcs11KeyStore` on it first).
    """
    from pkcs11 import Attribute, KeyType, ObjectClass

    numbers = private_key.private_numbers()
    public = numbers.public_numbers

    def big(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8, "big")

    common = {
        Attribute.KEY_TYPE: KeyType.RSA,
        Attribute.TOKEN: True,
        Attribute.LABEL: name,
        Attribute.ID: name.encode("ascii"),
        Attribute.MODULUS: big(public.n),
        Attribute.PUBLIC_EXPONENT: big(public.e),
    }
    session = hsm.session(label)
    try:
        session.create_object(
            {
                **common,
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.DECRYPT: False,
                Attribute.PRIVATE_EXPONENT: big(numbers.d),
                Attribute.PRIME_1: big(numbers.p),
                Attribute.PRIME_2: big(numbers.q),
                Attribute.EXPONENT_1: big(numbers.dmp1),
                Attribute.EXPONENT_2: big(numbers.dmq1),
                Attribute.COEFFICIENT: big(numbers.iqmp),
            }
        )
        session.create_object(
            {**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.VERIFY: True}
        )
    finally:
        session.close()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """SoftHSM2 with fresh tokens for the whole run; its folder is deleted with the run's."""
    previous = os.environ.get("SOFTHSM2_CONF")
    try:
        hsm = SoftHSM.start(tmp_path_factory.mktemp("softhsm"))
    except SoftHSMUnavailable as error:
        message = f"SoftHSM2 cannot be used: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)", pytrace=False)
        pytest.skip(message)
    yield hsm
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def hsm_token(softhsm: SoftHSM) -> str:
    """The label of a token of its own (user PIN ``softhsm.pin``)."""
    return softhsm.take_token()


@pytest.fixture(scope="session")
def hsm_store(softhsm: SoftHSM) -> Iterator[Any]:
    """A :class:`Pkcs11KeyStore` on the run's shared token, logged in."""
    from ageverify.crypto.pkcs11 import Pkcs11KeyStore

    store = Pkcs11KeyStore(softhsm.module, softhsm.shared_label, softhsm.pin)
    yield store
    store.close()
