"""RSA blind signatures (RFC 9474): the RFC's vectors byte for byte, refusals, faults, round trips.

The vectors are RFC 9474 appendix A (4096-bit key), from tests/vectors.
Final signatures are also checked with ``cryptography``'s own RSASSA-PSS
verification, an implementation independent of ours.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ageverify.crypto import blindrsa
from ageverify.errors import AgeVerifyError, IssuanceError, VerificationError

VECTORS_FILE = Path(__file__).resolve().parents[1] / "vectors" / "rfc9474-blind-rsa.json"
SUPPORTED = (blindrsa.RSABSSA_SHA384_PSS_DETERMINISTIC, blindrsa.RSABSSA_SHA384_PSS_RANDOMIZED)
# The independent check: standard RSASSA-PSS as RFC 9474 section 5 fixes it.
INDEPENDENT_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


@dataclass(frozen=True)
class Vector:
    """One RFC 9474 test vector, decoded."""

    name: str
    private_key: rsa.RSAPrivateKey
    randomized: bool
    msg: bytes
    msg_prefix: bytes
    input_msg: bytes
    salt: bytes
    encoded_msg: bytes | None  # absent from the file's randomized PSS vector
    inv: int
    blinded_msg: bytes
    blind_sig: bytes
    sig: bytes

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @property
    def n(self) -> int:
        return self.public_key.public_numbers().n

    @property
    def length(self) -> int:
        return (self.n.bit_length() + 7) // 8

    @property
    def r(self) -> int:
        """The blinding factor the vector used: the file gives its inverse."""
        return pow(self.inv, -1, self.n)


def _private_key(p: int, q: int, e: int, d: int) -> rsa.RSAPrivateKey:
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def _load_vectors() -> dict[str, Vector]:
    vectors = {}
    for raw in json.loads(VECTORS_FILE.read_text()):
        if raw["name"] not in SUPPORTED:
            continue  # the PSSZERO variants are not offered
        p, q, n, e, d = (int(raw[name], 16) for name in ("p", "q", "n", "e", "d"))
        assert p * q == n
        vectors[raw["name"]] = Vector(
            name=raw["name"],
            private_key=_private_key(p, q, e, d),
            randomized=int(raw["is_randomized"], 16) == 1,
            msg=bytes.fromhex(raw["msg"]),
            msg_prefix=bytes.fromhex(raw["msg_prefix"]),
            input_msg=bytes.fromhex(raw["input_msg"]),
            salt=bytes.fromhex(raw["salt"]),
            encoded_msg=bytes.fromhex(raw["encoded_msg"]) if "encoded_msg" in raw else None,
            inv=int(raw["inv"], 16),
            blinded_msg=bytes.fromhex(raw["blinded_msg"]),
            blind_sig=bytes.fromhex(raw["blind_sig"]),
            sig=bytes.fromhex(raw["sig"]),
        )
    return vectors


VECTORS = _load_vectors()


def scripted(*outputs: bytes) -> Callable[[int], bytes]:
    """An rng that hands out ``outputs`` in order and fails on a length it did not expect."""
    queue = list(outputs)

    def draw(length: int) -> bytes:
        out = queue.pop(0)
        assert len(out) == length
        return out

    return draw


@pytest.fixture(params=sorted(VECTORS), ids=lambda name: name)
def vector(request) -> Vector:
    return VECTORS[request.param]


@pytest.fixture(scope="module")
def key_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_1024() -> rsa.RSAPrivateKey:
    # Deliberately weak: the key every entry point must refuse.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


@pytest.fixture(scope="module")
def signer_2048(key_2048) -> blindrsa.BlindSigner:
    return blindrsa.BlindSigner(key_2048)


def test_the_vectors_file_holds_both_supported_variants():
    assert set(VECTORS) == set(SUPPORTED)
    assert VECTORS[blindrsa.RSABSSA_SHA384_PSS_RANDOMIZED].randomized
    assert not VECTORS[blindrsa.RSABSSA_SHA384_PSS_DETERMINISTIC].randomized


# --- The RFC's vectors, byte for byte -----------------------------------------


def test_prepare_reproduces_input_msg(vector):
    rng = scripted(vector.msg_prefix) if vector.randomized else scripted()
    assert blindrsa.prepare(vector.msg, vector.randomized, rng=rng) == vector.input_msg


@pytest.mark.parametrize(
    "name", [name for name, v in sorted(VECTORS.items()) if v.encoded_msg is not None]
)
def test_emsa_pss_encode_reproduces_encoded_msg(name):
    # The file's randomized PSS vector has no encoded_msg: its blinded_msg covers the encoding.
    vector = VECTORS[name]
    encoded = blindrsa.emsa_pss_encode(vector.input_msg, vector.n.bit_length() - 1, vector.salt)
    assert encoded == vector.encoded_msg


def test_blind_reproduces_blinded_msg_and_inv(vector):
    rng = scripted(vector.salt, vector.r.to_bytes(vector.length, "big"))
    blinded_msg, inv = blindrsa.blind(vector.public_key, vector.input_msg, rng=rng)
    assert blinded_msg == vector.blinded_msg
    assert inv == vector.inv


def test_blind_rejects_out_of_range_draws_for_r(vector):
    # random_integer_uniform(1, n) by rejection: n itself and 0 are drawn and thrown away.
    rng = scripted(
        vector.salt,
        vector.n.to_bytes(vector.length, "big"),
        bytes(vector.length),
        vector.r.to_bytes(vector.length, "big"),
    )
    assert blindrsa.blind(vector.public_key, vector.input_msg, rng=rng).inv == vector.inv


@pytest.mark.parametrize("backend", ["openssl", "gmpy2"])
def test_blind_signer_reproduces_blind_sig(vector, backend):
    signer = blindrsa.BlindSigner(vector.private_key, backend=backend)
    assert signer.backend == backend
    assert signer.sign(vector.blinded_msg) == vector.blind_sig
    assert blindrsa.blind_sign(vector.private_key, vector.blinded_msg) == vector.blind_sig


def test_openssl_signs_by_default_here(vector):
    # libcrypto 3 ships with the platform this service runs on; gmpy2 is the
    # fallback for others, at about half the speed.
    assert blindrsa.BlindSigner(vector.private_key).backend == "openssl"


def test_a_faulty_openssl_result_is_caught_and_withheld(vector):
    signer = blindrsa.BlindSigner(vector.private_key, backend="openssl")
    correct = signer._operation

    def faulty(message: bytes) -> bytes:
        result = bytearray(correct(message))
        result[-1] ^= 1
        return bytes(result)

    signer._operation = faulty
    with pytest.raises(AgeVerifyError) as caught:
        signer.sign(vector.blinded_msg)
    assert caught.value.code == "blind-rsa-signing-failure"


def test_a_libcrypto_failure_is_a_signing_failure(vector):
    signer = blindrsa.BlindSigner(vector.private_key, backend="openssl")

    def refuses(message: bytes) -> bytes:
        raise RuntimeError("libcrypto refused the RSA private operation")

    signer._operation = refuses
    with pytest.raises(AgeVerifyError) as caught:
        signer.sign(vector.blinded_msg)
    assert caught.value.code == "blind-rsa-signing-failure"


def test_finalize_reproduces_sig(vector):
    sig = blindrsa.finalize(vector.public_key, vector.input_msg, vector.blind_sig, vector.inv)
    assert sig == vector.sig


def test_vector_sig_verifies_with_ours_and_with_cryptography(vector):
    blindrsa.verify(vector.public_key, vector.input_msg, vector.sig)
    vector.public_key.verify(vector.sig, vector.input_msg, INDEPENDENT_PSS, hashes.SHA384())


def test_the_prefix_is_part_of_the_signed_message():
    vector = VECTORS[blindrsa.RSABSSA_SHA384_PSS_RANDOMIZED]
    with pytest.raises(VerificationError) as caught:
        blindrsa.verify(vector.public_key, vector.msg, vector.sig)
    assert caught.value.code == "blind-rsa-invalid-signature"


def test_a_psszero_signature_is_not_accepted():
    # Variant confusion: the salt-free variant's signature on the same message.
    raw = next(
        v
        for v in json.loads(VECTORS_FILE.read_text())
        if v["name"] == "RSABSSA-SHA384-PSSZERO-Deterministic"
    )
    public_key = VECTORS[blindrsa.RSABSSA_SHA384_PSS_DETERMINISTIC].public_key
    with pytest.raises(VerificationError) as caught:
        blindrsa.verify(public_key, bytes.fromhex(raw["input_msg"]), bytes.fromhex(raw["sig"]))
    assert caught.value.code == "blind-rsa-invalid-signature"


# --- The signer's refusals ----------------------------------------------------


@pytest.mark.parametrize(
    "excess",
    [0, 1, "all-ones"],
    ids=["equal-to-n", "n-plus-one", "all-ones"],
)
def test_signer_refuses_blinded_message_not_below_n(vector, excess):
    value = (1 << (8 * vector.length)) - 1 if excess == "all-ones" else vector.n + excess
    with pytest.raises(IssuanceError) as caught:
        blindrsa.BlindSigner(vector.private_key).sign(value.to_bytes(vector.length, "big"))
    assert caught.value.code == "blind-rsa-blinded-message-range"
    assert caught.value.status == 422


@pytest.mark.parametrize("delta", [-1, 1, "empty"], ids=["one-short", "one-long", "empty"])
def test_signer_refuses_blinded_message_of_wrong_length(vector, delta):
    message = b"" if delta == "empty" else vector.blinded_msg[:-1]
    if delta == 1:
        message = b"\x00" + vector.blinded_msg  # same integer, one byte too many
    with pytest.raises(IssuanceError) as caught:
        blindrsa.BlindSigner(vector.private_key).sign(message)
    assert caught.value.code == "blind-rsa-blinded-message-length"


@pytest.mark.parametrize("faulty_prime", ["p", "q"])
def test_a_faulty_crt_half_is_caught_and_withheld(monkeypatch, vector, faulty_prime):
    numbers = vector.private_key.private_numbers()
    target = numbers.p if faulty_prime == "p" else numbers.q
    correct = blindrsa.powmod_sec

    def faulty(base, exponent, modulus):
        result = correct(base, exponent, modulus)
        # One flipped bit in one half: the Bellcore fault that hands out a factor of n.
        return result ^ 1 if modulus == target else result

    monkeypatch.setattr(blindrsa, "powmod_sec", faulty)
    with pytest.raises(AgeVerifyError) as caught:
        blindrsa.BlindSigner(vector.private_key, backend="gmpy2").sign(vector.blinded_msg)
    assert caught.value.code == "blind-rsa-signing-failure"
    assert caught.value.status == 500
    assert vector.blind_sig.hex()[:32] not in str(caught.value)


def test_the_signer_output_does_not_depend_on_its_blinding(vector):
    signer = blindrsa.BlindSigner(vector.private_key, backend="gmpy2")
    assert {signer.sign(vector.blinded_msg) for _ in range(3)} == {vector.blind_sig}


def test_signer_refuses_keys_under_2048_bits(key_1024):
    with pytest.raises(ValueError, match="2048"):
        blindrsa.BlindSigner(key_1024)


# --- The holder's checks --------------------------------------------------------


def test_tampered_blind_signature_fails_finalize(vector):
    tampered = bytearray(vector.blind_sig)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(VerificationError) as caught:
        blindrsa.finalize(vector.public_key, vector.input_msg, bytes(tampered), vector.inv)
    assert caught.value.code == "blind-rsa-invalid-signature"


def test_finalize_with_another_inverse_fails(vector):
    with pytest.raises(VerificationError) as caught:
        blindrsa.finalize(vector.public_key, vector.input_msg, vector.blind_sig, vector.inv + 1)
    assert caught.value.code == "blind-rsa-invalid-signature"


@pytest.mark.parametrize("shape", ["one-short", "one-long"])
def test_finalize_refuses_blind_signature_of_wrong_length(vector, shape):
    blind_sig = vector.blind_sig[1:] if shape == "one-short" else b"\x00" + vector.blind_sig
    with pytest.raises(VerificationError) as caught:
        blindrsa.finalize(vector.public_key, vector.input_msg, blind_sig, vector.inv)
    assert caught.value.code == "blind-rsa-blind-signature-length"


def test_blind_refuses_an_encoding_sharing_a_factor_with_n(monkeypatch, vector):
    p = vector.private_key.private_numbers().p
    monkeypatch.setattr(blindrsa, "emsa_pss_encode", lambda *_: p.to_bytes(vector.length, "big"))
    with pytest.raises(AgeVerifyError) as caught:
        blindrsa.blind(vector.public_key, vector.input_msg)
    assert caught.value.code == "blind-rsa-invalid-input"


def test_blind_reports_a_blinding_factor_without_inverse(vector):
    p = vector.private_key.private_numbers().p
    rng = scripted(vector.salt, p.to_bytes(vector.length, "big"))
    with pytest.raises(AgeVerifyError) as caught:
        blindrsa.blind(vector.public_key, vector.input_msg, rng=rng)
    assert caught.value.code == "blind-rsa-blinding-error"


def test_client_side_refuses_keys_under_2048_bits(key_1024):
    public_key = key_1024.public_key()
    for call in (
        lambda: blindrsa.blind(public_key, b"msg"),
        lambda: blindrsa.finalize(public_key, b"msg", bytes(128), 1),
        lambda: blindrsa.verify(public_key, b"msg", bytes(128)),
    ):
        with pytest.raises(AgeVerifyError) as caught:
            call()
        assert caught.value.code == "blind-rsa-unsupported-key"


# --- Round trips with fresh RSA-2048 keys ---------------------------------------


@pytest.mark.parametrize("randomized", [False, True], ids=["deterministic", "randomized"])
def test_round_trip_with_a_fresh_2048_bit_key(key_2048, signer_2048, randomized):
    public_key = key_2048.public_key()
    msg = blindrsa.prepare(b"token input: 2 + nonce + challenge digest + key id", randomized)
    blinded = blindrsa.blind(public_key, msg)
    assert len(blinded.blinded_msg) == 256
    blind_sig = signer_2048.sign(blinded.blinded_msg)
    sig = blindrsa.finalize(public_key, msg, blind_sig, blinded.inv)
    assert len(sig) == 256
    blindrsa.verify(public_key, msg, sig)
    public_key.verify(sig, msg, INDEPENDENT_PSS, hashes.SHA384())
    if randomized:
        assert msg[blindrsa.PREFIX_LENGTH :].startswith(b"token input")


def test_blinding_hides_the_message_and_signatures_differ(key_2048, signer_2048):
    public_key = key_2048.public_key()
    first = blindrsa.blind(public_key, b"same message")
    second = blindrsa.blind(public_key, b"same message")
    assert first.blinded_msg != second.blinded_msg
    sigs = {
        blindrsa.finalize(public_key, b"same message", signer_2048.sign(b.blinded_msg), b.inv)
        for b in (first, second)
    }
    assert len(sigs) == 2  # fresh PSS salts


def test_verify_refuses_another_message_key_or_length(key_2048, signer_2048):
    public_key = key_2048.public_key()
    blinded = blindrsa.blind(public_key, b"message")
    sig = blindrsa.finalize(
        public_key, b"message", signer_2048.sign(blinded.blinded_msg), blinded.inv
    )
    other_key = VECTORS[blindrsa.RSABSSA_SHA384_PSS_DETERMINISTIC].public_key
    for key, msg, candidate in (
        (public_key, b"messagf", sig),
        (other_key, b"message", sig),
        (public_key, b"message", sig[1:]),
        (public_key, b"message", b"\x00" + sig),
    ):
        with pytest.raises(VerificationError) as caught:
            blindrsa.verify(key, msg, candidate)
        assert caught.value.code == "blind-rsa-invalid-signature"


def test_cryptography_refuses_what_verify_refuses(key_2048, signer_2048):
    # Guards the independence of the two checks: a bad signature fails both.
    public_key = key_2048.public_key()
    blinded = blindrsa.blind(public_key, b"message")
    sig = bytearray(
        blindrsa.finalize(
            public_key, b"message", signer_2048.sign(blinded.blinded_msg), blinded.inv
        )
    )
    sig[-1] ^= 1
    with pytest.raises(InvalidSignature):
        public_key.verify(bytes(sig), b"message", INDEPENDENT_PSS, hashes.SHA384())


def test_openssl_signer_serves_many_threads(key_2048, signer_2048):
    from concurrent.futures import ThreadPoolExecutor

    public_key = key_2048.public_key()
    requests = [blindrsa.blind(public_key, f"token {i}".encode()) for i in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda blinded: signer_2048.sign(blinded.blinded_msg), requests))
    for i, (blinded, answer) in enumerate(zip(requests, answers, strict=True)):
        sig = blindrsa.finalize(public_key, f"token {i}".encode(), answer, blinded.inv)
        blindrsa.verify(public_key, f"token {i}".encode(), sig)
