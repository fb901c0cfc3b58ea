// The wallet's protocol, without a page: base64url, JWT and SD-JWT parsing,
// presentation requests (what a platform asks) and answers (what goes back to
// its callback), the choice of credential per audience, disclosure selection
// and the Key Binding JWT of RFC 9901.
//
// Nothing here touches the DOM, IndexedDB or the network: keys and HMACs are
// passed in as WebCrypto CryptoKey objects, so the same module runs in the
// browser page and under Node (tests in interop/wallet_*.mjs). Every refusal
// is a WalletError whose `code` is one of REFUSALS.

export const REQUEST_VERSION = 1;
export const MODES = Object.freeze(['credential', 'privacy-pass']);
export const BATCH_SIZE = 10;
export const CREDENTIAL_TYP = 'dc+sd-jwt';
export const KB_TYP = 'kb+jwt';
export const KB_ALG = 'ES256';
export const AGE_CLAIM_PREFIX = 'age_over_';
// A request travels in a URL fragment; anything longer is not one of ours.
export const MAX_REQUEST_LENGTH = 8192;
export const MAX_NAME_LENGTH = 100;
export const MAX_NONCE_LENGTH = 512;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why the wallet refuses something, in words a person can read. Codes are only ever added to. */
export const REFUSALS = Object.freeze({
    'request-malformed': 'The site sent a request this wallet cannot read.',
    'request-unsupported': 'The site asked for something this wallet does not support.',
    'request-wrong-issuer':
        'The site asked for a proof from another issuer than the one that runs this wallet.',
    'request-callback-not-audience':
        'The site asked to send the answer to another site than itself.',
    'request-callback-insecure':
        'The site asked to send the answer over an unencrypted connection.',
    'attestation-malformed': 'The age check result this page received cannot be read.',
    'credentials-malformed': 'The issuer answered with credentials this wallet cannot use.',
    'requirement-not-met': 'The credentials in this wallet cannot prove what the site asks.',
    'token-unavailable': 'The issuer could not provide an anonymous token right now.',
});

/** A refusal with a stable `code` (a key of REFUSALS) and a plain-words message. */
export class WalletError extends Error {
    constructor(code, detail) {
        super(REFUSALS[code] ?? code);
        this.name = 'WalletError';
        this.code = code;
        this.detail = detail;
    }
}

// --- bytes and text ------------------------------------------------------------

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_VALUES = new Map([...B64URL].map((char, index) => [char, index]));

/** UTF-8 bytes of `text`. */
export function utf8(text) {
    return encoder.encode(text);
}

/** Unpadded base64url of `bytes` (a Uint8Array or ArrayBuffer). */
export function b64urlEncode(bytes) {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let out = '';
    for (let i = 0; i < data.length; i += 3) {
        const n = (data[i] << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
        const chars = Math.min(4, Math.ceil(((data.length - i) * 8) / 6));
        for (let j = 0; j < chars; j += 1) {
            out += B64URL[(n >> (18 - 6 * j)) & 63];
        }
    }
    return out;
}

/**
 * Decode canonical unpadded base64url, as the issuer does: only the base64url
 * alphabet, no padding, unused trailing bits zero. Anything else throws
 * WalletError(`code`).
 */
export function b64urlDecode(text, code = 'request-malformed') {
    if (typeof text !== 'string' || text.length % 4 === 1) {
        throw new WalletError(code, 'not base64url');
    }
    const out = new Uint8Array(Math.floor((text.length * 3) / 4));
    let bits = 0;
    let value = 0;
    let index = 0;
    for (const char of text) {
        const digit = B64URL_VALUES.get(char);
        if (digit === undefined) {
            throw new WalletError(code, 'not base64url');
        }
        value = (value << 6) | digit;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[index] = (value >> bits) & 0xff;
            index += 1;
            value &= (1 << bits) - 1;
        }
    }
    if (value !== 0) {
        throw new WalletError(code, 'non-canonical base64url');
    }
    return out;
}

