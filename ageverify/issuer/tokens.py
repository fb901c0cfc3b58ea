"""Privacy Pass issuance (RFC 9578, token type 0x0002): token keys and token requests.

Token keys: one RSA-2048 key per age threshold per epoch, generated ahead like
the credential signing keys, so that the directory publishes a key (with
``not-before`` = its epoch start) before it signs anything. A key signs
during its epoch and stays published for one more, so that tokens fetched
late in an epoch can still be redeemed. Token requests name a key by the last
byte of its id only, so that byte is unique among the published keys: a
freshly generated key whose byte is taken is thrown away and another drawn.
``retire`` stops a key signing but keeps it published; ``revoke`` unpublishes
it at once and deletes its private key.

Token requests (:meth:`TokenIssuer.issue`) are authorised by an age credential
presentation addressed to the issuer, answering a nonce from
:meth:`TokenIssuer.new_nonce` and disclosing ``age_over_<threshold>`` = true
for the threshold of the requested key. The nonce is consumed, the daily
quota of the credential counted and the blinded message signed in one
database transaction: a refused request changes nothing, and a signature is
never returned without its nonce and count recorded.

The issuer sees the blinded message only, so it cannot link a token to the
request it came from; what it keeps per credential is a count per day under
a hash of the credential's signature.

The RSA private keys stay in the key store (``ageverify.crypto``: encrypted
files, or a PKCS#11 token computing the raw RSA operation itself); this
module holds one :class:`BlindSigner` per key, which hands each blinded
message to the store and checks the answer.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ageverify.config import Settings
from ageverify.crypto.blindrsa import BlindSigner
from ageverify.crypto.keystore import KeyKind, KeyStore
from ageverify.crypto.keystore import PublicKey as StoredPublicKey
from ageverify.crypto.stored_keys import blind_signer
from ageverify.errors import (
    AgeVerifyError,
    ConfigurationError,
    IssuanceError,
    KeyStoreError,
    UnauthorizedError,
)
from ageverify.formats import jose, privacypass, sdjwt
from ageverify.formats.jose import PublicKey
from ageverify.issuer.lifecycle import KeyLifecycle
from ageverify.storage.db import transaction
from ageverify.storage.models import Base, IssuerNonce, TokenKey, TokenQuota
from ageverify.translog import events
from ageverify.translog.log import covered_size_query, record

log = logging.getLogger("ageverify.tokens")

# HTTP paths of Privacy Pass issuance, as published in the discovery document.
TOKEN_REQUEST_PATH = "/v1/privacy-pass/token-request"  # noqa: S105 - not a secret
NONCE_PATH = "/v1/privacy-pass/nonce"

# How long an issuer nonce can be answered: the Key Binding JWT's own window.
NONCE_LIFETIME = 300
NONCE_BYTES = 32
# Token keys are "pp-<token_key_id>" in the key store.
KEY_NAME_PREFIX = "pp-"
RSA_PUBLIC_EXPONENT = 65537
# Expired nonces and past days' counts are purged at most this often per process.
PURGE_INTERVAL = 300
# A truncated key id is one byte: at most 256 keys can be told apart.
_TRUNCATED_IDS = 256

_nonces = Base.metadata.tables[IssuerNonce.__tablename__]
_quotas = Base.metadata.tables[TokenQuota.__tablename__]
_CONSUME_NONCE = (
    update(_nonces)
    .where(
        _nonces.c.nonce == bindparam("k_nonce"),
        _nonces.c.used.is_(False),
        _nonces.c.expires_at > bindparam("k_now"),
    )
    .values(used=True)
)
_COUNT_TOKEN = (
    update(_quotas)
    .where(
        _quotas.c.credential == bindparam("k_credential"),
        _quotas.c.day == bindparam("k_day"),
        _quotas.c.count < bindparam("k_quota"),
    )
    .values(count=_quotas.c.count + 1)
)
_SIGNING_KEY = (
    select(TokenKey.token_key_id, TokenKey.threshold)
    .where(
        TokenKey.truncated == bindparam("truncated"),
        TokenKey.status == "active",
        TokenKey.not_before <= bindparam("late"),
        TokenKey.not_after > bindparam("early"),
    )
    .limit(2)
)


def generate_token_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 private key (public exponent 65537) for one token key.

    What a key store that generates in software (the file store) stores; a
    PKCS#11 token generates its keys itself.
    """
    return rsa.generate_private_key(
        public_exponent=RSA_PUBLIC_EXPONENT, key_size=privacypass.MODULUS_BITS
    )


