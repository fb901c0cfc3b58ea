"""The auditor against logs built here from the building blocks, honest and attacked.

:class:`FakeIssuer` keeps a Merkle tree of canonical JSON events, signs
checkpoints with a note signer and serves tlog-tiles resources, the discovery
document, the JWKS and the Privacy Pass directory from a dict of URL to
bytes; each attack edits what it serves and must fail its own named check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from presenting import MovableClock

from ageverify import cli as cli_module
from ageverify.cli import cli
from ageverify.formats import jose, privacypass
from ageverify.formats.strictjson import canonical, dumps
from ageverify.issuer import tokens
from ageverify.translog import tiles
from ageverify.translog.audit import (
    CHECK_NAMES,
    AuditPolicy,
    AuditReport,
    AuditState,
    audit,
)
from ageverify.translog.checkpoint import Checkpoint
from ageverify.translog.merkle import MerkleTree
from ageverify.translog.note import Signer

ISSUER = "https://issuer.example"
ORIGIN = "issuer.example/log"
NOW = 1_800_000_000
DAY = 86_400
EPOCH = 7 * DAY
LIFETIME = 90 * DAY


def event(event_type: str, **members: Any) -> dict[str, Any]:
    return {"v": 1, "type": event_type, "time": NOW - 1000, **members}


def admin_token_created(token_id: str) -> dict[str, Any]:
    """An event that changes no key: what a log appends to grow."""
    return event("admin-token-created", **{"token_id": token_id, "name": "ops"})


class FakeIssuer:
    """An issuer's log and served documents, built from the translog building blocks."""

    def __init__(self, signer: Signer | None = None) -> None:
        self.signer = signer or Signer(ORIGIN, Ed25519PrivateKey.generate())
        self.tree = MerkleTree()
        self.entries: list[bytes] = []
        self.jwks: list[dict[str, Any]] = []
        self.token_keys: list[bytes] = []  # SPKI DER, served in the directory
        self.thresholds: dict[str, int] = {}  # token key id -> age, as discovery announces
        self.truncated_ids: set[int] = set()
        self.log(event("log-key", vkey=self.signer.verifier.vkey))

    @property
    def vkey(self) -> str:
        return self.signer.verifier.vkey

    def log(self, logged: dict[str, Any]) -> int:
        entry = canonical(logged)
        self.entries.append(entry)
        return self.tree.append(entry)

    def publish_credential_key(
        self, *, epoch_start: int = NOW - DAY, lifetime: int = LIFETIME, served: bool = True
    ) -> str:
        jwk = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
        kid = jose.thumbprint(jwk)
        self.log(
            event(
                "credential-key-published",
                kid=kid,
                jwk=jwk,
                alg="ES256",
                epoch_start=epoch_start,
                epoch_end=epoch_start + EPOCH,
                verify_until=epoch_start + EPOCH + lifetime,
            )
        )
        if served:
            self.serve_credential_key(jwk)
        return kid

    def serve_credential_key(self, jwk: dict[str, str]) -> None:
        self.jwks.append({**jwk, "kid": jose.thumbprint(jwk), "alg": "ES256", "use": "sig"})

    def publish_token_key(self, threshold: int = 18, *, served: bool = True) -> str:
        # Truncated ids are one byte: draw until this key's differs from every
        # published one, as the issuer does, so that only the test that wants
        # a clash gets one.
        while True:
            spki = privacypass.encode_pss_spki(tokens.generate_token_key().public_key())
            raw_id = privacypass.token_key_id(privacypass.decode_pss_spki(spki))
            if raw_id[-1] not in self.truncated_ids:
                break
        self.truncated_ids.add(raw_id[-1])
        key_id = jose.b64url_encode(raw_id)
        self.log(
            event(
                "token-key-published",
                token_key_id=key_id,
                token_key=jose.b64url_encode(spki),
                threshold=threshold,
                not_before=NOW - DAY,
                not_after=NOW - DAY + EPOCH,
            )
        )
        if served:
            self.token_keys.append(spki)
            self.thresholds[key_id] = threshold
        return key_id

    def register_verifier(self, verifier_id: str = "bank-a", **members: Any) -> None:
        jwk = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
        defaults = {"name": "Bank A", "methods": ["bank"], "keys": [jwk]}
        self.log(event("verifier-registered", verifier_id=verifier_id, **{**defaults, **members}))

    def checkpoint(self, size: int | None = None, origin: str = ORIGIN) -> bytes:
        size = self.tree.size if size is None else size
        return Checkpoint(origin, size, self.tree.root(size)).sign(self.signer)

    def served(self, size: int | None = None) -> dict[str, bytes]:
        """URL -> body of everything the issuer serves at tree ``size`` (default: all)."""
        size = self.tree.size if size is None else size
        log = ISSUER + "/log/"
        documents = {
            ISSUER + "/.well-known/age-verification": dumps(
                {
                    "issuer": ISSUER,
                    "privacy_pass": {
                        "token_keys": {
                            key_id: {"threshold": threshold, "not_before": NOW - DAY}
                            for key_id, threshold in self.thresholds.items()
                        }
                    },
                    "log": {"origin": ORIGIN, "vkey": self.vkey, "url": log},
                }
            ),
            ISSUER + "/.well-known/jwks.json": dumps({"keys": self.jwks}),
            log + "checkpoint": self.checkpoint(size),
        }
        if self.token_keys:
            documents[ISSUER + privacypass.DIRECTORY_PATH] = privacypass.build_directory(
                ISSUER + "/v1/privacy-pass/token-request",
                [privacypass.DirectoryKey(token_key=spki) for spki in self.token_keys],
            )
        for tile in tiles.tiles_for_size(size):
            first = tile.index * tiles.TILE_WIDTH
            hashes = [self.tree.hash_at(8 * tile.level, first + i) for i in range(tile.width)]
            documents[log + tile.path] = tiles.encode_hash_tile(hashes)
            if tile.level == 0:
                bundle = self.entries[first : first + tile.width]
                documents[log + tiles.entry_bundle_path(tile.index, tile.width)] = (
                    tiles.encode_entry_bundle(bundle)
                )
        return documents


