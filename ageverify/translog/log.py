"""The issuer's transparency log: key events appended in the caller's transaction.

Every change to a key platforms or the issuer trust (credential signing keys,
Privacy Pass token keys, verifiers and their keys, admin tokens) calls
:meth:`TransparencyLog.append` inside the database transaction that makes the
change. ``append`` stores the entry, the hashes of the full subtrees it
completes, and a checkpoint for the new size signed with the log key, all in
that transaction: the change, its entry and a checkpoint covering it commit
together or not at all, so a crash never leaves a live key unlogged nor a gap
in the log. Appends are serialised: ``append`` takes the writers' lock
before it counts the entries (PostgreSQL: a transaction-scoped advisory lock,
so writers in other processes wait; SQLite: the database write lock), and the
primary keys refuse a second entry at the same index all the same.

The log is read back as C2SP tlog-tiles: :meth:`checkpoint`, :meth:`tile` and
:meth:`entries` serve only what the latest signed checkpoint covers.

Entry 0 of every log is the ``log-key`` event naming the log's verifier key.
The log key (Ed25519, named after the origin) is created with that first
entry and kept in the key store as ``log-ed25519`` (an encrypted file, or a
PKCS#11 token it never leaves); once the log has entries, a missing key is
an error, never a reason to make a new key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.orm import Session, sessionmaker

from ageverify.crypto.keystore import KeyKind, KeyStore
from ageverify.crypto.stored_keys import ed25519_key
from ageverify.errors import AgeVerifyError, KeyStoreError, LogProofError
from ageverify.storage.db import announce_log_append, lock_writers
from ageverify.storage.models import LogCheckpoint, LogEntry, LogNode
from ageverify.translog import events, merkle, tiles
from ageverify.translog.checkpoint import Checkpoint
from ageverify.translog.note import Signer, Verifier

__all__ = [
    "LOG_KEY_NAME",
    "LOG_PATH",
    "TransparencyLog",
    "covered_size_query",
    "log_origin",
    "record",
]

# The log key's file in the key store.
LOG_KEY_NAME = "log-ed25519"
# Where the log is served, under the issuer URL (tlog-tiles prefix).
LOG_PATH = "/log/"
# Where a session finds the log its key events go to (``Session.info``).
_SESSION_INFO = "ageverify.translog"


def log_origin(issuer_url: str) -> str:
    """The log origin of the issuer at ``issuer_url``: its host[:port] followed by ``/log``."""
    return urlsplit(issuer_url).netloc + "/log"


def covered_size_query() -> ScalarSelect[Any]:
    """SQL for the size of the latest signed checkpoint (0 before the first).

    Keys are served only while their ``log_index`` is below it.
    """
    return select(func.coalesce(func.max(LogCheckpoint.size), 0)).scalar_subquery()


def record(session: Session, event: Mapping[str, Any]) -> int:
    """Append ``event`` to the log attached to ``session`` and return its index.

    The sessions of a running issuer carry their log (see
    :meth:`TransparencyLog.attach`); a session without one raises
    ``RuntimeError`` rather than let a key change go unlogged.
    """
    log = session.info.get(_SESSION_INFO)
    if not isinstance(log, TransparencyLog):
        raise RuntimeError("no transparency log is attached to this session")
    return log.append(session, event)


class TransparencyLog:
    """The issuer's key-event log over the database of ``sessionmaker``.

    ``keystore`` holds the log key, ``issuer_url`` gives the origin and the
    served URL, ``clock`` returns the current unix time (for the ``log-key``
    event).
    """

    def __init__(
        self,
        sessionmaker: sessionmaker[Session],
        keystore: KeyStore,
        issuer_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessionmaker
        self._keystore = keystore
        self.origin = log_origin(issuer_url)
        self.url = issuer_url + LOG_PATH
        self._clock = clock
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Make every session of ``sessions`` record its key events in this log."""
        info = dict(sessions.kw.get("info") or {})
        info[_SESSION_INFO] = self
        sessions.configure(info=info)

    # --- the log key -------------------------------------------------------

    def ensure_key(self) -> bool:
        """Create the log key if the log has none yet; return whether one was created.

        A log with entries but no key file raises ``KeyStoreError``: its key
        cannot be replaced, only restored.
        """
        if self._keystore.exists(LOG_KEY_NAME):
            return False
        if self.covered_size() > 0:
            raise KeyStoreError(
                f"the transparency log has entries but its key "
                f"({self._keystore.describe(LOG_KEY_NAME)}) is missing; restore it from backup"
            )
        self._create_key()
        return True

    def _create_key(self) -> None:
        self._keystore.generate(KeyKind.ED25519, lambda _: LOG_KEY_NAME)
        with self._lock:
            self._signer = None

    def signer(self) -> Signer:
        """The log's note signer, loaded once per process; ``KeyStoreError`` without a key."""
        signer = self._signer
        if signer is not None:
            return signer
        with self._lock:
            if self._signer is None:
                # A handle: the key stays in the store, which signs each checkpoint.
                self._signer = Signer(self.origin, ed25519_key(self._keystore, LOG_KEY_NAME))
            return self._signer

    @property
    def verifier(self) -> Verifier:
        """The verifier of the log's checkpoints."""
        return self.signer().verifier

    @property
    def vkey(self) -> str:
        """The log's verifier key string ``<origin>+<key id>+<base64 key>``."""
        return self.verifier.vkey

    def metadata(self) -> dict[str, str]:
        """The ``log`` member of the discovery document: origin, verifier key and URL."""
        return {"origin": self.origin, "vkey": self.vkey, "url": self.url}

    # --- appending ----------------------------------------------------------

    def append(self, session: Session, event: Mapping[str, Any]) -> int:
        """Append ``event`` in ``session``'s transaction and sign the new checkpoint; its index.

        The first append to an empty log writes the ``log-key`` entry first
        (creating the log key if there is none). Nothing is committed here:
        the caller's transaction commits or rolls back the entry with the
        change it records.
        """
        entry = events.encode(event)
        size = self._lock_size(session)
        if size == 0 and event.get("type") != "log-key":
            if not self._keystore.exists(LOG_KEY_NAME):
                # The log is empty (we hold its lock): its first key. Made
                # here, it goes again if the transaction does not commit.
                self._create_key()
                self._forget_key_unless_committed(session)
            self._append_entry(session, 0, events.encode(events.log_key(self.vkey, self._clock())))
            size = 1
        self._append_entry(session, size, entry)
        # Processes that cache what the log covers (the published keys) hear
        # of it when this transaction commits.
        announce_log_append(session.connection())
        return size

    def _forget_key_unless_committed(self, session: Session) -> None:
        settled = False

        def committed(committing: Session) -> None:
            nonlocal settled
            # A savepoint released is not the transaction committed.
            if not committing.in_nested_transaction():
                settled = True

        def rolled_back(_session: Session, previous: Any) -> None:
            nonlocal settled
            # A savepoint rolled back does not undo the outer transaction.
            if settled or getattr(previous, "nested", False):
                return
            settled = True
            with self._lock:
                self._signer = None
            self._keystore.delete(LOG_KEY_NAME)

        sqlalchemy_event.listen(session, "after_commit", committed)
        sqlalchemy_event.listen(session, "after_soft_rollback", rolled_back)

    def _lock_size(self, session: Session) -> int:
        # A row lock on the latest checkpoint would not do: the first append
        # finds no row to lock, and under READ COMMITTED a writer that waited
        # for the row would still read the size it saw before. The lock is
        # taken first; the count read after it sees every committed append.
        lock_writers(session.connection())
        return int(session.scalar(select(func.max(LogCheckpoint.size))) or 0)

    def _append_entry(self, session: Session, index: int, entry: bytes) -> None:
        hash_at = _session_hash_at(session)
        digest = merkle.leaf_hash(entry)
        session.add(LogEntry(index=index, data=entry))
        session.add(LogNode(level=0, index=index, hash=digest))
        position, level = index, 0
        # Each odd position completes a pair: its parent is a full subtree now.
        while position & 1:
            digest = merkle.node_hash(hash_at(level, position - 1), digest)
            level += 1
            position >>= 1
            session.add(LogNode(level=level, index=position, hash=digest))
        session.flush()
        size = index + 1
        root = merkle.root_at(size, hash_at)
        note = Checkpoint(self.origin, size, root).sign(self.signer())
        session.add(LogCheckpoint(size=size, root=root, note=note.decode("utf-8")))
        session.flush()

    # --- reading --------------------------------------------------------------

    def covered_size(self, session: Session | None = None) -> int:
        """The size of the latest signed checkpoint (0 before the first entry)."""
        if session is None:
            with self._sessions() as own:
                return int(own.scalar(select(covered_size_query())) or 0)
        return int(session.scalar(select(covered_size_query())) or 0)

    def checkpoint(self) -> bytes:
        """The latest signed checkpoint note; ``log-unavailable`` before the first entry."""
        with self._sessions() as session:
            note = session.scalar(
                select(LogCheckpoint.note).order_by(LogCheckpoint.size.desc()).limit(1)
            )
        if note is None:
            raise AgeVerifyError("log-unavailable")
        return note.encode("utf-8")

    def tile(self, level: int, index: int, width: int = tiles.TILE_WIDTH) -> bytes:
        """Hash tile ``index`` at tile ``level`` holding ``width`` hashes.

        Served once the latest checkpoint covers all of its hashes, else
        ``log-tile-not-found``. A full tile never changes; a partial one is
        a prefix of the full tile it becomes.
        """
        tiles.tile_path(level, index, width)  # checks the coordinates
        first = index * tiles.TILE_WIDTH
        with self._sessions() as session:
            covered = self.covered_size(session)
            if first + width > covered >> (tiles.TILE_HEIGHT * level):
                raise AgeVerifyError("log-tile-not-found")
            hashes = session.scalars(
                select(LogNode.hash)
                .where(
                    LogNode.level == tiles.TILE_HEIGHT * level,
                    LogNode.index >= first,
                    LogNode.index < first + width,
                )
                .order_by(LogNode.index)
            ).all()
        return tiles.encode_hash_tile([bytes(h) for h in hashes])

    def entries(self, index: int, width: int = tiles.TILE_WIDTH) -> bytes:
        """Entry bundle ``index`` holding ``width`` entries (served as :meth:`tile` is)."""
        tiles.entry_bundle_path(index, width)
        first = index * tiles.TILE_WIDTH
        with self._sessions() as session:
            if first + width > self.covered_size(session):
                raise AgeVerifyError("log-tile-not-found")
            data = session.scalars(
                select(LogEntry.data)
                .where(LogEntry.index >= first, LogEntry.index < first + width)
                .order_by(LogEntry.index)
            ).all()
        return tiles.encode_entry_bundle([bytes(d) for d in data])


def _session_hash_at(session: Session) -> merkle.HashAt:
    def hash_at(level: int, index: int) -> bytes:
        node = session.get(LogNode, (level, index))
        if node is None:
            raise LogProofError("log-range-invalid", f"no full subtree at {level}/{index}")
        return bytes(node.hash)

    return hash_at
