"""Write the seed corpus, ``fuzz/corpus/<parser>/``, from ageverify's own encoders.

Every seed is a valid input made by the project itself (a credential issued
and presented with the SDK's functions, a checkpoint signed by the log's
note signer, ...), prefixed with the byte that picks the harness's shape or
reader. Run from the repository root: ``python fuzz/make_corpus.py``. The
seeds are committed; running again rewrites them (signatures and random
fields change, what they exercise does not).
"""

from __future__ import annotations

import hashlib
import shutil

from cryptography.hazmat.primitives.asymmetric import rsa
from harness import (
    AUDIENCE,
    CORPUS_DIR,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    LOG_KEY,
    LOG_ORIGIN,
    NONCE,
    NOW,
    VERIFIER_KEY,
    WITNESS_KEY,
)

from ageverify.formats import attestation, jose, privacypass, sdjwt, strictjson
from ageverify.translog import checkpoint, note, tiles

ISSUER_KID = jose.thumbprint(jose.public_jwk(ISSUER_KEY))
VERIFIER_KID = jose.thumbprint(jose.public_jwk(VERIFIER_KEY))


def _write(parser: str, seeds: dict[str, bytes]) -> None:
    folder = CORPUS_DIR / parser
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


def _noise(label: str, size: int) -> bytes:
    """``size`` bytes that look random, the same on every run (SHAKE-256 of ``label``)."""
    return hashlib.shake_256(label.encode()).digest(size)


def attestation_token(**claims: object) -> str:
    """An attestation signed by the fuzzing verifier key, valid at NOW."""
    payload = {
        "iss": "verifier.fuzz.example",
        "aud": ISSUER,
        "iat": NOW - 10,
        "exp": NOW + 290,
        "jti": "b" * 22,
        "age_over": {"13": True, "18": True, "21": False},
        "method": "id_document",
        **claims,
    }
    header = {"alg": "ES256", "typ": attestation.ATTESTATION_TYP, "kid": VERIFIER_KID}
    return jose.sign(VERIFIER_KEY, header, payload)


def credential() -> str:
    """An SD-JWT VC bound to the fuzzing holder key, valid at NOW."""
    return sdjwt.issue_credential(
        signing_key=ISSUER_KEY,
        kid=ISSUER_KID,
        issuer=ISSUER,
        iat=NOW - 3600,
        exp=NOW + 90 * 86400,
        holder_jwk=jose.public_jwk(HOLDER_KEY),
        age_over={13: True, 15: True, 16: True, 18: True, 21: False},
        decoys=3,
    )


def presentation(sd_jwt: str, keep: int) -> str:
    """``sd_jwt`` presented to AUDIENCE for NONCE with its first ``keep`` disclosures."""
    issuer_jwt, *disclosures, _ = sd_jwt.split("~")
    prefix = "~".join([issuer_jwt, *disclosures[:keep]]) + "~"
    kb = sdjwt.make_key_binding(
        holder_key=HOLDER_KEY,
        sd_jwt_with_disclosures=prefix,
        audience=AUDIENCE,
        nonce=NONCE,
        iat=NOW,
    )
    return prefix + kb


def _payload(token: str) -> bytes:
    return jose.b64url_decode(token.split(".")[1])