/** The JSON value in the base64url text `part` (strict UTF-8), else WalletError(`code`). */
export function decodeJsonPart(part, code) {
    let text;
    try {
        text = strictDecoder.decode(b64urlDecode(part, code));
    } catch (error) {
        if (error instanceof WalletError) throw error;
        throw new WalletError(code, 'not UTF-8');
    }
    try {
        return JSON.parse(text);
    } catch {
        throw new WalletError(code, 'not JSON');
    }
}

function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value) {
    return typeof value === 'number' && Number.isInteger(value);
}

/** SHA-256 of `bytes`, as a Uint8Array. */
export async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

// --- JWS, attestations, credentials --------------------------------------------

/**
 * Split a compact JWS and decode its header and payload, WITHOUT checking the
 * signature: for showing what a token says, never for trusting it.
 */
export function readJws(compact, code) {
    if (typeof compact !== 'string') {
        throw new WalletError(code, 'not a string');
    }
    const parts = compact.split('.');
    if (parts.length !== 3 || parts.some((part) => part.length === 0)) {
        throw new WalletError(code, 'not a compact JWS');
    }
    const header = decodeJsonPart(parts[0], code);
    const payload = decodeJsonPart(parts[1], code);
    if (!isObject(header) || !isObject(payload)) {
        throw new WalletError(code, 'header and payload must be objects');
    }
    return { header, payload };
}

/** The threshold in an `age_over_NN` claim name (no leading zeros, 0-999), else null. */
export function parseAgeClaim(name) {
    if (typeof name !== 'string' || !name.startsWith(AGE_CLAIM_PREFIX)) return null;
    const digits = name.slice(AGE_CLAIM_PREFIX.length);
    return /^(0|[1-9][0-9]{0,2})$/.test(digits) ? Number(digits) : null;
}

/**
 * What a verifier attestation says, decoded from its payload without trusting
 * it (the issuer checks it): `{verifier, method, exp, facts}` where facts maps
 * `age_over_NN` to booleans, in threshold order.
 */
export function readAttestation(compact) {
    const code = 'attestation-malformed';
    if (typeof compact !== 'string' || compact.length > MAX_REQUEST_LENGTH) {
        throw new WalletError(code, 'too long');
    }
    const { payload } = readJws(compact, code);
    const ageOver = payload.age_over;
    if (!isObject(ageOver)) {
        throw new WalletError(code, 'no age_over');
    }
    const facts = {};
    const thresholds = Object.keys(ageOver)
        .map((key) => [parseAgeClaim(`${AGE_CLAIM_PREFIX}${key}`), ageOver[key]])
        .filter(([threshold, value]) => threshold !== null && typeof value === 'boolean')
        .sort((a, b) => a[0] - b[0]);
    for (const [threshold, value] of thresholds) {
        facts[`${AGE_CLAIM_PREFIX}${threshold}`] = value;
    }
    if (Object.keys(facts).length === 0) {
        throw new WalletError(code, 'no age facts');
    }
    return {
        verifier: typeof payload.iss === 'string' ? payload.iss : '',
        method: typeof payload.method === 'string' ? payload.method : '',
        exp: isInteger(payload.exp) ? payload.exp : null,
        facts,
    };
}

/**
 * Parse an SD-JWT credential `<issuer-jwt>~<disclosure>~...~` as issued and
 * check what the wallet relies on: typ dc+sd-jwt, iss, exp, cnf.jwk, and that
 * every disclosure is an [salt, age_over_NN, boolean] array whose digest is in
 * `_sd`. Returns `{text, issuerJwt, issuer, iat, exp, jwk, disclosures, facts}`
 * where each disclosure is `{text, name, value}`. The issuer's signature is
 * left to the platforms, which hold its keys.
 */
