// Privacy Pass in the wallet (RFC 9577, RFC 9578 token type 0x0002): a site's
// PrivateToken challenge in, a token out, the issuer unable to link the two.
//
// The wallet proves age_over_<threshold> to the issuer with a credential
// presentation addressed to the issuer (audience = the issuer's URL, on a
// fresh issuer nonce), sends a blinded TokenRequest, and unblinds the answer
// into a token only the site's challenge accepts. The issuer never sees the
// challenge, the token or the site; the site never sees a credential.
//
// The exchange is that of ageverify.sdk.tokens.TokenClient.mint:
//   POST {privacy_pass.nonce} {}                    -> {"nonce": ...}
//   POST {privacy_pass.token_request} TokenRequest  with
//        Authorization: AgeCredential presentation="<SD-JWT+KB, aud = issuer>"
//                                                   -> TokenResponse (256 bytes)

import * as blindrsa from './blindrsa.js';
import * as protocol from './protocol.js';

export const TOKEN_TYPE = 0x0002;
export const DISCOVERY_PATH = '/.well-known/age-verification';
export const MEDIA_TYPE_TOKEN_REQUEST = 'application/private-token-request';
export const MEDIA_TYPE_TOKEN_RESPONSE = 'application/private-token-response';
const NK = 256;
const NONCE_LENGTH = 32;
// DER of the OID id-RSASSA-PSS (1.2.840.113549.1.1.10), as RFC 9578 section 6.5 keys carry it.
const RSASSA_PSS_OID = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];

function malformed(detail) {
    return new protocol.WalletError('request-malformed', detail);
}

/** Decode base64url, padded (as RFC 9577 sends it) or not. */
function b64urlEither(text) {
    const unpadded = text.replace(/={1,2}$/, '');
    if ((text.length !== unpadded.length && text.length % 4 !== 0) || unpadded.includes('=')) {
        throw malformed('bad padding');
    }
    return protocol.b64urlDecode(unpadded, 'request-malformed');
}

/**
 * The first PrivateToken challenge of a WWW-Authenticate value:
 * `{challenge: bytes, tokenKey: bytes}`. The gate sends exactly one,
 * `PrivateToken challenge="...", token-key="...", max-age=N`.
 */
export function readWwwAuthenticate(value) {
    if (typeof value !== 'string' || !/^\s*PrivateToken\s+/i.test(value)) {
        throw malformed('not a PrivateToken challenge');
    }
    const params = {};
    const pattern =
        /([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"([^"\\]*)"|([A-Za-z0-9!#$%&'*+.^_`|~=/-]+))/g;
    for (const match of value.replace(/^\s*PrivateToken\s+/i, '').matchAll(pattern)) {
        const name = match[1].toLowerCase();
        // A later PrivateToken challenge repeats the names: the first one wins.
        if (!(name in params)) params[name] = match[2] ?? match[3];
    }
    if (!params.challenge || !params['token-key']) {
        throw malformed('a challenge and a token-key are needed');
    }
    return {
        challenge: b64urlEither(params.challenge),
        tokenKey: b64urlEither(params['token-key']),
    };
}

/**
 * Decode a TokenChallenge (RFC 9577 section 2.1.1) exactly:
 * `{tokenType, issuerName, redemptionContext, originInfo}`.
 */
export function readTokenChallenge(bytes) {
    let pos = 0;
    const take = (length) => {
        if (pos + length > bytes.length) throw malformed('TokenChallenge truncated');
        const chunk = bytes.slice(pos, pos + length);
        pos += length;
        return chunk;
    };
    const u16 = () => {
        const [high, low] = take(2);
        return (high << 8) | low;
    };
    const ascii = (chunk) => {
        if (chunk.some((byte) => byte < 0x21 || byte > 0x7e)) throw malformed('names are ASCII');
        return String.fromCharCode(...chunk);
    };
    const tokenType = u16();
    const issuerName = ascii(take(u16()));
    const redemptionContext = take(take(1)[0]);
    const origins = ascii(take(u16()));
    if (pos !== bytes.length) throw malformed('TokenChallenge has trailing bytes');
    if (issuerName === '' || ![0, 32].includes(redemptionContext.length)) {
        throw malformed('TokenChallenge fields');
    }
    const originInfo = origins === '' ? [] : origins.split(',');
    if (originInfo.some((name) => name === '')) throw malformed('empty origin name');
    return { tokenType, issuerName, redemptionContext, originInfo };
}

