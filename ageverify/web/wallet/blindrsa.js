// RSA blind signatures, the client's side of RFC 9474 (RSABSSA-SHA384-PSS-Deterministic,
// the variant of Privacy Pass token type 0x0002): blind a message for the
// issuer's public key, then turn the issuer's blind signature into an ordinary
// RSASSA-PSS signature (SHA-384, MGF1-SHA-384, 48-byte salt), checked with
// WebCrypto before it is used.
//
// Big-number arithmetic is JavaScript's BigInt. Its running time follows its
// operands, but the only secret here is the blinding factor r, used once, and
// the exponent applied to it is the public e; the issuer sees r^e * m mod n,
// which is uniformly distributed whatever m is.

export const SALT_LENGTH = 48;
const HASH_LENGTH = 48;

/** The big-endian unsigned integer in `bytes`. */
export function bytesToBigInt(bytes) {
    let value = 0n;
    for (const byte of bytes) {
        value = (value << 8n) | BigInt(byte);
    }
    return value;
}

/** `value` as exactly `length` big-endian bytes (RangeError if it does not fit). */
export function bigIntToBytes(value, length) {
    const out = new Uint8Array(length);
    let rest = value;
    for (let i = length - 1; i >= 0; i -= 1) {
        out[i] = Number(rest & 0xffn);
        rest >>= 8n;
    }
    if (rest !== 0n || value < 0n) {
        throw new RangeError('the integer does not fit');
    }
    return out;
}

/** base^exponent mod modulus, by square and multiply. */
export function modPow(base, exponent, modulus) {
    let result = 1n;
    let square = base % modulus;
    let rest = exponent;
    while (rest > 0n) {
        if (rest & 1n) result = (result * square) % modulus;
        square = (square * square) % modulus;
        rest >>= 1n;
    }
    return result;
}

/** The inverse of `a` modulo `n`, or null when they share a factor. */
export function modInverse(a, n) {
    let [oldR, r] = [((a % n) + n) % n, n];
    let [oldS, s] = [1n, 0n];
    while (r !== 0n) {
        const quotient = oldR / r;
        [oldR, r] = [r, oldR - quotient * r];
        [oldS, s] = [s, oldS - quotient * s];
    }
    if (oldR !== 1n) return null;
    return ((oldS % n) + n) % n;
}

function gcd(a, b) {
    let [x, y] = [a, b];
    while (y !== 0n) [x, y] = [y, x % y];
    return x;
}

function bitLength(value) {
    return value === 0n ? 0 : value.toString(2).length;
}

function concat(...parts) {
    const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
    let offset = 0;
    for (const part of parts) {
        out.set(part, offset);
        offset += part.length;
    }
    return out;
}

async function sha384(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-384', bytes));
}

/** MGF1 with SHA-384 (RFC 8017 appendix B.2.1): `length` bytes from `seed`. */
export async function mgf1Sha384(seed, length) {
    const blocks = [];
    for (let counter = 0; blocks.length * HASH_LENGTH < length; counter += 1) {
        const c = new Uint8Array([
            counter >>> 24,
            (counter >>> 16) & 0xff,
            (counter >>> 8) & 0xff,
            counter & 0xff,
        ]);
        blocks.push(await sha384(concat(seed, c)));
    }
    return concat(...blocks).slice(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with SHA-384, MGF1-SHA-384 and `salt`. */
export async function emsaPssEncode(msg, emBits, salt) {
    const emLength = Math.ceil(emBits / 8);
    if (emLength < HASH_LENGTH + salt.length + 2) {
        throw new RangeError('the modulus is too short for EMSA-PSS with SHA-384');
    }
    const mHash = await sha384(msg);
    const h = await sha384(concat(new Uint8Array(8), mHash, salt));
    const dbLength = emLength - HASH_LENGTH - 1;
    const db = concat(new Uint8Array(dbLength - salt.length - 1), new Uint8Array([1]), salt);
    const mask = await mgf1Sha384(h, dbLength);
    const masked = db.map((byte, index) => byte ^ mask[index]);
    // Clear the leftmost bits so that the encoded integer stays below the modulus.
    masked[0] &= 0xff >>> (8 * emLength - emBits);
    return concat(masked, h, new Uint8Array([0xbc]));
}

function randomBytes(length) {
    return crypto.getRandomValues(new Uint8Array(length));
}

/** A uniform random integer in [1, n), by rejection sampling. */
function randomBelow(n) {
    const length = Math.ceil(bitLength(n) / 8);
    const excess = BigInt(8 * length - bitLength(n));
    for (;;) {
        const candidate = bytesToBigInt(randomBytes(length)) >> excess;
        if (candidate > 0n && candidate < n) return candidate;
    }
}

/**
 * Blind the message `msg` for the public key `{n, e}` (BigInts), RFC 9474
 * section 4.2. `salt` (48 bytes) and `r` are drawn at random unless given (the
 * RFC's test vectors give them). Returns `{blindedMsg, inv, encodedMsg}`:
 * `blindedMsg` goes to the issuer, `inv` stays here for finalize().
 */
export async function blind(key, msg, { salt = randomBytes(SALT_LENGTH), r = null } = {}) {
    const { n, e } = key;
    const length = Math.ceil(bitLength(n) / 8);
    const encodedMsg = await emsaPssEncode(msg, bitLength(n) - 1, salt);
    const m = bytesToBigInt(encodedMsg);
    if (gcd(m, n) !== 1n) {
        throw new Error('blind-rsa-invalid-input');
    }
    const factor = r ?? randomBelow(n);
    const inv = modInverse(factor, n);
    if (inv === null) {
        throw new Error('blind-rsa-blinding-error');
    }
    const blinded = (m * modPow(factor, e, n)) % n;
    return { blindedMsg: bigIntToBytes(blinded, length), inv, encodedMsg };
}

/** The public key `{n, e}` as a WebCrypto RSA-PSS/SHA-384 verification key. */
export function importVerifyKey(key) {
    const length = Math.ceil(bitLength(key.n) / 8);
    const eBytes = bigIntToBytes(key.e, Math.ceil(bitLength(key.e) / 8));
    const b64url = (bytes) =>
        btoa(String.fromCharCode(...bytes))
            .replace(/\+/g, '-')
            .replace(/\//g, '_')
            .replace(/=+$/, '');
    return crypto.subtle.importKey(
        'jwk',
        { kty: 'RSA', n: b64url(bigIntToBytes(key.n, length)), e: b64url(eBytes), ext: true },
        { name: 'RSA-PSS', hash: 'SHA-384' },
        false,
        ['verify'],
    );
}

/** Whether `sig` is an RSASSA-PSS (SHA-384, salt 48) signature of `msg` under `{n, e}`. */
export async function verify(key, msg, sig) {
    const verifyKey = await importVerifyKey(key);
    return crypto.subtle.verify({ name: 'RSA-PSS', saltLength: SALT_LENGTH }, verifyKey, sig, msg);
}

/**
 * Unblind the issuer's `blindSig` with `inv` into a signature on `msg`
 * (RFC 9474 section 4.4), and check it with WebCrypto: a wrong answer from
 * the issuer never becomes a token. Throws on a bad length or signature.
 */
export async function finalize(key, msg, blindSig, inv) {
    const length = Math.ceil(bitLength(key.n) / 8);
    if (blindSig.length !== length) {
        throw new Error('blind-rsa-blind-signature-length');
    }
    const sig = bigIntToBytes((bytesToBigInt(blindSig) * inv) % key.n, length);
    if (!(await verify(key, msg, sig))) {
        throw new Error('blind-rsa-invalid-signature');
    }
    return sig;
}