def fetcher(documents: dict[str, bytes]) -> Callable[[str], bytes]:
    def fetch(url: str) -> bytes:
        try:
            return documents[url]
        except KeyError:
            raise OSError(f"404 {url}") from None

    return fetch


def run(documents: dict[str, bytes], **options: Any) -> AuditReport:
    options.setdefault("now", NOW)
    return audit(fetcher(documents), issuer_url=ISSUER, **options)


def failed(report: AuditReport) -> list[str]:
    return [check.name for check in report.failures]


@pytest.fixture
def issuer() -> FakeIssuer:
    """A small honest log: two credential keys, a token key, a verifier, an admin token."""
    fake = FakeIssuer()
    fake.publish_credential_key()
    fake.publish_credential_key(epoch_start=NOW - DAY + EPOCH)
    fake.publish_token_key(18)
    fake.register_verifier()
    fake.log(admin_token_created("t1"))
    return fake


# --- A clean audit ---------------------------------------------------------------


def test_clean_audit_passes_every_check_and_trusts_the_key_on_first_use(
    issuer: FakeIssuer,
) -> None:
    report = run(issuer.served())

    assert report.passed, report.render()
    assert report.vkey_source == "discovery"
    assert report.vkey == issuer.vkey
    assert report.size == issuer.tree.size
    assert report.state == AuditState(ORIGIN, issuer.vkey, issuer.tree.size, issuer.tree.root())
    assert [v.verifier_id for v in report.verifiers] == ["bank-a"]
    assert len(report.credential_keys) == 2 and len(report.token_keys) == 1
    assert {check.name for check in report.checks} <= set(CHECK_NAMES)
    assert "trusted on first use" in report.render()


def test_a_second_audit_proves_consistency_across_tile_boundaries(issuer: FakeIssuer) -> None:
    first = run(issuer.served(), vkey=issuer.vkey)
    assert first.passed and first.vkey_source == "pinned"
    for number in range(300):  # crosses a full level-0 tile: level-1 tiles appear
        issuer.log(admin_token_created(f"x{number}"))
    seen: list[tuple[int, int]] = []

    second = run(issuer.served(), state=first.state, progress=lambda *p: seen.append(p))

    assert second.passed, second.render()
    assert second.vkey_source == "state"
    assert second.check("history-consistent").passed  # type: ignore[union-attr]
    assert second.state is not None and second.state.size == issuer.tree.size == 306
    total = len(tiles.tiles_for_size(306)) + 2
    assert seen[-1] == (total, total)