/** Read one DER element at `pos`: `{tag, start, end}` of its content. */
function derElement(bytes, pos) {
    if (pos + 2 > bytes.length) throw malformed('token key truncated');
    const tag = bytes[pos];
    let length = bytes[pos + 1];
    let start = pos + 2;
    if (length & 0x80) {
        const count = length & 0x7f;
        if (count < 1 || count > 2 || start + count > bytes.length)
            throw malformed('token key length');
        length = 0;
        for (let i = 0; i < count; i += 1) length = (length << 8) | bytes[start + i];
        start += count;
    }
    if (start + length > bytes.length) throw malformed('token key truncated');
    return { tag, start, end: start + length };
}

/**
 * The RSA public key `{n, e}` (BigInts) in a token key: the RSASSA-PSS
 * SubjectPublicKeyInfo of RFC 9578 section 6.5, a 2048-bit modulus.
 */
export function readTokenKey(spki) {
    const outer = derElement(spki, 0);
    if (outer.tag !== 0x30 || outer.end !== spki.length)
        throw malformed('token key is not an SPKI');
    const algorithm = derElement(spki, outer.start);
    const oid = spki.slice(algorithm.start, algorithm.start + RSASSA_PSS_OID.length);
    if (algorithm.tag !== 0x30 || !RSASSA_PSS_OID.every((byte, index) => oid[index] === byte)) {
        throw malformed('token key is not RSASSA-PSS');
    }
    const bits = derElement(spki, algorithm.end);
    if (bits.tag !== 0x03 || spki[bits.start] !== 0 || bits.end !== outer.end) {
        throw malformed('token key BIT STRING');
    }
    const rsaKey = derElement(spki, bits.start + 1);
    const n = derElement(spki, rsaKey.start);
    const e = derElement(spki, n.end);
    if (rsaKey.tag !== 0x30 || n.tag !== 0x02 || e.tag !== 0x02 || e.end !== rsaKey.end) {
        throw malformed('token key RSAPublicKey');
    }
    const key = {
        n: blindrsa.bytesToBigInt(spki.slice(n.start, n.end)),
        e: blindrsa.bytesToBigInt(spki.slice(e.start, e.end)),
    };
    if (key.n.toString(2).length !== 8 * NK) throw malformed('token type 2 keys are RSA-2048');
    return key;
}

/**
 * Check the privacy-pass `request` (from protocol.parseRequest) before the
 * consent screen, without the network: its challenge must be a token type 2
 * challenge naming this wallet's issuer (`request-wrong-issuer` otherwise)
 * and, if it restricts origins, the site that will receive the token
 * (`request-callback-not-audience`: a token for one site is never handed to
 * another). Returns `{challenge, challengeBytes, tokenKey, key}`.
 */
export function checkTokenChallenge(request) {
    const { challenge: challengeBytes, tokenKey } = readWwwAuthenticate(request.challenge);
    const challenge = readTokenChallenge(challengeBytes);
    if (challenge.tokenType !== TOKEN_TYPE) {
        throw new protocol.WalletError('request-unsupported', 'token type');
    }
    if (challenge.issuerName !== new URL(request.issuer).host) {
        throw new protocol.WalletError('request-wrong-issuer');
    }
    if (challenge.originInfo.length > 0 && !challenge.originInfo.includes(request.site)) {
        throw new protocol.WalletError('request-callback-not-audience');
    }
    return { challenge, challengeBytes, tokenKey, key: readTokenKey(tokenKey) };
}