def issuer_name(issuer_url: str) -> str:
    """The RFC 9577 ``issuer_name`` of the issuer at ``issuer_url``: its host and port."""
    return urlsplit(issuer_url).netloc


class TokenSigner(NamedTuple):
    """The key a token request names: its ``BlindSigner``, age ``threshold`` and id."""

    signer: BlindSigner
    threshold: int
    token_key_id: str


class PublishedTokenKey(NamedTuple):
    """A token key as platforms and wallets see it.

    ``token_key_id`` is the unpadded base64url key id, ``spki`` the RSASSA-PSS
    SubjectPublicKeyInfo DER, ``not_before`` its epoch start.
    """

    token_key_id: str
    threshold: int
    not_before: int
    spki: bytes


class TokenKeys:
    """The issuer's Privacy Pass token keys: metadata in the database, private keys in ``keystore``.

    ``settings`` give the thresholds, the epoch length, how many epochs ahead
    to generate and the clock leeway; ``clock`` returns the current unix time.
    """

    def __init__(
        self,
        sessionmaker: sessionmaker[Session],
        keystore: KeyStore,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessionmaker
        self._keystore = keystore
        self._thresholds = settings.thresholds
        self._epoch = settings.epoch_seconds
        self._ahead = settings.keys_ahead
        self._leeway = settings.leeway
        # Published for one epoch after their own; never less than the
        # leeway, so every key that may sign is published (and its truncated
        # id reserved).
        self._grace = max(settings.epoch_seconds, settings.leeway)
        self._clock = clock
        self._signers: dict[str, BlindSigner] = {}
        self._lock = threading.Lock()
        self._lifecycle = KeyLifecycle(
            sessions=sessionmaker,
            keystore=keystore,
            model=TokenKey,
            order=(TokenKey.epoch_start.desc(), TokenKey.threshold, TokenKey.token_key_id),
            retired=lambda key_id, now: events.token_key_retired(token_key_id=key_id, time=now),
            revoked=lambda key_id, now: events.token_key_revoked(token_key_id=key_id, time=now),
            describe=self._describe,
            key_file=lambda key_id: KEY_NAME_PREFIX + key_id,
            cache=self._signers,
            lock=self._lock,
            clock=clock,
        )

    def epoch_start(self, now: float) -> int:
        """The start of the epoch that contains unix time ``now``."""
        return int(now // self._epoch) * self._epoch

    def generate_ahead(self, now: float | None = None) -> builtins.list[str]:
        """Make sure every threshold has an active key in this epoch and the next ``keys_ahead``.

        Returns the ids of the keys created (empty when nothing was missing).
        Each key's truncated id differs from those of every published key.
        Private keys are generated in the key store before their metadata is
        committed and deleted again if the commit fails, so a published key
        always has a private key behind it. Raises ``ConfigurationError`` when
        thresholds times published epochs need more keys than one byte can
        tell apart.
        """
        now = self._clock() if now is None else now
        first = self.epoch_start(now)
        starts = [first + i * self._epoch for i in range(self._ahead + 1)]
        created: builtins.list[str] = []
        try:
            with transaction(self._sessions) as session:
                live = session.scalars(
                    select(TokenKey).where(
                        TokenKey.status != "revoked", TokenKey.not_after + self._grace > now
                    )
                ).all()
                taken = {row.truncated for row in live}
                covered = {
                    (row.threshold, row.epoch_start) for row in live if row.status == "active"
                }
                missing = [
                    (start, threshold)
                    for start in starts
                    for threshold in self._thresholds
                    if (threshold, start) not in covered
                ]
                if len(taken) + len(missing) > _TRUNCATED_IDS:
                    raise ConfigurationError(
                        f"{len(taken) + len(missing)} Privacy Pass token keys would be "
                        f"published at once, more than the {_TRUNCATED_IDS} a one-byte key id "
                        "tells apart; lower AGEVERIFY_KEYS_AHEAD or the number of thresholds"
                    )
                for start, threshold in missing:
                    name, public_key = self._keystore.generate(
                        KeyKind.RSA2048,
                        lambda public: _unique_name(public, taken),
                        new_key=generate_token_key,
                    )
                    token_key_id = name.removeprefix(KEY_NAME_PREFIX)
                    created.append(token_key_id)
                    key_id = jose.b64url_decode(token_key_id)
                    taken.add(key_id[-1])
                    row = TokenKey(
                        token_key_id=token_key_id,
                        truncated=key_id[-1],
                        threshold=threshold,
                        epoch_start=start,
                        not_before=start,
                        not_after=start + self._epoch,
                        status="active",
                        spki=jose.b64url_encode(
                            privacypass.encode_pss_spki(_rsa_public(public_key))
                        ),
                        created_at=int(now),
                    )
                    session.add(row)
                    # Logged in this transaction: the key and its entry commit together.
                    row.log_index = record(
                        session,
                        events.token_key_published(
                            token_key_id=token_key_id,
                            token_key=row.spki,
                            threshold=threshold,
                            not_before=row.not_before,
                            not_after=row.not_after,
                            time=now,
                        ),
                    )
        except BaseException:
            for token_key_id in created:
                self._keystore.delete(KEY_NAME_PREFIX + token_key_id)
            raise
        return created

    def signer(
        self, truncated_id: int, now: float | None = None, *, session: Session | None = None
    ) -> TokenSigner:
        """The key named by ``truncated_id`` if it may sign at ``now``, with its threshold.

        A key signs while active and within its epoch, widened by the clock
        leeway at both ends. The database is asked every time, so a key
        retired or revoked by another process stops signing at once; only the
        ``BlindSigner`` is cached. No such key raises
        ``privacypass-bad-token-key``. Pass ``session`` to read within the
        caller's transaction.
        """
        now = self._clock() if now is None else now
        values = {
            "truncated": truncated_id,
            "late": now + self._leeway,
            "early": now - self._leeway,
        }
        if session is None:
            with self._sessions() as own:
                rows = own.connection().execute(_SIGNING_KEY, values).all()
        else:
            rows = session.connection().execute(_SIGNING_KEY, values).all()
        if not rows:
            raise IssuanceError(
                "privacypass-bad-token-key",
                "No token key of this issuer with this truncated key id signs now.",
            )
        if len(rows) > 1:
            # generate_ahead keeps truncated ids unique among published keys;
            # two at once means the table was changed by hand.
            log.error("two signing token keys share truncated key id %d", truncated_id)
            raise AgeVerifyError("token-keys-unavailable")
        ((token_key_id, threshold),) = rows
        return TokenSigner(self._signer(token_key_id), threshold, token_key_id)

    def published(self, now: float | None = None) -> builtins.list[PublishedTokenKey]:
        """The keys wallets and platforms should know at ``now``, most preferred first.

        Every unrevoked key until one epoch after its own has ended: first the
        active keys signing now, then those of coming epochs, then those that
        no longer sign (past epochs, retired), each group by threshold.
        """
        now = self._clock() if now is None else now
        with self._sessions() as session:
            rows = session.scalars(
                select(TokenKey)
                .where(
                    TokenKey.status != "revoked",
                    TokenKey.not_after + self._grace > now,
                    # Served only once a signed checkpoint covers its log entry.
                    TokenKey.log_index < covered_size_query(),
                )
                .order_by(TokenKey.not_before, TokenKey.threshold, TokenKey.token_key_id)
            ).all()

        def preference(row: TokenKey) -> tuple[int, int]:
            if row.status != "active" or row.not_after <= now:
                return (2, -row.not_before)
            return (0 if row.not_before <= now else 1, row.not_before)

        return [
            PublishedTokenKey(
                row.token_key_id, row.threshold, row.not_before, jose.b64url_decode(row.spki)
            )
            for row in sorted(rows, key=preference)
        ]

    def list(self) -> builtins.list[dict[str, Any]]:
        """Metadata of every token key, newest epoch first (public keys only)."""
        return self._lifecycle.list()

    def retire(self, token_key_id: str, now: float | None = None) -> dict[str, Any]:
        """Stop ``token_key_id`` signing; it stays published as long as it would have.

        Run ``generate_ahead`` afterwards to replace it in its epoch. Raises
        ``unknown-key`` for an unknown id and ``conflict`` for a revoked key.
        """
        return self._lifecycle.retire(token_key_id, now)

    def revoke(self, token_key_id: str, now: float | None = None) -> dict[str, Any]:
        """Unpublish ``token_key_id`` at once and delete its private key.

        Tokens it signed stop verifying once platforms refresh the directory.
        Raises ``unknown-key`` for an unknown id.
        """
        return self._lifecycle.revoke(token_key_id, now)

    def _signer(self, token_key_id: str) -> BlindSigner:
        signer = self._signers.get(token_key_id)
        if signer is not None:
            return signer
        with self._lock:
            signer = self._signers.get(token_key_id)
            if signer is None:
                # Loading and checking the key costs tens of milliseconds: once per process.
                signer = _load_token_key(self._keystore, KEY_NAME_PREFIX + token_key_id)
                self._signers[token_key_id] = signer
            return signer

    def _describe(self, row: TokenKey) -> dict[str, Any]:
        return {
            "token_key_id": row.token_key_id,
            "truncated_token_key_id": row.truncated,
            "token_type": privacypass.TOKEN_TYPE_BLIND_RSA,
            "threshold": row.threshold,
            "status": row.status,
            "epoch_start": row.epoch_start,
            "not_before": row.not_before,
            "not_after": row.not_after,
            "published_until": row.not_after + self._grace,
            "created_at": row.created_at,
            "retired_at": row.retired_at,
            "revoked_at": row.revoked_at,
        }


def _rsa_public(public_key: StoredPublicKey) -> rsa.RSAPublicKey:
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyStoreError("a Privacy Pass token key is not an RSA key")
    return public_key


def _unique_name(public_key: StoredPublicKey, taken: set[int]) -> str | None:
    """``pp-<token key id>`` for a new key, or None when its truncated id is in ``taken``."""
    key_id = privacypass.token_key_id(_rsa_public(public_key))
    if key_id[-1] in taken:
        return None
    return KEY_NAME_PREFIX + jose.b64url_encode(key_id)


def _load_token_key(keystore: KeyStore, name: str) -> BlindSigner:
    """The blind signer of the token key ``name``; not RSA-2048: ``KeyStoreError``."""
    return blind_signer(keystore, name, modulus_bits=privacypass.MODULUS_BITS)


class TokenIssuer:
    """Signs blinded token requests for holders of a valid age credential.

    ``settings`` supply the issuer URL, leeway and daily quota; ``sessionmaker``
    opens database sessions; ``token_keys`` holds the token keys;
    ``credential_keys(now)`` returns the ``kid -> public key`` lookup of the
    issuer's published credential signing keys (its JWKS); ``clock`` returns
    the current unix time.
    """

    def __init__(
        self,
        settings: Settings,
        sessionmaker: sessionmaker[Session],
        token_keys: TokenKeys,
        credential_keys: Callable[[float], Callable[[str], PublicKey | None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._sessions = sessionmaker
        self._token_keys = token_keys
        self._credential_keys = credential_keys
        self._clock = clock
        self._next_purge = 0.0

    def new_nonce(self) -> tuple[str, int]:
        """A fresh nonce for a token request's presentation and its lifetime in seconds.

        The nonce is stored, so that any worker can consume it once.
        """
        now = self._clock()
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        with transaction(self._sessions) as session:
            session.add(IssuerNonce(nonce=nonce, expires_at=int(now) + NONCE_LIFETIME, used=False))
            self._purge(session, now)
        return nonce, NONCE_LIFETIME

    def issue(self, token_request: bytes, presentation: str) -> bytes:
        """Sign the blinded message of ``token_request`` for the holder of ``presentation``.

        ``token_request`` is the body of the request (TokenRequest bytes),
        ``presentation`` the SD-JWT+KB of its Authorization header. Returns
        the TokenResponse bytes. Raises, in the order checked:

        - ``privacypass-unsupported-token-type`` or ``privacypass-malformed``
          (422) for a body that is not a type 0x0002 TokenRequest;
        - ``privacypass-bad-token-key`` (422) when no key with its truncated
          id signs now;
        - :class:`UnauthorizedError` (401) with the presentation's own code
          when it does not verify against the issuer's keys with the issuer
          URL as audience, ``requirement-not-disclosed`` when it does not
          disclose ``age_over_<threshold>`` for the key's threshold, and
          ``nonce-unknown``, ``nonce-expired`` or ``nonce-reused`` when its
          nonce is not a live issuer nonce;
        - ``requirement-not-met`` (403) when the disclosed fact is false;
        - ``token-quota-exceeded`` (429) when the credential has had its
          tokens for the UTC day;
        - ``blind-rsa-blinded-message-range`` (422) for a blinded message
          not below the key's modulus.
        """
        settings = self._settings
        request = privacypass.TokenRequest.decode(token_request)
        now = self._clock()
        # Read before the transaction: the JWKS has its own session.
        keys = self._credential_keys(now)
        with transaction(self._sessions) as session:
            signing = self._token_keys.signer(request.truncated_token_key_id, now, session=session)
            nonce = _claimed_nonce(presentation)
            try:
                verified = sdjwt.verified_presentation(
                    presentation,
                    keys=keys,
                    issuer=settings.issuer_url,
                    audience=settings.issuer_url,
                    nonce=nonce,
                    now=now,
                    leeway=settings.leeway,
                    kb_max_age=NONCE_LIFETIME,
                )
                sdjwt.check_requirement(verified.facts, signing.threshold, None, None)
            except AgeVerifyError as error:
                if error.code == "requirement-not-met":
                    raise
                raise UnauthorizedError(error.code, error.description) from None
            self._consume(session, nonce, now)
            self._count(session, _credential_hash(presentation), now)
            blind_sig = signing.signer.sign(request.blinded_msg)
        return privacypass.TokenResponse(blind_sig=blind_sig).encode()

    def metadata(self) -> dict[str, Any]:
        """The ``privacy_pass`` member of the discovery document.

        Endpoint URLs, the RFC 9577 issuer name, and each published token key
        (by unpadded base64url id) with its threshold and ``not_before``.
        """
        issuer = self._settings.issuer_url
        return {
            "directory": issuer + privacypass.DIRECTORY_PATH,
            "token_request": issuer + TOKEN_REQUEST_PATH,
            "nonce": issuer + NONCE_PATH,
            "issuer_name": issuer_name(issuer),
            "token_keys": {
                key.token_key_id: {"threshold": key.threshold, "not_before": key.not_before}
                for key in self._token_keys.published(self._clock())
            },
        }

    def directory(self) -> bytes:
        """The RFC 9578 issuer directory (JSON bytes) of the published token keys.

        Raises ``token-keys-unavailable`` when no key is published.
        """
        keys = self._token_keys.published(self._clock())
        if not keys:
            raise AgeVerifyError("token-keys-unavailable")
        return privacypass.build_directory(
            self._settings.issuer_url + TOKEN_REQUEST_PATH,
            [
                privacypass.DirectoryKey(token_key=key.spki, not_before=key.not_before)
                for key in keys
            ],
        )

    def _consume(self, session: Session, nonce: str, now: float) -> None:
        connection = session.connection()
        consumed = connection.execute(_CONSUME_NONCE, {"k_nonce": nonce, "k_now": int(now)})
        if consumed.rowcount == 1:
            return
        row = session.get(IssuerNonce, nonce)
        if row is None:
            raise UnauthorizedError("nonce-unknown")
        if row.used:
            raise UnauthorizedError("nonce-reused")
        raise UnauthorizedError("nonce-expired")

    def _count(self, session: Session, credential: str, now: float) -> None:
        connection = session.connection()
        key = {
            "k_credential": credential,
            "k_day": _day(now),
            "k_quota": self._settings.token_daily_quota,
        }
        if connection.execute(_COUNT_TOKEN, key).rowcount == 1:
            return
        if session.get(TokenQuota, (credential, key["k_day"])) is None:
            try:
                # A concurrent first request of the day may insert the row
                # first; the savepoint keeps our transaction usable if so.
                with connection.begin_nested():
                    connection.execute(
                        insert(_quotas), {"credential": credential, "day": key["k_day"], "count": 1}
                    )
                return
            except IntegrityError:
                if connection.execute(_COUNT_TOKEN, key).rowcount == 1:
                    return
        raise AgeVerifyError("token-quota-exceeded")

    def _purge(self, session: Session, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_INTERVAL
        connection = session.connection()
        connection.execute(delete(_nonces).where(_nonces.c.expires_at < int(now)))
        connection.execute(delete(_quotas).where(_quotas.c.day < _day(now)))


def _day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def _claimed_nonce(presentation: str) -> str:
    """The nonce the presentation's Key Binding JWT claims, unverified ("" if none).

    Only to know which issuer nonce to consume: the presentation is then
    verified against exactly this nonce, so a nonce the holder did not sign
    never gets that far.
    """
    if not isinstance(presentation, str):
        return ""
    try:
        _, payload, _, _ = jose.decode_compact(
            presentation.rpartition("~")[2], max_size=sdjwt.MAX_PRESENTATION_SIZE
        )
    except AgeVerifyError:
        return ""
    nonce = payload.get("nonce")
    return nonce if isinstance(nonce, str) else ""


def _credential_hash(presentation: str) -> str:
    """Hex SHA-256 of the signed part (header and payload) of a verified presentation's credential.

    The quota key: the same credential always gives the same value, and the
    value names nobody (the issuer keeps no record of what it signed). Not
    the signature: an ECDSA signature (r, s) has a twin (r, n - s) that
    anyone can compute and that verifies too, which would be a second quota.
    """
    issuer_jwt = presentation.partition("~")[0]
    return hashlib.sha256(issuer_jwt.rpartition(".")[0].encode("ascii")).hexdigest()
