// Shared plumbing of the interop scripts: JSON in on stdin, JSON out on stdout,
// standard base64 for every byte string, and the issuer key imported the way
// privacypass-ts itself imports it.
//
// Every byte string handed to privacypass-ts is a fresh Uint8Array that owns its
// buffer: several of its deserialize() methods read `bytes.buffer` from offset 0,
// and Node's Buffer.from() may return a view into a shared pool.

import { util } from '@cloudflare/privacypass-ts';

/** Decode standard (or URL-safe) base64 into a Uint8Array with a buffer of its own. */
export function fromBase64(text) {
    if (typeof text !== 'string') {
        throw new TypeError('expected a base64 string');
    }
    return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Encode bytes as standard, padded base64. */
export function toBase64(bytes) {
    return Buffer.from(bytes).toString('base64');
}

/**
 * Import a token key (the RSASSA-PSS SubjectPublicKeyInfo of RFC 9578 section 6.5)
 * as a WebCrypto RSA-PSS/SHA-384 verification key. WebCrypto does not accept the
 * id-RSASSA-PSS OID, so the key is first rewritten as rsaEncryption with the
 * library's own converter, exactly as privacypass-ts's client does.
 */
export function importTokenKey(spki) {
    return crypto.subtle.importKey(
        'spki',
        util.convertRSASSAPSSToEnc(spki),
        { name: 'RSA-PSS', hash: 'SHA-384' },
        true,
        ['verify'],
    );
}

/** SHA-256 of `bytes`. */
export async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** Byte-wise equality of two Uint8Arrays. */
export function equalBytes(a, b) {
    return a.length === b.length && a.every((value, index) => value === b[index]);
}

async function readStdin() {
    const chunks = [];
    for await (const chunk of process.stdin) {
        chunks.push(chunk);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Run `handler` on the JSON object read from stdin and print its result as JSON.
 * Bad input or a library error exits with status 1 and the message on stderr, so
 * that a caller never mistakes a crash for a verdict.
 */
export async function run(handler) {
    try {
        const result = await handler(await readStdin());
        process.stdout.write(`${JSON.stringify(result)}\n`);
    } catch (error) {
        process.stderr.write(`${error?.stack ?? error}\n`);
        process.exitCode = 1;
    }
}
