"""Error codes of ageverify: one exception type carrying a stable code.

Codes are part of the wire format: they are only ever added to, never renamed
or reused. Every error knows its HTTP status, so the web layer renders any of
them with one handler and no Flask import is needed here.
"""

from __future__ import annotations

# code -> (HTTP status, default description). Grouped by where they arise.
CODES: dict[str, tuple[int, str]] = {
    # Request envelope (web layer).
    "malformed-json": (400, "The body is not valid JSON."),
    "invalid-request": (400, "The request is missing a member or has one of the wrong type."),
    "unsupported-media-type": (415, "The body must be sent as application/json."),
    "payload-too-large": (413, "The request body is larger than this endpoint accepts."),
    "not-found": (404, "There is nothing at this path."),
    "method-not-allowed": (405, "This path does not accept this method."),
    "unauthorized": (401, "A valid bearer token is required."),
    "conflict": (409, "The resource already exists."),
    "unknown-verifier-record": (404, "No verifier is registered under this id."),
    "unknown-key": (404, "No key is known under this kid."),
    "unknown-admin-token": (404, "No admin token is known under this id."),
    "internal-error": (500, "The server failed; the request id identifies the failure in its log."),
    "unavailable": (503, "The service cannot answer right now; try again."),
    "storage-full": (
        503,
        "The issuer's storage is full: nothing of this request was recorded; try again later.",
    ),
    # Strict JSON and base64url, wherever a token is parsed.
    "json-invalid": (400, "A token part is not valid JSON."),
    "json-duplicate-member": (400, "A JSON object repeats a member name."),
    "json-too-deep": (400, "A JSON value is nested too deeply."),
    "json-not-utf8": (400, "A JSON text is not valid UTF-8."),
    "base64url-invalid": (400, "A token part is not canonical unpadded base64url."),
    # Compact JWS (any token kind).
    "jws-malformed": (400, "The token is not a compact JWS of three parts."),
    "jws-too-large": (413, "The token is larger than accepted."),
    "jws-forbidden-header": (
        400,
        "The JOSE header carries a member that is never accepted (crit, jwk, jku, x5u, x5c, ...).",
    ),
    # Verifier attestations (issuance intake).
    "attestation-malformed": (400, "The attestation is not a well-formed age attestation."),
    "attestation-bad-type": (400, "The attestation's typ is not age-attestation+jwt."),
    "attestation-bad-algorithm": (
        400,
        "The attestation's alg is not allowed for this verifier key.",
    ),
    "attestation-unknown-verifier": (403, "The attestation's iss is not a registered verifier."),
    "attestation-verifier-suspended": (
        403,
        "The verifier that signed this attestation is suspended.",
    ),
    "attestation-unknown-key": (
        403,
        "The attestation's kid is not a registered key of its verifier.",
    ),
    "attestation-bad-signature": (403, "The attestation's signature does not verify."),
    "attestation-wrong-audience": (403, "The attestation is addressed to another issuer."),
    "attestation-bad-lifetime": (
        400,
        "The attestation's exp - iat must be more than 0 and at most 600 seconds.",
    ),
    "attestation-expired": (403, "The attestation has expired."),
    "attestation-not-yet-valid": (403, "The attestation's iat is in the future."),
    "attestation-replayed": (409, "This attestation (jti) has already been used."),
    "attestation-method-not-allowed": (
        403,
        "The verifier is not accredited for this verification method.",
    ),
    "attestation-personal-data": (
        400,
        "The attestation carries claims other than age facts; personal data is never accepted.",
    ),
    "attestation-bad-claims": (400, "The attestation's claims have the wrong type or values."),
    # Holder keys sent for issuance.
    "holder-keys-invalid": (
        400,
        "holder_keys must be a list of 1 to the batch limit of distinct P-256 public JWKs.",
    ),
    "holder-key-private": (400, "A holder key carries private key members; send public keys only."),
    "holder-keys-duplicate": (400, "holder_keys repeats a key."),
    "no-signing-key": (503, "No credential signing key is available for the current epoch."),
    # Presentation verification (SDK and /v1/presentations/verify).
    "presentation-malformed": (400, "The presentation is not an SD-JWT with key binding."),
    "presentation-too-large": (413, "The presentation is larger than accepted."),
    "credential-bad-type": (400, "The credential's typ is not dc+sd-jwt."),
    "credential-bad-algorithm": (400, "The credential's alg is not ES256."),
    "credential-unknown-key": (400, "The credential's kid is not a key of this issuer."),
    "credential-bad-signature": (400, "The credential's signature does not verify."),
    "credential-wrong-issuer": (400, "The credential was issued by another issuer."),
    "credential-expired": (400, "The credential has expired."),
    "credential-not-yet-valid": (400, "The credential's iat is in the future."),
    "credential-bad-claims": (400, "The credential's claims have the wrong type or values."),
    "disclosure-malformed": (
        400,
        "A disclosure is not a base64url JSON array [salt, name, value].",
    ),
    "disclosure-unreferenced": (400, "A disclosure's digest is not in the credential."),
    "disclosure-duplicate": (400, "A disclosure is sent twice."),
    "disclosure-reserved-name": (400, "A disclosure uses a reserved claim name."),
    "disclosure-conflict": (400, "A disclosure names a claim the credential already carries."),
    "digest-duplicate": (400, "The credential lists a digest twice."),
    "key-binding-missing": (
        400,
        "The presentation has no Key Binding JWT; key binding is always required.",
    ),
    "key-binding-bad-type": (400, "The Key Binding JWT's typ is not kb+jwt."),
    "key-binding-bad-algorithm": (400, "The Key Binding JWT's alg is not ES256."),
    "key-binding-bad-signature": (
        400,
        "The Key Binding JWT is not signed by the credential's holder key.",
    ),
    "key-binding-bad-claims": (400, "The Key Binding JWT's claims have the wrong type or values."),
    "key-binding-wrong-audience": (400, "The presentation is addressed to another audience."),
    "key-binding-wrong-nonce": (400, "The presentation answers another nonce."),
    "key-binding-stale": (400, "The Key Binding JWT's iat is outside the accepted window."),
    "sd-hash-mismatch": (400, "sd_hash does not match the presented credential and disclosures."),
    "nonce-unknown": (400, "The nonce was never issued by this verifier."),
    "nonce-expired": (400, "The nonce has expired."),
    "nonce-reused": (400, "The nonce has already been used."),
    "requirement-invalid": (
        400,
        "The age requirement cannot be expressed with the issuer's thresholds.",
    ),
    "requirement-not-disclosed": (
        400,
        "The presentation does not disclose the age fact the requirement needs.",
    ),
    "requirement-not-met": (403, "The presented age facts do not meet the requirement."),
    "issuer-unreachable": (503, "The issuer's metadata or keys could not be fetched."),
    # Privacy Pass (RFC 9577, RFC 9578 token type 0x0002). RFC 9578 section 6.2
    # answers a bad TokenRequest with 422, hence the status of the structure codes.
    "privacypass-malformed": (
        422,
        "A Privacy Pass structure has the wrong length, layout or field values.",
    ),
    "privacypass-unsupported-token-type": (
        422,
        "The Privacy Pass token type is not 0x0002 (Blind RSA, 2048-bit).",
    ),
    "privacypass-bad-token-key": (
        422,
        "The token key is not a 2048-bit RSA key in the RSASSA-PSS SubjectPublicKeyInfo "
        "encoding of RFC 9578 section 6.5.",
    ),
    "privacypass-header-malformed": (
        401,
        "The PrivateToken authentication header is not well-formed.",
    ),
    "privacypass-directory-invalid": (
        502,
        "The Privacy Pass issuer directory is not well-formed.",
    ),
    # RSA blind signatures (RFC 9474), ageverify.crypto.blindrsa. The signer's
    # refusals use 422 like the Privacy Pass structure codes above; the holder's
    # errors arise in the wallet and never reach the issuer.
    "blind-rsa-blinded-message-length": (
        422,
        "The blinded message is not exactly as long as the key's modulus.",
    ),
    "blind-rsa-blinded-message-range": (
        422,
        "The blinded message, read as an integer, is not less than the key's modulus.",
    ),
    "blind-rsa-signing-failure": (
        500,
        "The blind signature failed the signer's own check and was withheld.",
    ),
    "blind-rsa-unsupported-key": (
        400,
        "The RSA key's modulus is shorter than the 2048 bits blind signatures require.",
    ),
    "blind-rsa-invalid-input": (
        400,
        "The encoded message shares a factor with the key's modulus and cannot be blinded.",
    ),
    "blind-rsa-blinding-error": (500, "The blinding factor has no inverse modulo the modulus."),
    "blind-rsa-blind-signature-length": (
        400,
        "The blind signature is not exactly as long as the key's modulus.",
    ),
    "blind-rsa-invalid-signature": (
        400,
        "The RSA blind signature does not verify as RSASSA-PSS (SHA-384, 48-byte salt).",
    ),
    # Privacy Pass issuance (POST /v1/privacy-pass/token-request, ageverify.issuer.tokens).
    # A token request is authorised by a credential presentation addressed to
    # the issuer; its refusals answer 401 with the presentation's own code (see
    # UnauthorizedError), and these name what is wrong with the header itself.
    "token-authorization-missing": (
        401,
        'A token request needs Authorization: AgeCredential presentation="<SD-JWT+KB>".',
    ),
    "token-authorization-malformed": (
        401,
        'The Authorization header is not AgeCredential presentation="<SD-JWT+KB>".',
    ),
    "token-quota-exceeded": (
        429,
        "This credential has had its tokens for the day; try again after midnight UTC.",
    ),
    "token-keys-unavailable": (
        503,
        "The issuer has no Privacy Pass token key for the current epoch.",
    ),
    # Privacy Pass tokens (ageverify.sdk.tokens): a platform redeeming tokens,
    # a wallet answering challenges. 401 as in RFC 9577 section 2.2: the
    # platform answers a refused token with a new challenge.
    "token-missing": (401, "The request carries no PrivateToken credentials."),
    "token-wrong-key": (
        401,
        "The token is not signed with a token key of the required age threshold.",
    ),
    "token-unknown-challenge": (
        401,
        "The token answers no challenge this platform issued, or one that has expired.",
    ),
    "token-bad-signature": (401, "The token's signature does not verify."),
    "token-replayed": (401, "This token has already been redeemed."),
    "token-no-key": (503, "No token key of the issuer is known for this age threshold."),
    "token-challenge-unusable": (
        400,
        "The WWW-Authenticate header offers no PrivateToken challenge this wallet can answer.",
    ),
    # Replay stores shared by several processes (ageverify.sdk.stores on Redis).
    # A store that cannot answer refuses: a nonce or token is never accepted
    # on the strength of a lookup that did not happen.
    "replay-store-unavailable": (
        503,
        "The replay store cannot be reached; nothing single-use is accepted until it is back.",
    ),
    # Rate limits on the issuer's endpoints (ageverify.web).
    "rate-limited": (429, "Too many requests from this client; wait before trying again."),
    # The platform gate (ageverify.platform): a platform asking a browser or an
    # API client for a proof of age, and receiving it at its callback.
    "age-proof-required": (
        401,
        "This page needs a proof of age: answer the WWW-Authenticate challenge, "
        "or follow the redirect to a wallet.",
    ),
    "age-authorization-malformed": (
        401,
        'The Authorization header is not AgeCredential presentation="...", nonce="..." '
        'or PrivateToken token="...".',
    ),
    "callback-malformed": (
        400,
        "The callback needs a JSON object with a presentation or a token and the nonce it answers.",
    ),
    "presentation-request-unknown": (
        400,
        "This browser session started no presentation request with this nonce, "
        "or it has expired: start again from the page you wanted.",
    ),
    "presentation-declined": (400, "The person chose not to share a proof of age."),
    "age-challenge-unusable": (
        400,
        "The WWW-Authenticate header offers no AgeCredential challenge this wallet can answer.",
    ),
    # Transparency log encodings (ageverify.translog: C2SP signed-note,
    # tlog-checkpoint, tlog-tiles). They arise mostly in an auditor reading what
    # a log served; a server parsing a tile path answers 404 for a path that
    # names no resource.
    "note-malformed": (
        400,
        "The signed note is not well-formed (C2SP signed-note): text, blank line, signature lines.",
    ),
    "note-key-invalid": (
        400,
        "The note key is not a valid Ed25519 verifier key name+keyid+base64, or its name is bad.",
    ),
    "note-unverified": (403, "No signature on the note is by a known key."),
    "note-bad-signature": (403, "A signature on the note by a known key does not verify."),
    "checkpoint-malformed": (
        400,
        "The note text is not a C2SP checkpoint: origin, tree size, root hash, extension lines.",
    ),
    "checkpoint-wrong-origin": (403, "The checkpoint is for another log origin."),
    "tile-path-invalid": (404, "The path is not a canonical tlog-tiles tile or entry bundle path."),
    "tile-malformed": (400, "The hash tile is not the expected number of 32-byte hashes."),
    "entry-bundle-malformed": (
        400,
        "The entry bundle is not the expected number of uint16 length-prefixed entries.",
    ),
    # Transparency log Merkle proofs (ageverify.translog.merkle, RFC 9162).
    # Every failed check of a proof carries the one code of its proof kind,
    # whatever the defect, so callers branch on the kind and not on the detail.
    "log-inclusion-invalid": (
        400,
        "The inclusion proof does not prove the entry is in the log at that size and root.",
    ),
    "log-consistency-invalid": (
        400,
        "The consistency proof does not prove the newer log extends the older one.",
    ),
    "log-range-invalid": (400, "The leaf index or tree sizes asked for are outside the log."),
    # Serving the issuer's own transparency log (ageverify.translog.log).
    "log-tile-not-found": (
        404,
        "The log has no such tile or entry bundle yet: no signed checkpoint covers it.",
    ),
    "log-unavailable": (503, "The transparency log has no signed checkpoint to serve yet."),
}


