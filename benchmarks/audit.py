"""Benchmark: ``ageverify audit`` of a transparency log of 1,000,000 key events.

Run with ``python -m benchmarks.audit [--entries N]``. The log is built in
memory from the building blocks the issuer uses (``events``, ``MerkleTree``,
``tiles``, a signed ``Checkpoint``) and served from a dict of URL to bytes,
with a discovery document, a JWKS and a Privacy Pass directory that are
consistent with it, so that the audit passes every check.

The entries are what a long-lived issuer accumulates: mostly verifier
events (registered with a P-256 key, keys added and removed, suspended,
resumed) of 84 to 334 bytes, admin tokens, and every 128 verifiers a
credential key and a token key published and retired. The keys served today
are real; the token keys of past epochs carry a real SPKI whose modulus is
random bytes (same size and same hashing for the auditor, which checks the
algorithm of live keys only), since generating a thousand RSA keys would
time the key generator rather than the audit.

Figures, each the median over ``--rounds`` runs:

- a full audit from scratch (no state: every tile and bundle fetched, the
  root recomputed from the entries, every event replayed);
- an incremental audit from the state saved by the full one, after 1,000
  more entries were appended (consistency proof from the tiles, then the
  same checks of the whole tree: the auditor keeps no entries between runs).

The floor is SHA-256 of every leaf (the entry bytes with their prefix) and of
every node (65 bytes) once, in a bare loop: what recomputing the root cannot
avoid. The time to build the log and the size of what it serves are printed
too, and the peak resident memory (Linux).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import os
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ageverify.formats import jose, privacypass
from ageverify.formats.strictjson import dumps
from ageverify.issuer import tokens
from ageverify.translog import events, tiles
from ageverify.translog.audit import AuditReport, AuditState, audit, log_origin
from ageverify.translog.checkpoint import Checkpoint
from ageverify.translog.merkle import MerkleTree
from ageverify.translog.note import Signer
from benchmarks.timing import median_seconds

ISSUER = "https://issuer.example"
ORIGIN = log_origin(ISSUER)
NOW = 1_800_000_000
DAY = 86_400
EPOCH = 7 * DAY
THRESHOLDS = (13, 16, 18)
APPENDED = 1_000


class ServedLog:
    """A log's tree, tiles, entry bundles and checkpoint, as URL -> body of a dict.

    Full tiles and bundles are stored once, when they fill, as an issuer
    writes them; partial ones and the checkpoint at each :meth:`publish`. Only
    the entries of the unfilled bundle are held besides what is served.
    """

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.tree = MerkleTree()
        self.documents: dict[str, bytes] = {}
        self.published = 0
        self._unbundled: list[bytes] = []
        self._log_url = ISSUER + "/log/"

    def append(self, entry: bytes) -> None:
        """Append ``entry``; store its bundle when it fills."""
        index = self.tree.append(entry)
        self._unbundled.append(entry)
        if len(self._unbundled) == tiles.TILE_WIDTH:
            path = tiles.entry_bundle_path(index // tiles.TILE_WIDTH)
            self.documents[self._log_url + path] = tiles.encode_entry_bundle(self._unbundled)
            self._unbundled = []

    def publish(self) -> None:
        """Serve the tiles the tree grew since the last call, the partial bundle, a checkpoint."""
        size = self.tree.size
        for tile in tiles.new_tiles(self.published, size):
            first = tile.index * tiles.TILE_WIDTH
            level = tiles.TILE_HEIGHT * tile.level
            hashes = [self.tree.hash_at(level, first + i) for i in range(tile.width)]
            self.documents[self._log_url + tile.path] = tiles.encode_hash_tile(hashes)
        if self._unbundled:
            path = tiles.entry_bundle_path(size // tiles.TILE_WIDTH, len(self._unbundled))
            self.documents[self._log_url + path] = tiles.encode_entry_bundle(self._unbundled)
        checkpoint = Checkpoint(ORIGIN, size, self.tree.root())
        self.documents[self._log_url + "checkpoint"] = checkpoint.sign(self.signer)
        self.published = size

    def fetch(self, url: str) -> bytes:
        """The auditor's ``fetch``: the body served at ``url``, or ``OSError`` (a 404)."""
        try:
            return self.documents[url]
        except KeyError:
            raise OSError(f"404 {url}") from None

    def served_bytes(self) -> int:
        """The bytes of every body served."""
        return sum(len(body) for body in self.documents.values())