def test_report_renders_as_a_table_and_as_json(issuer: FakeIssuer) -> None:
    report = run(issuer.served())

    text = report.render()
    assert "check" in text and "checkpoint-signature" in text and text.endswith("PASSED\n")
    assert "bank-a" in text and "Bank A" in text
    document = json.loads(report.to_json())
    assert document["passed"] is True
    assert document["verifiers"][0]["methods"] == ["bank"]
    assert {c["name"] for c in document["checks"]} >= {"root-matches-entries", "events-valid"}


def test_state_file_round_trips(issuer: FakeIssuer) -> None:
    state = run(issuer.served()).state
    assert state is not None
    assert AuditState.from_json(state.to_json()) == state
    assert set(json.loads(state.to_json())) == {"origin", "vkey", "size", "root"}
    with pytest.raises(ValueError):
        AuditState.from_json('{"origin": "x"}')


# --- Attacks: each caught by its own check ----------------------------------------


def test_rewritten_history_another_root_for_an_old_size(issuer: FakeIssuer) -> None:
    seen = run(issuer.served()).state
    # The log rebuilds its tree without the second credential key and grows it.
    rewritten = FakeIssuer(issuer.signer)
    for index, entry in enumerate(issuer.entries[1:], 1):
        if index == 2:
            continue
        rewritten.entries.append(entry)
        rewritten.tree.append(entry)
    rewritten.jwks = issuer.jwks[:1]
    rewritten.token_keys = issuer.token_keys
    rewritten.log(admin_token_created("t2"))
    rewritten.log(admin_token_created("t3"))

    report = run(rewritten.served(), state=seen)

    assert failed(report) == ["history-consistent"]
    assert "rewritten history" in report.failures[0].message
    assert report.state == seen  # never moves to an unverified tree


def test_forked_view_shown_to_a_second_auditor(issuer: FakeIssuer) -> None:
    # Auditor A sees the revocation of a key; auditor B is shown a tree of the
    # same size where the key is still live and served.
    honest = FakeIssuer(issuer.signer)
    forked = FakeIssuer(issuer.signer)
    for entry in issuer.entries[1:]:
        for fake in (honest, forked):
            fake.entries.append(entry)
            fake.tree.append(entry)
    kid = jose.thumbprint(issuer.jwks[0])
    honest.log(event("credential-key-revoked", kid=kid))
    honest.jwks = issuer.jwks[1:]
    forked.log(admin_token_created("t9"))
    forked.jwks = issuer.jwks
    for fake in (honest, forked):
        fake.token_keys = issuer.token_keys
    auditor_a = run(honest.served())
    auditor_b = run(forked.served())
    assert auditor_a.passed and auditor_b.passed  # each view is consistent on its own

    # Auditors compare notes: B audits with the state A recorded.
    report = run(forked.served(), state=auditor_a.state)

    assert failed(report) == ["view-consistent"]
    assert "forked view" in report.failures[0].message


def test_key_served_but_never_logged(issuer: FakeIssuer) -> None:
    issuer.serve_credential_key(jose.public_jwk(ec.generate_private_key(ec.SECP256R1())))

    report = run(issuer.served())

    assert failed(report) == ["served-keys-logged"]
    assert "served but never logged" in report.failures[0].message


def test_token_key_served_but_never_logged(issuer: FakeIssuer) -> None:
    issuer.publish_token_key(21, served=False)
    unlogged = privacypass.encode_pss_spki(tokens.generate_token_key().public_key())
    issuer.token_keys.append(unlogged)

    report = run(issuer.served())

    assert failed(report) == ["served-keys-logged"]
    assert "token key" in report.failures[0].message


def test_token_key_announced_for_another_threshold_than_logged(issuer: FakeIssuer) -> None:
    key_id = next(iter(issuer.thresholds))
    issuer.thresholds[key_id] = 13

    report = run(issuer.served())

    assert failed(report) == ["served-keys-logged"]
    assert "announced for age 13, logged for 18" in report.failures[0].message


def test_served_key_material_must_match_the_logged_key(issuer: FakeIssuer) -> None:
    other = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
    issuer.jwks[0] = {**issuer.jwks[0], "x": other["x"], "y": other["y"]}

    assert failed(run(issuer.served())) == ["served-keys-logged"]


