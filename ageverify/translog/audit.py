"""The auditor: check an issuer's transparency log and the keys it serves against it.

:func:`audit` reads an issuer over an injected ``fetch(url) -> bytes`` and
returns an :class:`AuditReport`; it writes nothing and keeps no state of its
own. What it checks, in order, each as one named :class:`Check`:

1. the discovery document names the log (origin and verifier key);
2. the log key is the pinned one (``vkey``), or the one recorded in the
   previous state, or -- on first use, and the report says so -- the one the
   discovery document names;
3. the checkpoint is signed by that key, is for this issuer's origin, and
   claims no more entries than the policy's ``max_log_size`` (checked before
   a single tile is listed or fetched);
4. it is no older than, no fork of, and consistent with the last checkpoint
   this auditor saw (``state``), the consistency proof computed from the
   log's own hash tiles;
5. every tile and entry bundle of the tree is well formed, the entries hash
   to the signed root and to every tile;
6. every entry is a canonical JSON event of the contract, and replaying them
   gives the live credential keys, token keys and verifiers;
7. every key the JWKS and the Privacy Pass directory serve has a live
   published entry that matches it, and no revoked key is served;
8. the :class:`AuditPolicy`: algorithms and sizes, key lifetimes, live token
   keys per threshold, unique truncated token key ids.

Check names are stable (scripts branch on them) and only ever added to. A
failure of steps 1 to 5 stops the audit: nothing after it can be trusted.

The served documents are fetched before the checkpoint. A key is served only
once a signed checkpoint covers its entry, so every key in a JWKS fetched
earlier is covered by the checkpoint fetched later; the other order would
report a key published between the two fetches as never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ageverify.errors import AgeVerifyError
from ageverify.formats import jose, privacypass, strictjson
from ageverify.translog import merkle, tiles
from ageverify.translog.checkpoint import Checkpoint, open_checkpoint
from ageverify.translog.note import Verifier

__all__ = [
    "CHECK_NAMES",
    "AccreditedVerifier",
    "AuditPolicy",
    "AuditReport",
    "AuditState",
    "Check",
    "Fetch",
    "LiveCredentialKey",
    "LiveTokenKey",
    "audit",
    "log_origin",
]

Fetch = Callable[[str], bytes]
"""``fetch(url)``: the body of a successful GET of ``url``; raises on anything else."""

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as tiles and entry bundles are fetched."""

# --- Check names: stable, only ever added to. --------------------------------
CHECK_NAMES: dict[str, str] = {
    "discovery": "The discovery document names the log origin and verifier key.",
    "log-key": "The log key is the pinned one.",
    "checkpoint-signature": "The checkpoint is signed by the log key.",
    "checkpoint-origin": "The checkpoint is for this issuer's log.",
    "checkpoint-size": "The checkpoint's size is within the policy's maximum.",
    "size-monotonic": "The log is not smaller than when last audited.",
    "view-consistent": "The log shows one root for the size last audited (no forked view).",
    "history-consistent": "The log extends the tree last audited (no rewritten history).",
    "tiles-well-formed": "Every hash tile is served, with its exact size.",
    "tiles-match-checkpoint": "The hash tiles give the checkpoint's root.",
    "entries-well-formed": "Every entry bundle is served and well formed.",
    "root-matches-entries": "The entries hash to the checkpoint's root and to every tile.",
    "events-valid": "Every entry is a canonical JSON event that replays cleanly.",
    "served-documents": "The JWKS and the Privacy Pass directory are served and well formed.",
    "served-keys-logged": "Every served key has a matching live published entry.",
    "revoked-keys-unserved": "No revoked key is served.",
    "policy-algorithms": "Credential keys are ES256 on P-256, token keys RSA-2048 (type 2).",
    "policy-key-lifetime": "No credential key is valid longer than the policy's maximum.",
    "policy-token-keys-per-threshold": "At most K live token keys per age threshold.",
    "policy-unique-truncated-ids": "Live token keys have distinct truncated key ids.",
}
# ----------------------------------------------------------------------------

DISCOVERY_PATH = "/.well-known/age-verification"
JWKS_PATH = "/.well-known/jwks.json"
LOG_PATH = "/log/"


def log_origin(issuer_url: str) -> str:
    """The log origin of the issuer at ``issuer_url``: its ``host[:port]`` and ``/log``."""
    netloc = urlsplit(issuer_url).netloc
    if not netloc:
        raise ValueError(f"not an absolute URL: {issuer_url!r}")
    return netloc.rpartition("@")[2] + "/log"