class History:
    """The events of an issuer's life, endlessly: see the module docstring for the mix.

    ``live()`` are the events of the keys served today, logged first.
    """

    def __init__(self) -> None:
        # Verifiers register keys of their own; a pool of real P-256 keys,
        # distinct within each verifier, keeps building fast.
        self.verifier_jwks = [_verifier_jwk() for _ in range(256)]
        self.served_jwks: list[dict[str, Any]] = []
        self.served_token_keys: list[bytes] = []
        self.thresholds: dict[str, int] = {}
        self._past_spki = privacypass.encode_pss_spki(tokens.generate_token_key().public_key())

    def live(self) -> Iterator[dict[str, Any]]:
        """Three credential keys and two token keys per threshold, served today."""
        for number in range(3):
            jwk = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
            kid = jose.thumbprint(jwk)
            start = NOW - DAY + (number - 1) * EPOCH
            yield events.credential_key_published(
                kid=kid,
                jwk=jwk,
                epoch_start=start,
                epoch_end=start + EPOCH,
                verify_until=start + EPOCH + 90 * DAY,
                time=NOW - 2 * EPOCH,
            )
            self.served_jwks.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        truncated: set[int] = set()
        for threshold in THRESHOLDS:
            for number in range(2):
                spki = _token_key(truncated)
                key_id = jose.b64url_encode(hashlib.sha256(spki).digest())
                yield events.token_key_published(
                    token_key_id=key_id,
                    token_key=jose.b64url_encode(spki),
                    threshold=threshold,
                    not_before=NOW - DAY + number * EPOCH,
                    not_after=NOW - DAY + (number + 1) * EPOCH,
                    time=NOW - 2 * EPOCH,
                )
                self.served_token_keys.append(spki)
                self.thresholds[key_id] = threshold

    def past(self) -> Iterator[dict[str, Any]]:
        """Verifier life cycles, eight entries each, with a past key rotation every 128."""
        pool = self.verifier_jwks
        verifier = 0
        while True:
            vid = f"verifier-{verifier:07d}"
            keys = [pool[(4 * verifier + j) % len(pool)] for j in range(4)]
            when = NOW - 400 * DAY + verifier
            yield events.verifier_registered(
                verifier_id=vid,
                name=f"Verifier {verifier} Ltd",
                methods=["bank", "id_document"],
                keys=[keys[0]],
                time=when,
            )
            yield events.verifier_key_added(verifier_id=vid, jwk=keys[1], time=when)
            yield events.verifier_key_added(verifier_id=vid, jwk=keys[2], time=when)
            yield events.verifier_key_removed(verifier_id=vid, kid=keys[0]["kid"], time=when)
            yield events.verifier_suspended(verifier_id=vid, time=when)
            yield events.verifier_resumed(verifier_id=vid, time=when)
            yield events.verifier_key_added(verifier_id=vid, jwk=keys[3], time=when)
            yield events.admin_token_created(
                token_id=f"tok_{verifier:012d}", name="onboarding", time=when
            )
            if verifier % 128 == 0:
                yield from self._past_rotation(verifier, when)
            verifier += 1

    def _past_rotation(self, number: int, when: int) -> Iterator[dict[str, Any]]:
        """A credential key and a token key of a past epoch, published then retired."""
        jwk = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
        kid = jose.thumbprint(jwk)
        yield events.credential_key_published(
            kid=kid,
            jwk=jwk,
            epoch_start=when,
            epoch_end=when + EPOCH,
            verify_until=when + EPOCH + 90 * DAY,
            time=when,
        )
        yield events.credential_key_retired(kid=kid, time=when + EPOCH)
        # The SPKI's modulus (256 bytes before the 5-byte exponent) replaced by
        # random bytes: a distinct key id, the size and hashing of a real key.
        spki = self._past_spki[:-261] + os.urandom(256) + self._past_spki[-5:]
        key_id = jose.b64url_encode(hashlib.sha256(spki).digest())
        yield events.token_key_published(
            token_key_id=key_id,
            token_key=jose.b64url_encode(spki),
            threshold=THRESHOLDS[number % len(THRESHOLDS)],
            not_before=when,
            not_after=when + EPOCH,
            time=when,
        )
        yield events.token_key_retired(token_key_id=key_id, time=when + EPOCH)

    def documents(self, vkey: str) -> dict[str, bytes]:
        """The discovery document, the JWKS and the Privacy Pass directory."""
        return {
            ISSUER + "/.well-known/age-verification": dumps(
                {
                    "issuer": ISSUER,
                    "privacy_pass": {
                        "token_keys": {
                            key_id: {"threshold": threshold, "not_before": NOW - DAY}
                            for key_id, threshold in self.thresholds.items()
                        }
                    },
                    "log": {"origin": ORIGIN, "vkey": vkey, "url": ISSUER + "/log/"},
                }
            ),
            ISSUER + "/.well-known/jwks.json": dumps({"keys": self.served_jwks}),
            ISSUER + privacypass.DIRECTORY_PATH: privacypass.build_directory(
                ISSUER + "/v1/privacy-pass/token-request",
                [privacypass.DirectoryKey(token_key=spki) for spki in self.served_token_keys],
            ),
        }