def test_revoked_key_still_served(issuer: FakeIssuer) -> None:
    issuer.log(event("credential-key-revoked", kid=issuer.jwks[0]["kid"]))

    report = run(issuer.served())

    assert failed(report) == ["revoked-keys-unserved"]
    assert "still served" in report.failures[0].message


def test_revoked_token_key_still_served(issuer: FakeIssuer) -> None:
    key_id = jose.b64url_encode(
        privacypass.DirectoryKey(token_key=issuer.token_keys[0]).token_key_id
    )
    issuer.log(event("token-key-revoked", token_key_id=key_id))

    assert failed(run(issuer.served())) == ["revoked-keys-unserved"]


def test_truncated_tile(issuer: FakeIssuer) -> None:
    documents = issuer.served()
    path = ISSUER + "/log/" + tiles.tile_path(0, 0, issuer.tree.size)
    documents[path] = documents[path][:-1]

    report = run(documents)

    assert failed(report) == ["tiles-well-formed"]
    assert "truncated" in report.failures[0].message


def test_bad_signature(issuer: FakeIssuer) -> None:
    impostor = Signer(ORIGIN, Ed25519PrivateKey.generate())
    documents = issuer.served()
    documents[ISSUER + "/log/checkpoint"] = Checkpoint(
        ORIGIN, issuer.tree.size, issuer.tree.root()
    ).sign(impostor)

    report = run(documents, vkey=issuer.vkey)

    assert failed(report) == ["checkpoint-signature"]
    assert "bad checkpoint signature" in report.failures[0].message


def test_tampered_checkpoint_fails_its_signature(issuer: FakeIssuer) -> None:
    documents = issuer.served()
    signed = documents[ISSUER + "/log/checkpoint"]
    size = str(issuer.tree.size).encode()
    documents[ISSUER + "/log/checkpoint"] = signed.replace(
        b"\n" + size + b"\n", b"\n9" + size + b"\n"
    )

    assert failed(run(documents)) == ["checkpoint-signature"]


def test_checkpoint_of_another_origin(issuer: FakeIssuer) -> None:
    documents = issuer.served()
    documents[ISSUER + "/log/checkpoint"] = issuer.checkpoint(origin="other.example/log")

    report = run(documents)

    assert failed(report) == ["checkpoint-origin"]
    assert "another origin" in report.failures[0].message


def test_checkpoint_of_a_huge_size_fails_before_any_tile_is_fetched(issuer: FakeIssuer) -> None:
    # A log key in hostile hands signs any size: 2**40 entries would be some
    # four billion tiles to list and fetch.
    documents = issuer.served()
    documents[ISSUER + "/log/checkpoint"] = Checkpoint(ORIGIN, 2**40, bytes(32)).sign(issuer.signer)
    fetched: list[str] = []
    fetch = fetcher(documents)

    def counting_fetch(url: str) -> bytes:
        fetched.append(url)
        return fetch(url)

    report = audit(counting_fetch, issuer_url=ISSUER, vkey=issuer.vkey, now=NOW)

    assert failed(report) == ["checkpoint-size"]
    assert "1,099,511,627,776 entries" in report.failures[0].message
    assert "max_log_size" in report.failures[0].message
    assert not [url for url in fetched if "/tile/" in url]
    assert report.state is None  # nothing verified, nothing to remember


def test_max_log_size_is_a_policy_setting(issuer: FakeIssuer) -> None:
    size = issuer.tree.size

    assert run(issuer.served(), policy=AuditPolicy(max_log_size=size)).passed
    report = run(issuer.served(), policy=AuditPolicy(max_log_size=size - 1))
    assert failed(report) == ["checkpoint-size"]


# --- Other failures -------------------------------------------------------------------


def test_log_key_other_than_the_pinned_one(issuer: FakeIssuer) -> None:
    pinned = Signer(ORIGIN, Ed25519PrivateKey.generate()).verifier.vkey

    assert failed(run(issuer.served(), vkey=pinned)) == ["log-key"]


def test_rolled_back_log(issuer: FakeIssuer) -> None:
    seen = run(issuer.served()).state

    assert failed(run(issuer.served(size=3), state=seen)) == ["size-monotonic"]


