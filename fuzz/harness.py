"""What every fuzz harness shares: the parser contract, fixed keys and input helpers.

Each ``fuzz_<parser>.py`` next to this file feeds one parser of ageverify
with bytes from atheris (libFuzzer) and checks its contract: the parser
either returns a value or raises :class:`~ageverify.errors.AgeVerifyError`
(or the documented subclass) with a code from :data:`~ageverify.errors.CODES`.
Any other exception escapes :func:`expect_contract` and atheris reports it as
a crash, writing the input to a ``crash-<sha1>`` file.

The keys are derived from fixed labels so that the seed corpus
(``make_corpus.py``) and the harnesses agree on them without key files: a
fuzzer that keeps a seed's issuer JWT intact gets past the signature check and
mutates what follows it. They sign nothing outside fuzzing.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import atheris
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"
# The harnesses run as scripts (python fuzz/fuzz_x.py): make the checkout importable.
sys.path.insert(0, str(FUZZ_DIR.parent))

from ageverify.errors import CODES, AgeVerifyError  # noqa: E402

# Issuer, holder and verifier identities shared by the corpus and the harnesses.
ISSUER = "https://issuer.fuzz.example"
AUDIENCE = "https://platform.fuzz.example"
NONCE = "fuzz-nonce-0123456789abcdef"
# A fixed "now": seeds are made valid at this time, so they stay valid forever.
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
THRESHOLDS = (13, 15, 16, 18, 21)
LOG_ORIGIN = "fuzz.example/log"


def _scalar(label: str) -> int:
    # A P-256 scalar below the group order: 255 bits of a hash are always below it.
    return int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") >> 1


def p256_key(label: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key derived from ``label`` (fuzzing only)."""
    return ec.derive_private_key(_scalar(label), ec.SECP256R1())


def ed25519_key(label: str) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 private key derived from ``label`` (fuzzing only)."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


ISSUER_KEY = p256_key("ageverify fuzz issuer")
HOLDER_KEY = p256_key("ageverify fuzz holder")
VERIFIER_KEY = p256_key("ageverify fuzz verifier")
LOG_KEY = ed25519_key("ageverify fuzz log")
WITNESS_KEY = ed25519_key("ageverify fuzz witness")


def expect_contract(
    call: Callable[[], Any], error_type: type[AgeVerifyError] = AgeVerifyError
) -> Any:
    """Run ``call``; return its value, or ``None`` when it refused with a coded ``error_type``.

    An ``AgeVerifyError`` of another class than ``error_type``, or with a code
    missing from CODES, is re-raised as an AssertionError; anything else
    propagates as it is. Either way atheris reports a crash.
    """
    try:
        return call()
    except AgeVerifyError as error:
        if error.code not in CODES:
            raise AssertionError(f"code {error.code!r} is not in CODES") from error
        if not isinstance(error, error_type):
            raise AssertionError(
                f"{type(error).__name__}({error.code!r}) where {error_type.__name__} is documented"
            ) from error
        return None


def text_of(data: bytes) -> str:
    """``data`` as text: UTF-8 when it is, else Latin-1, so every byte string maps to some text.

    Latin-1 gives the parsers non-ASCII characters the fuzzer can reach one
    byte at a time; UTF-8 gives them the rest of Unicode.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def fuzzed_json(fdp: atheris.FuzzedDataProvider, depth: int = 3) -> Any:
    """A JSON value of any type drawn from the FuzzedDataProvider ``fdp``.

    Integers beyond a double's range, extreme floats and nested values come
    up as often as plain ones: values a parser may meet in a token but that
    no seed holds.
    """
    kind = fdp.ConsumeIntInRange(0, 8 if depth > 0 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 8))
    if kind == 3:
        # Past 2**1024, where conversion to a double overflows, from a few input bytes.
        return fdp.ConsumeInt(4) * 10 ** fdp.ConsumeIntInRange(300, 400)
    if kind == 4:
        return fdp.ConsumeRegularFloat()
    if kind == 5:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    if kind == 6:
        return fdp.PickValueInList(["EC", "OKP", "RSA", "P-256", "Ed25519", "18", "other", ""])
    if kind == 7:
        return [fuzzed_json(fdp, depth - 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {
        fdp.ConsumeUnicodeNoSurrogates(4): fuzzed_json(fdp, depth - 1)
        for _ in range(fdp.ConsumeIntInRange(0, 3))
    }


def vary(
    fdp: atheris.FuzzedDataProvider, template: dict[str, Any], depth: int = 3
) -> dict[str, Any]:
    """``template`` with some members replaced by :func:`fuzzed_json` values, some dropped."""
    varied: dict[str, Any] = {}
    for name, value in template.items():
        # Mostly kept: a check is reached only when the members before it pass.
        choice = fdp.ConsumeIntInRange(0, 9)
        if choice <= 2:
            varied[name] = fuzzed_json(fdp, depth)
        elif choice == 3 and isinstance(value, dict):
            varied[name] = vary(fdp, value, depth - 1)
        elif choice != 4:
            varied[name] = value
    return varied


@contextmanager
def instrumented() -> Iterator[None]:
    """Import ageverify's modules inside this block under atheris coverage instrumentation."""
    with atheris.instrument_imports(include=["ageverify"]):
        yield


def main(test_one_input: Callable[[bytes], None]) -> None:
    """Run ``test_one_input`` under atheris with the command line's libFuzzer flags.

    An input file given instead of a corpus folder is replayed once: that is
    how a crash is reproduced (``python fuzz/fuzz_sdjwt.py crash-...``).
    """
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