export async function parseCredential(text) {
    const code = 'credentials-malformed';
    if (typeof text !== 'string' || !text.endsWith('~') || text.length > 16384) {
        throw new WalletError(code, 'not an SD-JWT without key binding');
    }
    const [issuerJwt, ...rest] = text.split('~');
    const texts = rest.slice(0, -1);
    const { header, payload } = readJws(issuerJwt, code);
    if (header.typ !== CREDENTIAL_TYP) {
        throw new WalletError(code, 'not a dc+sd-jwt');
    }
    const jwk = payload.cnf?.jwk;
    if (
        typeof payload.iss !== 'string' ||
        !isInteger(payload.exp) ||
        !isObject(jwk) ||
        !Array.isArray(payload._sd) ||
        payload._sd_alg !== 'sha-256'
    ) {
        throw new WalletError(code, 'missing claims');
    }
    const digests = new Set(payload._sd);
    const disclosures = [];
    const facts = {};
    for (const disclosure of texts) {
        const decoded = decodeJsonPart(disclosure, code);
        if (!Array.isArray(decoded) || decoded.length !== 3) {
            throw new WalletError(code, 'a disclosure is not [salt, name, value]');
        }
        const [, name, value] = decoded;
        if (parseAgeClaim(name) === null || typeof value !== 'boolean' || name in facts) {
            throw new WalletError(code, 'a disclosure is not a single age fact');
        }
        if (!digests.has(b64urlEncode(await sha256(utf8(disclosure))))) {
            throw new WalletError(code, 'a disclosure is not in _sd');
        }
        facts[name] = value;
        disclosures.push({ text: disclosure, name, value });
    }
    return {
        text,
        issuerJwt,
        issuer: payload.iss,
        iat: isInteger(payload.iat) ? payload.iat : null,
        exp: payload.exp,
        jwk,
        disclosures,
        facts,
    };
}

// --- holder keys ---------------------------------------------------------------

/**
 * A fresh holder key pair: a NON-extractable ECDSA P-256 private key and the
 * public JWK the issuer wants, with exactly kty, crv, x and y.
 */
export async function generateHolderKey() {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
        'sign',
    ]);
    const full = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const publicJwk = { kty: 'EC', crv: 'P-256', x: full.x, y: full.y };
    return { privateKey: pair.privateKey, publicJwk };
}