def test_tiles_that_do_not_give_the_root(issuer: FakeIssuer) -> None:
    documents = issuer.served()
    path = ISSUER + "/log/" + tiles.tile_path(0, 0, issuer.tree.size)
    documents[path] = bytes(32) + documents[path][32:]

    assert failed(run(documents)) == ["tiles-match-checkpoint"]


def test_entries_that_do_not_hash_to_the_root(issuer: FakeIssuer) -> None:
    documents = issuer.served()
    path = ISSUER + "/log/" + tiles.entry_bundle_path(0, issuer.tree.size)
    forged = list(issuer.entries)
    forged[-1] = canonical(admin_token_created("forged"))
    documents[path] = tiles.encode_entry_bundle(forged)

    assert failed(run(documents)) == ["root-matches-entries"]


def test_tile_hash_the_root_does_not_read_must_still_match_the_entries(
    issuer: FakeIssuer,
) -> None:
    for number in range(300):
        issuer.log(admin_token_created(f"x{number}"))
    documents = issuer.served()
    # The root of 306 entries reads the level-1 hash of the first 256, not the
    # level-0 tile below it: only recomputing from the entries catches this.
    path = ISSUER + "/log/" + tiles.tile_path(0, 0)
    documents[path] = bytes(32) + documents[path][32:]

    report = run(documents)

    assert failed(report) == ["root-matches-entries"]
    assert "level-0 tiles differ" in report.failures[0].message


def test_missing_entry_bundle(issuer: FakeIssuer) -> None:
    documents = issuer.served()
    del documents[ISSUER + "/log/" + tiles.entry_bundle_path(0, issuer.tree.size)]

    assert failed(run(documents)) == ["entries-well-formed"]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (b'{"type":"admin-token-created","v":1, "time":1,"token_id":"a","name":"b"}', "canonical"),
        (canonical(event("key-exported", kid="k")), "unknown event type"),
        (canonical(event("credential-key-revoked", kid="never-published")), "not live"),
        (canonical({"type": "admin-token-created", "v": 2, "time": 1}), "version"),
    ],
    ids=["not-canonical", "unknown-type", "revoking-an-unknown-key", "wrong-version"],
)
def test_invalid_events(issuer: FakeIssuer, entry: bytes, why: str) -> None:
    issuer.entries.append(entry)
    issuer.tree.append(entry)

    report = run(issuer.served())

    assert failed(report) == ["events-valid"]
    assert why in report.failures[0].message


def test_empty_log() -> None:
    fake = FakeIssuer()

    assert failed(run(fake.served(size=0))) == ["events-valid"]


def test_hostile_json_types_in_events_are_refused_not_raised(issuer: FakeIssuer) -> None:
    hostile = canonical({"v": 1, "type": ["log-key"], "time": 1})
    issuer.entries.append(hostile)
    issuer.tree.append(hostile)

    assert failed(run(issuer.served())) == ["events-valid"]


def test_entry_zero_must_be_the_log_key() -> None:
    fake = FakeIssuer()
    fake.entries[0] = canonical(event("log-key", vkey="someone-else"))
    fake.tree = MerkleTree()
    fake.tree.append(fake.entries[0])

    assert failed(run(fake.served())) == ["events-valid"]


# --- Policy -----------------------------------------------------------------------------


def test_credential_key_lifetime_over_the_maximum(issuer: FakeIssuer) -> None:
    issuer.publish_credential_key(lifetime=500 * DAY)

    report = run(issuer.served())

    assert failed(report) == ["policy-key-lifetime"]
    assert run(issuer.served(), policy=AuditPolicy(max_credential_key_lifetime=600 * DAY)).passed


def test_too_many_live_token_keys_for_one_threshold(issuer: FakeIssuer) -> None:
    for _ in range(2):
        issuer.publish_token_key(18)

    assert run(issuer.served()).passed
    report = run(issuer.served(), policy=AuditPolicy(max_token_keys_per_threshold=2))
    assert failed(report) == ["policy-token-keys-per-threshold"]
    assert "partitioned" in report.failures[0].message


def test_credential_key_of_another_algorithm(issuer: FakeIssuer) -> None:
    jwk = jose.public_jwk(Ed25519PrivateKey.generate())
    issuer.log(
        event(
            "credential-key-published",
            kid=jose.thumbprint(jwk),
            jwk=jwk,
            alg="EdDSA",
            epoch_start=NOW,
            epoch_end=NOW + EPOCH,
            verify_until=NOW + EPOCH + LIFETIME,
        )
    )

    assert failed(run(issuer.served())) == ["policy-algorithms"]