def sdjwt_seeds() -> dict[str, bytes]:
    sd_jwt = credential()
    seeds = {
        f"presentation-{keep}-disclosures": b"\x00" + presentation(sd_jwt, keep).encode()
        for keep in (0, 1, 2, 5)
    }
    seeds["credential-without-key-binding"] = b"\x00" + sd_jwt.encode()
    # Shape 1: the same presentation as payloads the harness signs itself.
    issuer_jwt, *disclosures, _ = sd_jwt.split("~")
    kb_payload = strictjson.dumps(
        {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": "SD_HASH"}
    )
    for keep in (1, 5):
        parts = [_payload(issuer_jwt), *(d.encode() for d in disclosures[:keep]), kb_payload]
        seeds[f"resigned-{keep}-disclosures"] = b"\x01" + b"~".join(parts)
    for n in range(4):
        seeds[f"claims-varied-{n}"] = b"\x02" + _noise(f"sd-jwt claims {n}", 400)
    return seeds


def attestation_seeds() -> dict[str, bytes]:
    token = attestation_token()
    header = strictjson.dumps(
        {"alg": "ES256", "typ": attestation.ATTESTATION_TYP, "kid": VERIFIER_KID}
    )
    return {
        **{
            # Shape 3 reads its bytes as choices: varied bytes make varied claims.
            f"claims-varied-{n}": b"\x03" + _noise(f"claims {n}", 400)
            for n in range(4)
        },
        "attestation-to-sign": b"\x02" + header + b"\n" + _payload(token),
        "attestation": b"\x00" + token.encode(),
        "attestation-aud-array": b"\x00" + attestation_token(aud=[ISSUER, "other"]).encode(),
        "attestation-claims": b"\x01" + _payload(token),
        "attestation-claims-float-times": b"\x01"
        + strictjson.dumps(
            {**strictjson.loads(_payload(token)), "iat": NOW - 0.5, "exp": NOW + 1.5}
        ),
    }


def jose_seeds() -> dict[str, bytes]:
    sd_jwt = credential()
    jwk = {**jose.public_jwk(HOLDER_KEY), "kid": "holder"}
    seeds = {
        "attestation": attestation_token(),
        "credential-jwt": sd_jwt.split("~")[0],
        "key-binding-jwt": presentation(sd_jwt, 1).rsplit("~", 1)[1],
        "jwk-payload": jose.sign(ISSUER_KEY, {"alg": "ES256"}, jwk),
        "eddsa-jwk-payload": jose.sign(LOG_KEY, {"alg": "EdDSA"}, jose.public_jwk(LOG_KEY)),
    }
    raw = {name: b"\x00" + token.encode() for name, token in seeds.items()}
    # Shape 1: the same tokens as their JSON parts and signature bytes, one per line.
    for name, token in seeds.items():
        parts = [jose.b64url_decode(part) for part in token.split(".")]
        raw[f"{name}-parts"] = b"\x01" + b"\n".join(parts)
    for n in range(4):
        raw[f"jwk-varied-{n}"] = b"\x02" + _noise(f"jwk {n}", 256)
    return raw


def strictjson_seeds() -> dict[str, bytes]:
    sd_jwt = credential()
    return {
        "credential-payload": b"\x0f" + _payload(sd_jwt.split("~")[0]),
        "disclosure": b"\x0f" + jose.b64url_decode(sd_jwt.split("~")[1]),
        "nested": b"\x03" + strictjson.dumps({"a": [1, 2.5, -0.0, {"b": None}], "c": "\u00e9\\"}),
        "canonical-event": b"\x0f"
        + strictjson.canonical(
            {"kind": "key-added", "jwk": jose.public_jwk(ISSUER_KEY), "at": NOW}
        ),
        "escapes": b"\x0f" + b'["\\u00e9\\ud83d\\ude00\\n\\"", 1e10, 12345678901234567890]',
    }


def privacypass_seeds() -> dict[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    spki = privacypass.encode_pss_spki(key)
    key_id = privacypass.token_key_id(key)
    challenge = privacypass.TokenChallenge(
        issuer_name="issuer.fuzz.example",
        redemption_context=bytes(range(32)),
        origin_info=("platform.fuzz.example", "other.fuzz.example:8443"),
    )
    token = privacypass.Token(
        nonce=bytes(32),
        challenge_digest=privacypass.challenge_digest(challenge),
        token_key_id=key_id,
        authenticator=bytes(range(256)),
    )
    request = privacypass.TokenRequest(
        truncated_token_key_id=privacypass.truncated_token_key_id(key_id),
        blinded_msg=bytes(reversed(range(256))),
    )
    directory = privacypass.build_directory(
        "https://issuer.fuzz.example/v1/privacy-pass/token-request",
        [privacypass.DirectoryKey(token_key=spki, not_before=NOW)],
    )
    www_authenticate = privacypass.format_www_authenticate([(challenge, spki)], max_age=60)
    return {
        "token-challenge": b"\x00" + challenge.encode(),
        "token-challenge-bare": b"\x00"
        + privacypass.TokenChallenge(issuer_name="issuer.fuzz.example").encode(),
        "token": b"\x01" + token.encode(),
        "token-request": b"\x02" + request.encode(),
        "token-response": b"\x03" + privacypass.TokenResponse(blind_sig=bytes(256)).encode(),
        "token-key": b"\x04" + spki,
        "directory": b"\x05" + directory,
        "www-authenticate": b"\x06" + www_authenticate.encode(),
        "www-authenticate-several": b"\x06"
        + (
            'Basic realm="x", PrivateToken challenge="AAIAAA==", token-key=abc, ' + www_authenticate
        ).encode(),
        "authorization": b"\x07" + privacypass.format_authorization(token).encode(),
    }


def note_seeds() -> dict[str, bytes]:
    signer = note.Signer(LOG_ORIGIN, LOG_KEY)
    witness = note.Signer("witness.fuzz.example", WITNESS_KEY)
    text = "fuzz.example/log\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    return {
        "signed-note": b"\x00" + note.sign(text, signer),
        "cosigned-note": b"\x00" + note.sign(text, signer, witness),
        "note-with-blank-lines": b"\x00" + note.sign("a\n\nb\n", signer),
        "text": b"\x01" + text.encode(),
        "text-unicode": b"\x01" + "h\u00e9llo \u2014 world\n".encode(),
        "vkey": b"\x02" + signer.verifier.vkey.encode(),
    }


def checkpoint_seeds() -> dict[str, bytes]:
    signer = note.Signer(LOG_ORIGIN, LOG_KEY)
    plain = checkpoint.Checkpoint(LOG_ORIGIN, 12345, hashlib.sha256(b"root").digest())
    extended = checkpoint.Checkpoint(
        LOG_ORIGIN, (1 << 64) - 1, hashlib.sha256(b"big").digest(), ("ext one", "ext two")
    )
    return {
        "text": b"\x00" + plain.encode().encode(),
        "text-extensions": b"\x00" + extended.encode().encode(),
        "signed": b"\x01" + plain.sign(signer),
        "signed-extensions": b"\x01" + extended.sign(signer),
        "to-sign": b"\x02" + plain.encode().encode(),
        "to-sign-empty-tree": b"\x02"
        + checkpoint.Checkpoint(LOG_ORIGIN, 0, hashlib.sha256(b"").digest()).encode().encode(),
    }


def tiles_seeds() -> dict[str, bytes]:
    hashes = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    entries = [strictjson.canonical({"n": i}) for i in range(3)]
    width_5 = 4  # reader 0 with data[0] // 4 * 4 + 1 == 5
    return {
        "tile-path": b"\x00" + tiles.tile_path(0, 1234067).encode(),
        "tile-path-partial": b"\x00" + tiles.tile_path(2, 5, 17).encode(),
        "entries-path": b"\x01" + tiles.entry_bundle_path(1234).encode(),
        "entries-path-partial": b"\x01" + tiles.entry_bundle_path(0, 3).encode(),
        "hash-tile-partial": bytes([width_5 + 2]) + tiles.encode_hash_tile(hashes),
        "hash-tile-full": b"\x02" + tiles.encode_hash_tile(hashes * 51 + hashes[:1]),
        "entry-bundle": b"\x03" + tiles.encode_entry_bundle(entries),
        "entry-bundle-width": bytes([8 + 3]) + tiles.encode_entry_bundle(entries * 3),
    }


SEEDS = {
    "strictjson": strictjson_seeds,
    "jose": jose_seeds,
    "sdjwt": sdjwt_seeds,
    "attestation": attestation_seeds,
    "privacypass": privacypass_seeds,
    "note": note_seeds,
    "checkpoint": checkpoint_seeds,
    "tiles": tiles_seeds,
}


def main() -> None:
    """Write every parser's seeds."""
    for parser, seeds in SEEDS.items():
        _write(parser, seeds())
        print(f"{parser}: {len(list((CORPUS_DIR / parser).iterdir()))} seeds")


if __name__ == "__main__":
    main()