class AgeVerifyError(Exception):
    """An error with a stable ``code``, an HTTP ``status`` and a safe ``description``.

    ``description`` is shown to callers: it never holds secrets, tokens or
    personal data. Pass ``description`` only to say more than the default.
    """

    def __init__(self, code: str, description: str | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        status, default = CODES[code]
        self.code = code
        self.status = status
        self.description = description or default
        super().__init__(f"{code}: {self.description}")

    def as_dict(self) -> dict[str, str]:
        """The JSON body rendered for this error."""
        return {"code": self.code, "description": self.description}


class VerificationError(AgeVerifyError):
    """A presentation, credential or token did not verify."""


class IssuanceError(AgeVerifyError):
    """An issuance request (attestation or holder keys) was refused."""


class UnauthorizedError(AgeVerifyError):
    """A request's authorization was refused: status 401, whatever the code's own status.

    Token requests are authorised by a credential presentation; when it fails,
    the client gets the presentation's code (``key-binding-wrong-audience``,
    ``nonce-reused``, ...) to branch on, and the status that says "this
    request is not authorised" (RFC 9110 section 15.5.2).
    """

    def __init__(self, code: str, description: str | None = None) -> None:
        super().__init__(code, description)
        self.status = 401


class ConfigurationError(Exception):
    """Settings are missing or unsafe; the message says what to set."""


class KeyStoreError(Exception):
    """A key file is missing, unreadable, or readable by others."""


class LogProofError(AgeVerifyError):
    """A transparency log proof did not verify, or was asked for outside the log."""