def test_live_token_keys_sharing_a_truncated_id(issuer: FakeIssuer) -> None:
    # Draw keys until two share the last byte of their id: a birthday search,
    # some 20 keys on average, drawn from the test pool of token keys.
    seen: dict[int, bytes] = {}
    for _ in range(100):
        spki = privacypass.encode_pss_spki(tokens.generate_token_key().public_key())
        last = privacypass.DirectoryKey(token_key=spki).token_key_id[-1]
        if last in seen and seen[last] != spki:
            break
        seen[last] = spki
    else:
        pytest.fail("no two of 100 keys share a truncated id")
    fake = FakeIssuer()
    for threshold, key in ((13, seen[last]), (21, spki)):
        fake.log(
            event(
                "token-key-published",
                token_key_id=jose.b64url_encode(
                    privacypass.DirectoryKey(token_key=key).token_key_id
                ),
                token_key=jose.b64url_encode(key),
                threshold=threshold,
                not_before=NOW - DAY,
                not_after=NOW - DAY + EPOCH,
            )
        )
        fake.token_keys.append(key)

    report = run(fake.served())

    assert failed(report) == ["policy-unique-truncated-ids"]


def test_suspended_verifiers_are_not_listed_as_accredited(issuer: FakeIssuer) -> None:
    issuer.register_verifier("id-check-b", name="ID Check B", methods=["id_document"])
    issuer.log(event("verifier-suspended", verifier_id="bank-a"))

    report = run(issuer.served())

    assert report.passed
    assert [v.verifier_id for v in report.verifiers] == ["id-check-b"]


# --- Command line ------------------------------------------------------------------------


@pytest.fixture
def served(issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    documents = issuer.served()
    monkeypatch.setattr(cli_module, "_http_fetch", fetcher(documents))
    return documents


def test_cli_audit_records_state_and_prints_a_table(
    issuer: FakeIssuer, served: dict[str, bytes], tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"

    result = CliRunner().invoke(cli, ["audit", ISSUER, "--state", str(state_file)])

    assert result.exit_code == 0, result.output
    assert "PASSED" in result.stdout
    assert "trusted on first use" in result.stderr
    saved = AuditState.from_json(state_file.read_text())
    assert saved.vkey == issuer.vkey and saved.size == issuer.tree.size

    again = CliRunner().invoke(cli, ["audit", ISSUER, "--state", str(state_file), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["vkey_source"] == "state"


def test_cli_audit_refuses_a_relative_issuer_url() -> None:
    result = CliRunner().invoke(cli, ["audit", "issuer.example"])

    assert result.exit_code == 2
    assert "ISSUER_URL" in result.output


def test_cli_audit_exits_non_zero_naming_the_failed_check(
    issuer: FakeIssuer, served: dict[str, bytes]
) -> None:
    served[ISSUER + "/log/checkpoint"] = issuer.checkpoint(origin="other.example/log")

    result = CliRunner().invoke(cli, ["audit", ISSUER, "--vkey", issuer.vkey])

    assert result.exit_code != 0
    assert "audit failed: checkpoint-origin" in result.stderr


# --- The issuer's own log ------------------------------------------------------------------


def test_audit_of_the_issuer_app_through_its_test_client(
    app: Flask, client: FlaskClient, clock: MovableClock
) -> None:
    state = app.extensions["ageverify"]

    def fetch(url: str) -> bytes:
        response = client.get(urlsplit(url).path)
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        return bytes(response.get_data())

    first = audit(fetch, issuer_url=state.settings.issuer_url, now=clock())
    assert first.passed, first.render()
    assert [v.verifier_id for v in first.verifiers] == ["demo-verifier"]
    revoked = first.token_keys[0].token_key_id
    state.token_keys.revoke(revoked)

    second = audit(fetch, issuer_url=state.settings.issuer_url, state=first.state, now=clock())

    assert second.passed, second.render()
    assert second.check("history-consistent").passed  # type: ignore[union-attr]
    assert second.size is not None and first.size is not None and second.size > first.size
    assert revoked not in {key.token_key_id for key in second.token_keys}