def _token_key(truncated: set[int]) -> bytes:
    """A fresh token key's SPKI whose truncated id (last byte) is not in ``truncated``.

    Live token keys must have distinct truncated ids (the audit policy); six
    random keys would clash one time in sixteen.
    """
    while True:
        spki = privacypass.encode_pss_spki(tokens.generate_token_key().public_key())
        last = hashlib.sha256(spki).digest()[-1]
        if last not in truncated:
            truncated.add(last)
            return spki


def _verifier_jwk() -> dict[str, Any]:
    """A verifier's P-256 key as the registry logs it: the public JWK with its kid."""
    jwk = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
    return {**jwk, "kid": jose.thumbprint(jwk)}


def main() -> None:
    """Build the log, time the audits and the floor, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the log")
    parser.add_argument("--rounds", type=int, default=3, help="audits timed per figure")
    args = parser.parse_args()
    entries: int = args.entries

    started = time.perf_counter()
    signer = Signer(ORIGIN, Ed25519PrivateKey.generate())
    log = ServedLog(signer)
    history = History()
    past = history.past()
    leaves: list[bytes] = []  # kept for the floor only, then dropped
    first = [events.log_key(signer.verifier.vkey, NOW - 500 * DAY)]
    # islice stops without drawing one more from ``past``: the appended
    # entries continue the history where the log left it.
    for logged in itertools.islice(itertools.chain(first, history.live(), past), entries):
        entry = events.encode(logged)
        leaves.append(entry)
        log.append(entry)
    log.publish()
    log.documents.update(history.documents(signer.verifier.vkey))
    build_seconds = time.perf_counter() - started
    size = log.tree.size

    floor_seconds = median_seconds(functools.partial(_hash_everything, leaves), number=1, rounds=3)
    average_entry = sum(len(entry) for entry in leaves) / size
    del leaves

    full: list[AuditReport] = []
    full_seconds = median_seconds(
        lambda: full.append(_audited(log.fetch)), number=1, rounds=args.rounds
    )
    state = full[-1].state
    assert state is not None
    full.clear()

    for _ in range(APPENDED):
        log.append(events.encode(next(past)))
    log.publish()
    incremental_seconds = median_seconds(
        lambda: _audited(log.fetch, state), number=1, rounds=args.rounds
    )

    grown = size + APPENDED
    print(
        f"log: {size:,} entries (average {average_entry:.0f} bytes), "
        f"{log.served_bytes() / 2**20:.0f} MiB served, built in {build_seconds:.1f} s"
    )
    print(f"{'figure':<58} {'seconds':>9} {'entries/s':>11}")
    print(_row(f"full audit from scratch at {size:,}", full_seconds, size))
    print(
        _row(
            f"incremental audit {size:,} -> {grown:,} from saved state",
            incremental_seconds,
            grown,
        )
    )
    print(_row(f"floor: SHA-256 of {size:,} leaves and {size - 1:,} nodes", floor_seconds, size))
    print(
        f"full audit / floor: {full_seconds / floor_seconds:.1f}; "
        f"incremental / full: {incremental_seconds / full_seconds:.2f}"
    )
    # ru_maxrss is in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"peak resident memory: {peak:.0f} MiB")


def _audited(fetch: Callable[[str], bytes], state: AuditState | None = None) -> AuditReport:
    """An audit of the benchmark issuer; a failed check stops the benchmark."""
    report = audit(fetch, issuer_url=ISSUER, state=state, now=NOW)
    if not report.passed:
        raise SystemExit(report.render())
    return report


def _hash_everything(leaves: list[bytes]) -> bytes:
    """SHA-256 of every leaf and of as many 65-byte nodes as the tree has, in bare loops."""
    sha256 = hashlib.sha256
    digest = bytes(32)
    for entry in leaves:
        digest = sha256(b"\x00" + entry).digest()
    prefix = b"\x01" + bytes(32)
    for _ in range(len(leaves) - 1):
        digest = sha256(prefix + digest).digest()
    return digest


def _row(name: str, seconds: float, entries: int) -> str:
    return f"{name:<58} {seconds:>9.2f} {entries / seconds:>11,.0f}"


if __name__ == "__main__":
    main()