@dataclass(frozen=True)
class AuditPolicy:
    """What the auditor accepts besides the log's integrity.

    ``max_credential_key_lifetime`` bounds ``verify_until - epoch_start`` of a
    credential key, in seconds (the issuer's defaults give 97 days).
    ``max_token_keys_per_threshold`` is K: more live token keys for one
    threshold would let the issuer tell people apart by the key they use (the
    issuer's defaults keep at most 4: this epoch's, two ahead, last epoch's).
    ``max_log_size`` is the largest checkpoint size audited: a signed
    checkpoint may claim up to 2**64 - 1 entries, and auditing it would mean
    listing and fetching some size / 255 tiles, so a larger claim fails
    ``checkpoint-size`` before any tile is fetched. The default, 2**32, is
    far beyond any key history.
    """

    max_credential_key_lifetime: int = 400 * 86_400
    max_token_keys_per_threshold: int = 4
    max_log_size: int = 2**32


@dataclass(frozen=True)
class AuditState:
    """What an auditor remembers between runs: the last checkpoint it verified.

    Saved as JSON ``{"origin", "vkey", "size", "root"}``, ``root`` in base64.
    """

    origin: str
    vkey: str
    size: int
    root: bytes

    def to_json(self) -> str:
        """The state file's text."""
        document = {
            "origin": self.origin,
            "vkey": self.vkey,
            "size": self.size,
            "root": base64.b64encode(self.root).decode("ascii"),
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditState:
        """Read a state file's text; anything malformed raises ``ValueError``."""
        try:
            document = json.loads(text)
            root = base64.b64decode(document["root"], validate=True)
            state = cls(document["origin"], document["vkey"], document["size"], root)
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise ValueError(f"not an audit state file: {error}") from None
        if (
            not isinstance(state.origin, str)
            or not isinstance(state.vkey, str)
            or type(state.size) is not int
            or state.size < 0
            or len(state.root) != merkle.HASH_SIZE
        ):
            raise ValueError("not an audit state file: wrong member types")
        return state


@dataclass(frozen=True)
class Check:
    """One check's outcome: its stable ``name``, whether it ``passed``, and a ``message``."""

    name: str
    passed: bool
    message: str


@dataclass(frozen=True)
class LiveCredentialKey:
    """A credential signing key the log says is live (published or retired, not revoked)."""

    kid: str
    status: str
    epoch_start: int
    epoch_end: int
    verify_until: int
    index: int


@dataclass(frozen=True)
class LiveTokenKey:
    """A Privacy Pass token key the log says is live (published or retired, not revoked)."""

    token_key_id: str
    threshold: int
    status: str
    not_before: int
    not_after: int
    index: int


@dataclass(frozen=True)
class AccreditedVerifier:
    """An active verifier in the log: id, name, accredited methods and key ids."""

    verifier_id: str
    name: str
    methods: tuple[str, ...]
    kids: tuple[str, ...]


@dataclass
class AuditReport:
    """The outcome of :func:`audit`.

    ``checks`` in the order run; ``vkey_source`` says where the log key came
    from (``pinned``, ``state``, or ``discovery`` on first use: then the key
    is trusted, not checked). ``state`` is the state to save for the next run:
    the verified checkpoint, or the previous state when the log could not be
    verified (it never moves to an unverified tree).
    """

    issuer_url: str
    origin: str
    vkey: str | None = None
    vkey_source: str | None = None
    size: int | None = None
    root: bytes | None = None
    checks: list[Check] = field(default_factory=list)
    credential_keys: list[LiveCredentialKey] = field(default_factory=list)
    token_keys: list[LiveTokenKey] = field(default_factory=list)
    verifiers: list[AccreditedVerifier] = field(default_factory=list)
    state: AuditState | None = None

    @property
    def passed(self) -> bool:
        """Whether every check ran passed (and at least one ran)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The failed checks, in the order run."""
        return [check for check in self.checks if not check.passed]

    def check(self, name: str) -> Check | None:
        """The check called ``name``, if it ran."""
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "issuer": self.issuer_url,
            "origin": self.origin,
            "vkey": self.vkey,
            "vkey_source": self.vkey_source,
            "size": self.size,
            "root": None if self.root is None else base64.b64encode(self.root).decode("ascii"),
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
            "credential_keys": [asdict(key) for key in self.credential_keys],
            "token_keys": [asdict(key) for key in self.token_keys],
            "verifiers": [
                {**asdict(v), "methods": list(v.methods), "kids": list(v.kids)}
                for v in self.verifiers
            ],
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def render(self) -> str:
        """The report as readable text: a summary, then tables of checks, keys and verifiers."""
        root = "-" if self.root is None else base64.b64encode(self.root).decode("ascii")
        lines = [
            f"Issuer   {self.issuer_url}",
            f"Log      {self.origin}  size {'-' if self.size is None else self.size}  root {root}",
            f"Log key  {self.vkey or '-'}  ({_SOURCES.get(self.vkey_source or '', '-')})",
            "",
        ]
        lines += _table(
            ("check", "result", "detail"),
            [(c.name, "ok" if c.passed else "FAILED", c.message) for c in self.checks],
        )
        if self.credential_keys:
            lines += [""] + _table(
                ("credential key", "status", "epoch", "verify until", "entry"),
                [
                    (
                        k.kid,
                        k.status,
                        f"{_day(k.epoch_start)}..{_day(k.epoch_end)}",
                        _day(k.verify_until),
                        str(k.index),
                    )
                    for k in self.credential_keys
                ],
            )
        if self.token_keys:
            lines += [""] + _table(
                ("token key", "age", "status", "epoch", "entry"),
                [
                    (
                        k.token_key_id,
                        f"{k.threshold}+",
                        k.status,
                        f"{_day(k.not_before)}..{_day(k.not_after)}",
                        str(k.index),
                    )
                    for k in self.token_keys
                ],
            )
        if self.verifiers:
            lines += [""] + _table(
                ("accredited verifier", "name", "methods", "keys"),
                [
                    (v.verifier_id, v.name, ", ".join(v.methods), str(len(v.kids)))
                    for v in self.verifiers
                ],
            )
        failures = self.failures
        lines += ["", "PASSED" if self.passed else f"FAILED: {', '.join(c.name for c in failures)}"]
        return "\n".join(lines) + "\n"


_SOURCES = {
    "pinned": "pinned with --vkey",
    "state": "from the state file",
    "discovery": "from the discovery document, trusted on first use",
}


def _day(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    rows = list(rows)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    # The last column is left ragged: messages are long.
    widths[-1] = 0

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    return [
        line(header),
        line(tuple("-" * max(w, len(h)) for w, h in zip(widths, header, strict=True))),
    ] + [line(row) for row in rows]


class _Stop(Exception):
    """The audit cannot go on: the check that failed is already in the report."""


class _Audit:
    """One run of :func:`audit`: the report being written and the fetches it needs."""

    def __init__(self, fetch: Fetch, report: AuditReport, progress: Progress | None) -> None:
        self.fetch = fetch
        self.report = report
        self.progress = progress
        self.discovery: dict[str, Any] = {}

    def passed(self, name: str, message: str) -> None:
        self.report.checks.append(Check(name, True, message))

    def failed(self, name: str, message: str) -> None:
        self.report.checks.append(Check(name, False, message))

    def stop(self, name: str, message: str) -> _Stop:
        self.failed(name, message)
        return _Stop()

    def get(self, url: str, name: str) -> bytes:
        """``fetch(url)``, failing check ``name`` (and stopping) if it cannot."""
        try:
            return self.fetch(url)
        except Exception as error:  # noqa: BLE001 - any fetch failure is the check's failure
            raise self.stop(name, f"could not fetch {url}: {error}") from None


def audit(
    fetch: Fetch,
    *,
    issuer_url: str,
    vkey: str | None = None,
    state: AuditState | None = None,
    policy: AuditPolicy = AuditPolicy(),  # noqa: B008 - frozen, so a shared default is safe
    now: float | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit the issuer at ``issuer_url`` through ``fetch`` and report every check.

    ``vkey`` pins the log's verifier key (``name+keyid+base64``); without it
    the key of ``state`` is used, and without either the one the discovery
    document names, trusted on first use (the report says so). ``state`` is
    the previous run's :attr:`AuditReport.state`, for consistency. ``policy``
    sets the limits of the policy checks; ``now`` (default: the clock) decides
    which keys are live; ``progress(done, total)`` follows the fetching of
    tiles and entry bundles. Never raises for anything the issuer serves:
    every failure is a failed check in the report. An ``issuer_url`` that is
    not absolute raises ``ValueError``.
    """
    issuer_url = issuer_url.rstrip("/")
    now = time.time() if now is None else now
    report = AuditReport(issuer_url=issuer_url, origin=log_origin(issuer_url))
    run = _Audit(fetch, report, progress)
    try:
        verifier = _discover(run, vkey, state)
        jwks, directory = _served_documents(run)
        checkpoint = _checkpoint(run, verifier)
        _checkpoint_size(run, checkpoint, policy.max_log_size)
        levels = _tiles(run, checkpoint, state)
        entries = _entries(run, checkpoint, levels)
        report.state = AuditState(
            report.origin, verifier.vkey, checkpoint.size, checkpoint.root_hash
        )
        replay = _replay(run, entries, verifier.vkey)
    except _Stop:
        if report.state is None:
            report.state = state
        return report
    _served_keys(run, replay, jwks, directory)
    _policy(run, replay, policy, now)
    report.credential_keys = [
        key for key in replay.credential_keys.values() if key.status != "revoked"
    ]
    report.token_keys = [key for key in replay.token_keys.values() if key.status != "revoked"]
    report.verifiers = replay.accredited()
    return report


# --- 1-3: discovery, log key, checkpoint --------------------------------------


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        document = strictjson.loads(data)
    except AgeVerifyError:
        return None
    return document if isinstance(document, dict) else None


def _discover(run: _Audit, pinned: str | None, state: AuditState | None) -> Verifier:
    report = run.report
    document = _json_object(run.get(report.issuer_url + DISCOVERY_PATH, "discovery"))
    run.discovery = document or {}
    log = document.get("log") if document else None
    if not isinstance(log, dict) or not isinstance(log.get("vkey"), str):
        raise run.stop("discovery", "the discovery document has no log member with a vkey")
    if log.get("origin") != report.origin:
        raise run.stop(
            "discovery",
            f"the discovery document names the log {str(log.get('origin'))[:200]!r}, "
            f"not {report.origin!r}",
        )
    run.passed("discovery", f"log {report.origin} announced")

    if state is not None and state.origin != report.origin:
        raise run.stop("log-key", f"the state file is for the log {state.origin!r}")
    if pinned is not None:
        wanted, report.vkey_source = pinned, "pinned"
    elif state is not None:
        wanted, report.vkey_source = state.vkey, "state"
    else:
        wanted, report.vkey_source = log["vkey"], "discovery"
    try:
        verifier = Verifier.from_vkey(wanted)
    except AgeVerifyError as error:
        raise run.stop("log-key", f"unusable log key: {error.description}") from None
    report.vkey = verifier.vkey
    if verifier.name != report.origin:
        raise run.stop("log-key", f"the log key is named {verifier.name!r}, not the origin")
    if log["vkey"] != verifier.vkey:
        raise run.stop(
            "log-key", f"the discovery document names another log key: {log['vkey'][:200]}"
        )
    if report.vkey_source == "discovery":
        run.passed("log-key", "first use: the discovery document's key is trusted and recorded")
    else:
        run.passed("log-key", f"the discovery document names the key {report.vkey_source}")
    return verifier


def _served_documents(run: _Audit) -> tuple[dict[str, Any], privacypass.IssuerDirectory | None]:
    """The JWKS and the Privacy Pass directory, fetched before the checkpoint (see module doc)."""
    url = run.report.issuer_url
    try:
        jwks = _json_object(run.fetch(url + JWKS_PATH))
    except Exception as error:  # noqa: BLE001
        raise run.stop("served-documents", f"could not fetch the JWKS: {error}") from None
    if jwks is None or not isinstance(jwks.get("keys"), list):
        raise run.stop("served-documents", "the JWKS is not a JSON object with a keys array")
    try:
        directory = privacypass.parse_directory(run.fetch(url + privacypass.DIRECTORY_PATH))
    except AgeVerifyError as error:
        raise run.stop("served-documents", f"the directory: {error.description}") from None
    except Exception:  # noqa: BLE001 - an issuer with no token key serves no directory
        directory = None
    run.passed(
        "served-documents",
        f"{len(jwks['keys'])} credential key(s), "
        f"{0 if directory is None else len(directory.token_keys)} token key(s) served",
    )
    return jwks, directory


def _checkpoint(run: _Audit, verifier: Verifier) -> Checkpoint:
    report = run.report
    data = run.get(report.issuer_url + LOG_PATH + "checkpoint", "checkpoint-signature")
    try:
        checkpoint, _ = open_checkpoint(data, report.origin, [verifier])
    except AgeVerifyError as error:
        if error.code == "checkpoint-wrong-origin":
            raise run.stop(
                "checkpoint-origin", f"checkpoint of another origin: {error.description}"
            ) from None
        raise run.stop(
            "checkpoint-signature", f"bad checkpoint signature: {error.description}"
        ) from None
    run.passed("checkpoint-signature", f"signed by {verifier.name}+{verifier.key_id:08x}")
    run.passed("checkpoint-origin", report.origin)
    report.size, report.root = checkpoint.size, checkpoint.root_hash
    return checkpoint


def _checkpoint_size(run: _Audit, checkpoint: Checkpoint, maximum: int) -> None:
    """Refuse a size over ``maximum`` before :func:`tiles.tiles_for_size` even lists its tiles."""
    if checkpoint.size > maximum:
        raise run.stop(
            "checkpoint-size",
            f"the checkpoint claims {checkpoint.size:,} entries, more than the policy's "
            f"maximum of {maximum:,}: auditing it would fetch some "
            f"{checkpoint.size // (tiles.TILE_WIDTH - 1):,} tiles (raise max_log_size "
            "to audit a log this large)",
        )
    run.passed("checkpoint-size", f"{checkpoint.size:,} entries, at most {maximum:,}")


# --- 4-5: tiles, consistency, entries -----------------------------------------


def _tiles(run: _Audit, checkpoint: Checkpoint, state: AuditState | None) -> list[list[bytes]]:
    """Fetch every hash tile; check size, fork and consistency against ``state``.

    Returns the hashes of each tile level (level L holds the subtree hashes
    of height 8L), left to right.
    """
    size = checkpoint.size
    if state is not None and size < state.size:
        raise run.stop(
            "size-monotonic",
            f"rolled back: the log shows size {size}, it was {state.size} when last audited",
        )
    if state is not None:
        run.passed("size-monotonic", f"{state.size} -> {size}")
    if state is not None and size == state.size and checkpoint.root_hash != state.root:
        raise run.stop(
            "view-consistent",
            f"forked view: two signed checkpoints of size {size} with different roots "
            f"({_b64(state.root)} when last audited, {_b64(checkpoint.root_hash)} now)",
        )
    if state is not None:
        run.passed("view-consistent", "one root per size")

    wanted = tiles.tiles_for_size(size)
    total = len(wanted) + _bundle_count(size)
    levels: list[list[bytes]] = []
    for done, tile in enumerate(wanted, 1):
        data = run.get(run.report.issuer_url + LOG_PATH + tile.path, "tiles-well-formed")
        try:
            hashes = tiles.decode_hash_tile(data, tile.width)
        except AgeVerifyError as error:
            raise run.stop(
                "tiles-well-formed",
                f"tile {tile.path} is truncated or overlong: {error.description}",
            ) from None
        while len(levels) <= tile.level:
            levels.append([])
        levels[tile.level].extend(hashes)
        if run.progress:
            run.progress(done, total)
    run.passed("tiles-well-formed", f"{len(wanted)} tile(s)")

    hash_at = _hash_at(levels)
    try:
        tiles_root = merkle.root_at(size, hash_at)
    except AgeVerifyError as error:
        raise run.stop("tiles-match-checkpoint", error.description) from None
    if tiles_root != checkpoint.root_hash:
        raise run.stop("tiles-match-checkpoint", "the tiles give another root than the checkpoint")
    run.passed("tiles-match-checkpoint", "the tiles give the signed root")

    if state is not None and 0 < state.size < size:
        try:
            proof = merkle.consistency_proof(state.size, size, hash_at)
            merkle.verify_consistency(state.size, size, state.root, checkpoint.root_hash, proof)
        except AgeVerifyError:
            raise run.stop(
                "history-consistent",
                f"rewritten history: the tree of size {state.size} now has another root than "
                f"{_b64(state.root)}, seen when last audited",
            ) from None
        run.passed("history-consistent", f"size {state.size} -> {size} proved consistent")
    elif state is not None:
        # Equal sizes were compared root to root above; every tree extends the empty one.
        run.passed("history-consistent", f"size {state.size} -> {size}: nothing to prove")
    return levels


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bundle_count(size: int) -> int:
    return -(-size // tiles.TILE_WIDTH)


def _hash_at(levels: list[list[bytes]]) -> merkle.HashAt:
    """A ``HashAt`` reading the fetched tiles: tile level L holds tree level 8L."""

    def hash_at(level: int, index: int) -> bytes:
        tile_level, height = divmod(level, tiles.TILE_HEIGHT)
        if tile_level >= len(levels):
            raise AgeVerifyError("log-range-invalid", f"no tile holds {level}/{index}")
        hashes = levels[tile_level][index << height : (index + 1) << height]
        if len(hashes) != 1 << height:
            raise AgeVerifyError("log-range-invalid", f"no tile holds {level}/{index}")
        return merkle.root(hashes)

    return hash_at


def _entries(run: _Audit, checkpoint: Checkpoint, levels: list[list[bytes]]) -> list[bytes]:
    """Fetch every entry bundle; check the entries hash to the root and to every tile."""
    size = checkpoint.size
    done_tiles = len(tiles.tiles_for_size(size))
    total = done_tiles + _bundle_count(size)
    entries: list[bytes] = []
    for number in range(_bundle_count(size)):
        width = min(tiles.TILE_WIDTH, size - number * tiles.TILE_WIDTH)
        path = tiles.entry_bundle_path(number, width)
        data = run.get(run.report.issuer_url + LOG_PATH + path, "entries-well-formed")
        try:
            entries.extend(tiles.decode_entry_bundle(data, width))
        except AgeVerifyError as error:
            raise run.stop("entries-well-formed", f"{path}: {error.description}") from None
        if run.progress:
            run.progress(done_tiles + number + 1, total)
    run.passed("entries-well-formed", f"{size} entries")

    # Level by level from the leaves: each tile level must equal what the
    # entries give, and the top must be the signed root.
    current = [merkle.leaf_hash(entry) for entry in entries]
    if merkle.root(current) != checkpoint.root_hash:
        raise run.stop(
            "root-matches-entries", "the entries hash to another root than the checkpoint"
        )
    for tile_level, served in enumerate(levels):
        if served != current:
            raise run.stop(
                "root-matches-entries", f"the level-{tile_level} tiles differ from the entries"
            )
        current = [
            merkle.root(current[i : i + tiles.TILE_WIDTH])
            for i in range(0, len(current) - tiles.TILE_WIDTH + 1, tiles.TILE_WIDTH)
        ]
    run.passed("root-matches-entries", "root recomputed from the entries")
    return entries


# --- 6: events ---------------------------------------------------------------


def _is_int(value: object) -> bool:
    return type(value) is int


def _is_str(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(_is_str(v) for v in value)


def _is_object_list(value: object) -> bool:
    return isinstance(value, list) and all(_is_object(v) for v in value)


# The members each event type needs and how to check them (contract, issue 4).
_EVENTS: dict[str, dict[str, Callable[[object], bool]]] = {
    "log-key": {"vkey": _is_str},
    "credential-key-published": {
        "kid": _is_str,
        "jwk": _is_object,
        "alg": _is_str,
        "epoch_start": _is_int,
        "epoch_end": _is_int,
        "verify_until": _is_int,
    },
    "credential-key-retired": {"kid": _is_str},
    "credential-key-revoked": {"kid": _is_str},
    "token-key-published": {
        "token_key_id": _is_str,
        "token_key": _is_str,
        "threshold": _is_int,
        "not_before": _is_int,
        "not_after": _is_int,
    },
    "token-key-retired": {"token_key_id": _is_str},
    "token-key-revoked": {"token_key_id": _is_str},
    "verifier-registered": {
        "verifier_id": _is_str,
        "name": _is_str,
        "methods": _is_str_list,
        "keys": _is_object_list,
    },
    "verifier-key-added": {"verifier_id": _is_str, "jwk": _is_object},
    "verifier-key-removed": {"verifier_id": _is_str, "kid": _is_str},
    "verifier-suspended": {"verifier_id": _is_str},
    "verifier-resumed": {"verifier_id": _is_str},
    "admin-token-created": {"token_id": _is_str, "name": _is_str},
}


class _EventError(Exception):
    """An entry that is no valid event, or an event that does not follow from the ones before."""


@dataclass
class _Registered:
    name: str
    methods: tuple[str, ...]
    kids: list[str]
    active: bool = True


@dataclass
class _Replay:
    """The state the log's events build: keys by id with their logged material, verifiers."""

    credential_keys: dict[str, LiveCredentialKey] = field(default_factory=dict)
    credential_jwks: dict[str, dict[str, Any]] = field(default_factory=dict)
    credential_algs: dict[str, str] = field(default_factory=dict)
    token_keys: dict[str, LiveTokenKey] = field(default_factory=dict)
    token_spkis: dict[str, bytes] = field(default_factory=dict)
    verifiers: dict[str, _Registered] = field(default_factory=dict)
    admin_tokens: set[str] = field(default_factory=set)

    def accredited(self) -> list[AccreditedVerifier]:
        return [
            AccreditedVerifier(vid, v.name, v.methods, tuple(v.kids))
            for vid, v in sorted(self.verifiers.items())
            if v.active
        ]


def _parse_event(entry: bytes) -> dict[str, Any]:
    try:
        event = strictjson.loads(entry)
    except AgeVerifyError as error:
        raise _EventError(f"not JSON: {error.description}") from None
    if not isinstance(event, dict):
        raise _EventError("not a JSON object")
    if strictjson.canonical(event) != entry:
        raise _EventError("not canonical JSON")
    if event.get("v") != 1 or type(event.get("v")) is not int:
        raise _EventError("not version 1")
    kind = event.get("type")
    members = _EVENTS.get(kind) if isinstance(kind, str) else None
    if members is None:
        raise _EventError(f"unknown event type {str(event.get('type'))[:60]!r}")
    if not _is_int(event.get("time")):
        raise _EventError("no integer time")
    for name, valid in members.items():
        if not valid(event.get(name)):
            raise _EventError(f"{event['type']}: {name} missing or of the wrong type")
    return event


def _thumbprint(jwk: dict[str, Any]) -> str:
    try:
        return jose.thumbprint(jwk)
    except jose.JWKError as error:
        raise _EventError(f"unusable JWK: {error.reason}") from None
    except TypeError:  # a kty that is no JSON string (a list, an object)
        raise _EventError("unusable JWK: kty is not a string") from None


def _verifier_kid(jwk: dict[str, Any]) -> str:
    # The registry keeps a verifier's own kid when its JWK names one.
    kid = jwk.get("kid")
    return kid if isinstance(kid, str) and kid else _thumbprint(jwk)


def _apply(replay: _Replay, index: int, event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "log-key":
        raise _EventError("a second log-key event")
    if kind.startswith("credential-key-"):
        kid = event["kid"]
        known = replay.credential_keys.get(kid)
        if kind == "credential-key-published":
            if known is not None:
                raise _EventError(f"credential key {kid} published twice")
            if _thumbprint(event["jwk"]) != kid:
                raise _EventError(f"credential key {kid}: kid is not the key's thumbprint")
            replay.credential_keys[kid] = LiveCredentialKey(
                kid,
                "published",
                event["epoch_start"],
                event["epoch_end"],
                event["verify_until"],
                index,
            )
            replay.credential_jwks[kid] = event["jwk"]
            replay.credential_algs[kid] = event["alg"]
            return
        if known is None or known.status == "revoked":
            raise _EventError(f"{kind} of a credential key {kid} that is not live")
        status = "retired" if kind == "credential-key-retired" else "revoked"
        replay.credential_keys[kid] = replace(known, status=status)
        return
    if kind.startswith("token-key-"):
        key_id = event["token_key_id"]
        known_token = replay.token_keys.get(key_id)
        if kind == "token-key-published":
            if known_token is not None:
                raise _EventError(f"token key {key_id} published twice")
            try:
                spki = jose.b64url_decode(event["token_key"])
                computed = jose.b64url_encode(hashlib.sha256(spki).digest())
            except AgeVerifyError:
                raise _EventError(f"token key {key_id} is not base64url") from None
            if computed != key_id:
                raise _EventError(f"token key {key_id}: the id is not SHA-256 of the key")
            replay.token_keys[key_id] = LiveTokenKey(
                key_id,
                event["threshold"],
                "published",
                event["not_before"],
                event["not_after"],
                index,
            )
            replay.token_spkis[key_id] = spki
            return
        if known_token is None or known_token.status == "revoked":
            raise _EventError(f"{kind} of a token key {key_id} that is not live")
        status = "retired" if kind == "token-key-retired" else "revoked"
        replay.token_keys[key_id] = replace(known_token, status=status)
        return
    if kind == "admin-token-created":
        if event["token_id"] in replay.admin_tokens:
            raise _EventError(f"admin token {event['token_id']} created twice")
        replay.admin_tokens.add(event["token_id"])
        return
    verifier_id = event["verifier_id"]
    verifier = replay.verifiers.get(verifier_id)
    if kind == "verifier-registered":
        if verifier is not None:
            raise _EventError(f"verifier {verifier_id} registered twice")
        kids = [_verifier_kid(jwk) for jwk in event["keys"]]
        replay.verifiers[verifier_id] = _Registered(event["name"], tuple(event["methods"]), kids)
        return
    if verifier is None:
        raise _EventError(f"{kind} of an unregistered verifier {verifier_id}")
    if kind == "verifier-key-added":
        verifier.kids.append(_verifier_kid(event["jwk"]))
    elif kind == "verifier-key-removed":
        if event["kid"] not in verifier.kids:
            raise _EventError(f"verifier {verifier_id} has no key {event['kid']}")
        verifier.kids.remove(event["kid"])
    elif kind == "verifier-suspended":
        verifier.active = False
    else:
        verifier.active = True


def _replay(run: _Audit, entries: list[bytes], vkey: str) -> _Replay:
    replay = _Replay()
    if not entries:
        raise run.stop("events-valid", "the log is empty: entry 0 is always the log-key event")
    for index, entry in enumerate(entries):
        try:
            event = _parse_event(entry)
            if index == 0:
                if event["type"] != "log-key" or event["vkey"] != vkey:
                    raise _EventError("entry 0 is not the log-key event of the log's key")
            else:
                _apply(replay, index, event)
        except _EventError as error:
            raise run.stop("events-valid", f"entry {index}: {error}") from None
    run.passed(
        "events-valid",
        f"{len(entries)} events: {len(replay.credential_keys)} credential key(s), "
        f"{len(replay.token_keys)} token key(s), {len(replay.verifiers)} verifier(s)",
    )
    return replay


# --- 7-8: served keys, policy --------------------------------------------------


def _served_keys(
    run: _Audit,
    replay: _Replay,
    jwks: dict[str, Any],
    directory: privacypass.IssuerDirectory | None,
) -> None:
    unlogged: list[str] = []
    revoked: list[str] = []
    for jwk in jwks["keys"]:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        logged = replay.credential_keys.get(kid) if isinstance(kid, str) else None
        if logged is None:
            unlogged.append(f"credential key {str(kid)[:60]} is served but never logged")
        elif logged.status == "revoked":
            revoked.append(f"credential key {kid} is revoked in the log but still served")
        elif _served_thumbprint(jwk) != kid:
            unlogged.append(f"credential key {kid} is served with other key material than logged")
    for key in directory.token_keys if directory else ():
        key_id = jose.b64url_encode(key.token_key_id)
        logged_token = replay.token_keys.get(key_id)
        if logged_token is None:
            unlogged.append(f"token key {key_id} is served but never logged")
        elif logged_token.status == "revoked":
            revoked.append(f"token key {key_id} is revoked in the log but still served")
    # Wallets pick a token key by the threshold discovery maps it to: a key
    # announced for another age than logged would sort holders wrongly.
    for key_id, announced in _announced_token_keys(run.discovery):
        logged_token = replay.token_keys.get(key_id)
        threshold = announced.get("threshold") if isinstance(announced, dict) else None
        if logged_token is None:
            unlogged.append(f"token key {key_id[:60]} is announced but never logged")
        elif logged_token.status == "revoked":
            revoked.append(f"token key {key_id} is revoked in the log but still announced")
        elif threshold != logged_token.threshold:
            unlogged.append(
                f"token key {key_id} is announced for age {str(threshold)[:10]}, "
                f"logged for {logged_token.threshold}"
            )
    if unlogged:
        run.failed("served-keys-logged", "; ".join(unlogged))
    else:
        run.passed("served-keys-logged", "every served key has a live published entry")
    if revoked:
        run.failed("revoked-keys-unserved", "; ".join(revoked))
    else:
        run.passed("revoked-keys-unserved", "no revoked key is served")


def _announced_token_keys(discovery: dict[str, Any]) -> list[tuple[str, Any]]:
    """The ``privacy_pass.token_keys`` map of the discovery document, as pairs."""
    privacy_pass = discovery.get("privacy_pass")
    announced = privacy_pass.get("token_keys") if isinstance(privacy_pass, dict) else None
    return list(announced.items()) if isinstance(announced, dict) else []


def _served_thumbprint(jwk: dict[str, Any]) -> str | None:
    try:
        return jose.thumbprint(jwk)
    except (jose.JWKError, TypeError):
        return None


def _policy(run: _Audit, replay: _Replay, policy: AuditPolicy, now: float) -> None:
    live_credential = [
        k for k in replay.credential_keys.values() if k.status != "revoked" and k.verify_until > now
    ]
    live_tokens = [
        k for k in replay.token_keys.values() if k.status != "revoked" and k.not_after > now
    ]

    wrong: list[str] = []
    for key in live_credential:
        jwk = replay.credential_jwks[key.kid]
        try:
            jose.public_key_from_jwk(jwk, kinds=("EC-P-256",))
            ok = replay.credential_algs[key.kid] == "ES256"
        except jose.JWKError:
            ok = False
        if not ok:
            wrong.append(f"credential key {key.kid} is not ES256 on P-256")
    for token in live_tokens:
        try:
            privacypass.decode_pss_spki(replay.token_spkis[token.token_key_id])
        except AgeVerifyError:
            wrong.append(f"token key {token.token_key_id} is not an RSA-2048 PSS key")
    if wrong:
        run.failed("policy-algorithms", "; ".join(wrong))
    else:
        run.passed("policy-algorithms", "ES256 P-256 credential keys, RSA-2048 token keys")

    maximum = policy.max_credential_key_lifetime
    too_long = [
        f"credential key {k.kid} is valid {(k.verify_until - k.epoch_start) // 86_400} days"
        for k in live_credential
        if k.verify_until - k.epoch_start > maximum
    ]
    if too_long:
        run.failed("policy-key-lifetime", f"over {maximum // 86_400} days: " + "; ".join(too_long))
    else:
        run.passed("policy-key-lifetime", f"at most {maximum // 86_400} days")

    per_threshold: dict[int, int] = {}
    for token in live_tokens:
        per_threshold[token.threshold] = per_threshold.get(token.threshold, 0) + 1
    crowded = {
        t: n for t, n in sorted(per_threshold.items()) if n > policy.max_token_keys_per_threshold
    }
    if crowded:
        run.failed(
            "policy-token-keys-per-threshold",
            f"more than {policy.max_token_keys_per_threshold} live token keys for age "
            + ", ".join(f"{t}+ ({n})" for t, n in crowded.items())
            + ": holders could be partitioned by key",
        )
    else:
        run.passed(
            "policy-token-keys-per-threshold",
            f"at most {policy.max_token_keys_per_threshold} per threshold",
        )

    truncated: dict[int, str] = {}
    clashes: list[str] = []
    for token in live_tokens:
        last = hashlib.sha256(replay.token_spkis[token.token_key_id]).digest()[-1]
        if last in truncated:
            clashes.append(f"{truncated[last]} and {token.token_key_id} share {last:#04x}")
        truncated[last] = token.token_key_id
    if clashes:
        run.failed("policy-unique-truncated-ids", "; ".join(clashes))
    else:
        run.passed("policy-unique-truncated-ids", f"{len(live_tokens)} live token key(s)")