function unavailable(detail) {
    return new protocol.WalletError('token-unavailable', detail);
}

function sameOrigin(url, issuer) {
    try {
        return new URL(url).origin === new URL(issuer).origin;
    } catch {
        return false;
    }
}

async function call(fetchImpl, url, init) {
    try {
        return await fetchImpl(url, { ...init, credentials: 'omit', cache: 'no-store' });
    } catch {
        throw unavailable('the issuer cannot be reached');
    }
}

async function refusal(response) {
    const body = await response.json().catch(() => null);
    return unavailable(typeof body?.code === 'string' ? body.code : `HTTP ${response.status}`);
}

/**
 * Mint a token answering `request` (privacy-pass mode) with the credential
 * `record` (store record with `credential` and `privateKey`): the
 * unpadded base64url of the 354-byte Token. `fetch` is the HTTP client
 * (window.fetch in the page), `now` the time in Unix seconds.
 */
export async function mintToken(
    request,
    record,
    { fetch: fetchImpl, now = Math.floor(Date.now() / 1000) },
) {
    const { challengeBytes, tokenKey, key } = checkTokenChallenge(request);
    const keyId = await protocol.sha256(tokenKey);

    const discoveryResponse = await call(fetchImpl, `${request.issuer}${DISCOVERY_PATH}`, {
        headers: { Accept: 'application/json' },
    });
    const discovery = discoveryResponse.ok
        ? await discoveryResponse.json().catch(() => null)
        : null;
    const service = discovery?.privacy_pass;
    if (discovery?.issuer !== request.issuer || typeof service !== 'object' || service === null) {
        throw unavailable('the issuer publishes no Privacy Pass service');
    }
    if (
        !sameOrigin(service.nonce, request.issuer) ||
        !sameOrigin(service.token_request, request.issuer)
    ) {
        throw unavailable('the issuer names endpoints elsewhere');
    }
    // The key must be the issuer's, for the very threshold the person agreed to prove.
    const listed = service.token_keys?.[protocol.b64urlEncode(keyId)];
    if (listed?.threshold !== request.threshold) {
        throw unavailable('the site named a key the issuer does not use for this age');
    }

    const nonceResponse = await call(fetchImpl, service.nonce, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: '{}',
    });
    if (!nonceResponse.ok) throw await refusal(nonceResponse);
    const issuerNonce = (await nonceResponse.json().catch(() => null))?.nonce;
    if (typeof issuerNonce !== 'string' || issuerNonce === '') {
        throw unavailable('the issuer sent no nonce');
    }
    const presentation = await protocol.present(record, {
        audience: request.issuer,
        nonce: issuerNonce,
        needed: request.needed,
        iat: now,
    });

    const tokenNonce = crypto.getRandomValues(new Uint8Array(NONCE_LENGTH));
    const digest = await protocol.sha256(challengeBytes);
    const message = new Uint8Array([0x00, 0x02, ...tokenNonce, ...digest, ...keyId]);
    const { blindedMsg, inv } = await blindrsa.blind(key, message);
    const tokenRequest = new Uint8Array([0x00, 0x02, keyId[keyId.length - 1], ...blindedMsg]);
    const answer = await call(fetchImpl, service.token_request, {
        method: 'POST',
        headers: {
            'Content-Type': MEDIA_TYPE_TOKEN_REQUEST,
            Accept: MEDIA_TYPE_TOKEN_RESPONSE,
            Authorization: `AgeCredential presentation="${presentation}"`,
        },
        body: tokenRequest,
    });
    if (!answer.ok) throw await refusal(answer);
    const blindSig = new Uint8Array(await answer.arrayBuffer());
    let authenticator;
    try {
        authenticator = await blindrsa.finalize(key, message, blindSig, inv);
    } catch {
        throw unavailable('the issuer answered with a bad signature');
    }
    return protocol.b64urlEncode(new Uint8Array([...message, ...authenticator]));
}