/** A fresh NON-extractable HMAC-SHA256 key: the wallet's secret for choosing credentials. */
export function generateAudienceKey() {
    return crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/**
 * Check issued `credentials` (texts) against the `publicJwks` sent, in the same
 * order, and the wallet's `issuer`. Returns the parsed credentials; any
 * mismatch throws WalletError('credentials-malformed') and nothing is kept.
 */
export async function acceptCredentials(credentials, publicJwks, issuer) {
    if (!Array.isArray(credentials) || credentials.length !== publicJwks.length) {
        throw new WalletError('credentials-malformed', 'one credential per key');
    }
    const parsed = [];
    for (const [index, text] of credentials.entries()) {
        const credential = await parseCredential(text);
        const sent = publicJwks[index];
        const bound = credential.jwk;
        if (credential.issuer !== issuer) {
            throw new WalletError('credentials-malformed', 'another issuer');
        }
        if (
            bound.kty !== 'EC' ||
            bound.crv !== 'P-256' ||
            bound.x !== sent.x ||
            bound.y !== sent.y
        ) {
            throw new WalletError('credentials-malformed', 'bound to another key');
        }
        parsed.push(credential);
    }
    return parsed;
}

// --- presentation requests -----------------------------------------------------

/** Whether `callback` may receive an answer: https, or http to a loopback host. */
export function isSecureCallback(url) {
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

function ageOrNull(value) {
    return value === null || value === undefined || (isInteger(value) && value >= 0 && value < 999);
}

/**
 * Read the presentation request in the fragment value `encoded` (base64url of
 * UTF-8 JSON, see the platform gate) for the wallet of `walletOrigin`.
 *
 * Refuses, in this order: anything unreadable or not of the documented shape
 * (`request-malformed`), an unknown version or mode (`request-unsupported`),
 * an issuer that is not this wallet's origin (`request-wrong-issuer`), a
 * callback on another origin than `aud` (`request-callback-not-audience`: a
 * presentation only ever goes to the site it is addressed to) and a callback
 * that is not https, except http to 127.0.0.1, localhost or [::1]
 * (`request-callback-insecure`). Returns the request with `needed`, the
 * claims it asks for (as sdjwt.requirement_claims computes them).
 */
export function parseRequest(encoded, walletOrigin) {
    const code = 'request-malformed';
    if (typeof encoded !== 'string' || encoded.length === 0) {
        throw new WalletError(code, 'empty');
    }
    if (encoded.length > MAX_REQUEST_LENGTH) {
        throw new WalletError(code, 'too long');
    }
    const request = decodeJsonPart(encoded, code);
    if (!isObject(request)) {
        throw new WalletError(code, 'not an object');
    }
    const { v, mode, issuer, aud, nonce, callback, name } = request;
    const minAge = request.min_age ?? null;
    const maxAge = request.max_age ?? null;
    if (
        typeof issuer !== 'string' ||
        typeof aud !== 'string' ||
        typeof callback !== 'string' ||
        typeof nonce !== 'string' ||
        nonce.length === 0 ||
        nonce.length > MAX_NONCE_LENGTH ||
        /[^\x21-\x7e]/.test(nonce) ||
        typeof name !== 'string' ||
        name.trim().length === 0 ||
        name.length > MAX_NAME_LENGTH ||
        !ageOrNull(minAge) ||
        !ageOrNull(maxAge) ||
        (minAge === null && maxAge === null) ||
        (minAge !== null && maxAge !== null && minAge > maxAge)
    ) {
        throw new WalletError(code, 'missing or mistyped members');
    }
    if (v !== REQUEST_VERSION || !MODES.includes(mode)) {
        throw new WalletError('request-unsupported', 'version or mode');
    }
    let threshold = null;
    let challenge = null;
    if (mode === 'privacy-pass') {
        threshold = request.threshold;
        challenge = request.challenge;
        if (
            !isInteger(threshold) ||
            threshold < 0 ||
            threshold > 999 ||
            typeof challenge !== 'string' ||
            challenge.length === 0 ||
            challenge.length > MAX_REQUEST_LENGTH ||
            maxAge !== null ||
            (minAge !== null && minAge !== threshold)
        ) {
            throw new WalletError(code, 'privacy-pass members');
        }
    }
    if (issuer !== walletOrigin) {
        throw new WalletError('request-wrong-issuer');
    }
    let url;
    try {
        url = new URL(callback);
    } catch {
        throw new WalletError(code, 'callback is not a URL');
    }
    if (url.username || url.password || url.hash || callback.includes('#')) {
        throw new WalletError(code, 'callback with credentials or a fragment');
    }
    if (url.origin !== aud) {
        throw new WalletError('request-callback-not-audience');
    }
    if (!isSecureCallback(url)) {
        throw new WalletError('request-callback-insecure');
    }
    const needed =
        mode === 'privacy-pass'
            ? { [`${AGE_CLAIM_PREFIX}${threshold}`]: true }
            : requirementClaims(minAge, maxAge);
    return {
        mode,
        issuer,
        aud,
        nonce,
        callback: url.href,
        site: url.host,
        name: name.trim(),
        minAge: mode === 'privacy-pass' ? threshold : minAge,
        maxAge,
        threshold,
        challenge,
        needed,
    };
}

/**
 * The claims a requirement needs, as sdjwt.requirement_claims: `min_age=N`
 * needs `age_over_N: true`, `max_age=M` needs `age_over_{M+1}: false`.
 */
export function requirementClaims(minAge, maxAge) {
    const needed = {};
    if (minAge !== null && minAge !== undefined) {
        needed[`${AGE_CLAIM_PREFIX}${minAge}`] = true;
    }
    if (maxAge !== null && maxAge !== undefined) {
        needed[`${AGE_CLAIM_PREFIX}${maxAge + 1}`] = false;
    }
    return needed;
}

/** Encode a request object as a platform does: base64url of its UTF-8 JSON. */
export function encodeRequest(request) {
    return b64urlEncode(utf8(JSON.stringify(request)));
}

// --- words for people ------------------------------------------------------------

/** "18 or older" for age_over_18 true, "under 18" for false. */
export function factWords(name, value) {
    const threshold = parseAgeClaim(name);
    return value ? `${threshold} or older` : `under ${threshold}`;
}

/** The single fact a requirement asks for, in plain words: "you are 18 or older". */
export function requirementWords(minAge, maxAge) {
    if (minAge !== null && maxAge !== null) {
        return `you are between ${minAge} and ${maxAge} years old`;
    }
    if (minAge !== null) return `you are ${minAge} or older`;
    return `you are ${maxAge} or younger`;
}

/** What the consent screen asks, naming the fact, the site's name and its host:port. */
export function consentWords(request) {
    const fact = requirementWords(request.minAge, request.maxAge);
    const how =
        request.mode === 'privacy-pass'
            ? 'with an anonymous token that cannot be linked to you or to this wallet'
            : 'and nothing else: not your exact age, your birth date or your name';
    return (
        `${request.name} (${request.site}) asks for one fact: that ${fact}. ` +
        `Share only that fact with ${request.site}, ${how}?`
    );
}

// --- choosing and presenting -----------------------------------------------------

/**
 * The credentials usable for `issuer` at `now` (Unix seconds), in stored order.
 * Each held credential is `{credential: <parsed>, ...}` as the store keeps it.
 */
export function usableCredentials(held, issuer, now) {
    return held.filter((item) => item.credential.issuer === issuer && item.credential.exp > now);
}

/**
 * The index of the credential shown to `audience` among `count`:
 * HMAC-SHA256(audienceKey, audience) as a big-endian number, mod `count`.
 * The same site always sees the same credential; two sites share one only
 * 1 time in `count`; the wallet keeps no list of sites.
 */
export async function chooseIndex(audienceKey, audience, count) {
    if (!isInteger(count) || count < 1) {
        throw new RangeError('count must be a positive integer');
    }
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', audienceKey, utf8(audience)));
    let value = 0n;
    for (const byte of mac) {
        value = (value << 8n) | BigInt(byte);
    }
    return Number(value % BigInt(count));
}

/**
 * Whether `credential` (parsed) proves `needed` (claim -> value): it must hold
 * a disclosure of every needed claim with exactly the needed value.
 */
export function proves(credential, needed) {
    return Object.entries(needed).every(([name, value]) => credential.facts[name] === value);
}

/**
 * `<issuer-jwt>~<disclosure>~...~` disclosing only the `needed` claims, in
 * the order of `needed`; throws requirement-not-met when one is missing.
 */
export function selectDisclosures(credential, needed) {
    const chosen = Object.keys(needed).map((name) =>
        credential.disclosures.find((disclosure) => disclosure.name === name),
    );
    if (chosen.some((disclosure) => disclosure === undefined)) {
        throw new WalletError('requirement-not-met');
    }
    return `${credential.issuerJwt}~${chosen.map((disclosure) => `${disclosure.text}~`).join('')}`;
}

/** sd_hash of RFC 9901: base64url SHA-256 of the ASCII presentation up to its last '~'. */
export async function sdHash(sdJwt) {
    return b64urlEncode(await sha256(utf8(sdJwt)));
}

/**
 * The Key Binding JWT (RFC 9901 section 4.3) over `sdJwt` (ending with '~'):
 * header {"typ":"kb+jwt","alg":"ES256"}, payload iat, aud, nonce, sd_hash,
 * signed by `sign(signingInputBytes) -> Promise<64-byte r||s>`.
 */
export async function makeKeyBinding({ sdJwt, audience, nonce, iat, sign }) {
    if (!sdJwt.endsWith('~')) {
        throw new TypeError('the SD-JWT must end with ~');
    }
    const header = b64urlEncode(utf8(JSON.stringify({ typ: KB_TYP, alg: KB_ALG })));
    const payload = b64urlEncode(
        utf8(JSON.stringify({ iat, aud: audience, nonce, sd_hash: await sdHash(sdJwt) })),
    );
    const signingInput = `${header}.${payload}`;
    const signature = new Uint8Array(await sign(utf8(signingInput)));
    if (signature.length !== 64) {
        throw new TypeError('an ES256 signature is 64 bytes');
    }
    return `${signingInput}.${b64urlEncode(signature)}`;
}

/** A signer for makeKeyBinding from a (non-extractable) ECDSA P-256 private CryptoKey. */
export function ecdsaSigner(privateKey) {
    return (data) => crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data);
}

/**
 * Pick the credential for `audience` among `held` (store records with
 * `credential` and `privateKey`) usable for `issuer` at `now`. Returns the
 * record, or null when none is usable.
 */
export async function credentialFor(held, { issuer, audience, audienceKey, now }) {
    const usable = usableCredentials(held, issuer, now);
    if (usable.length === 0) return null;
    return usable[await chooseIndex(audienceKey, audience, usable.length)];
}

/**
 * A presentation of `record` (store record with `credential` and
 * `privateKey`) for `audience` and `nonce`, disclosing only `needed`; `iat`
 * is now in Unix seconds.
 */
export async function present(record, { audience, nonce, needed, iat }) {
    const sdJwt = selectDisclosures(record.credential, needed);
    const kbJwt = await makeKeyBinding({
        sdJwt,
        audience,
        nonce,
        iat,
        sign: ecdsaSigner(record.privateKey),
    });
    return sdJwt + kbJwt;
}

// --- answers ---------------------------------------------------------------------

/**
 * The URL the wallet navigates to with its answer: `callback#<params>`, params
 * form-urlencoded (section 2 of the gate's contract). `answer` is
 * `{presentation}`, `{token}` or `{error}`; the request's nonce is added.
 */
export function answerUrl(request, answer) {
    const params = new URLSearchParams();
    for (const name of ['presentation', 'token', 'error']) {
        if (answer[name] !== undefined) params.set(name, answer[name]);
    }
    if ([...params.keys()].length !== 1) {
        throw new TypeError('an answer is a presentation, a token or an error');
    }
    params.set('nonce', request.nonce);
    return `${request.callback}#${params.toString()}`;
}

/**
 * Decide the answer to `request` in credential mode, without asking anyone:
 * `{record}` for the credential to present, or `{error: 'requirement-not-met'}`
 * when the held credentials cannot prove what is asked (none usable, the
 * claim missing, or the fact is the other way round).
 */
export async function plan(request, held, { audienceKey, now }) {
    const record = await credentialFor(held, {
        issuer: request.issuer,
        audience: request.aud,
        audienceKey,
        now,
    });
    if (record === null || !proves(record.credential, request.needed)) {
        return { error: 'requirement-not-met' };
    }
    return { record };
}

/**
 * Read a wallet URL fragment (`#attestation=...`, `#request=...` or empty):
 * `{kind: 'attestation'|'request'|'home', value}`; anything else is 'unknown'.
 */
export function readFragment(hash) {
    const text = (hash ?? '').replace(/^#/, '');
    if (text === '') return { kind: 'home', value: '' };
    const match = /^(attestation|request)=([A-Za-z0-9_.~-]*)$/.exec(text);
    if (match === null) return { kind: 'unknown', value: '' };
    return { kind: match[1], value: match[2] };
}
