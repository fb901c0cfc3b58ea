// The wallet's RFC 9474 client (ageverify/web/wallet/blindrsa.js) against the RFC's
// test vectors, under Node (tests/web/test_wallet_js.py).
//
// stdin: the JSON array of tests/vectors/rfc9474-blind-rsa.json. stdout: one
// verdict per salted vector (the salt-free PSSZERO variants are not used by
// Privacy Pass), each check a boolean:
//   {"name", "encoded_msg" (null when the vector has none), "blinded_msg", "inv", "sig",
//    "verifies", "tampered_refused"}

import * as blindrsa from '../ageverify/web/wallet/blindrsa.js';

function fromHex(text) {
    const hex = text.replace(/^0x/, '');
    return new Uint8Array(hex.match(/../g)?.map((pair) => parseInt(pair, 16)) ?? []);
}

function toHex(bytes) {
    return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

async function check(vector) {
    const key = { n: BigInt(vector.n), e: BigInt(vector.e) };
    const msg = fromHex(vector.input_msg);
    const inv = BigInt(vector.inv);
    const r = blindrsa.modInverse(inv, key.n);
    const blinded = await blindrsa.blind(key, msg, { salt: fromHex(vector.salt), r });
    const sig = await blindrsa.finalize(key, msg, fromHex(vector.blind_sig), blinded.inv);
    const tampered = fromHex(vector.blind_sig);
    tampered[tampered.length - 1] ^= 1;
    let tamperedRefused = false;
    try {
        await blindrsa.finalize(key, msg, tampered, blinded.inv);
    } catch (error) {
        tamperedRefused = error.message === 'blind-rsa-invalid-signature';
    }
    return {
        name: vector.name,
        encoded_msg:
            vector.encoded_msg === undefined
                ? null
                : toHex(blinded.encodedMsg) === vector.encoded_msg,
        blinded_msg: toHex(blinded.blindedMsg) === vector.blinded_msg,
        inv: blinded.inv === inv,
        sig: toHex(sig) === vector.sig,
        verifies: await blindrsa.verify(key, msg, sig),
        tampered_refused: tamperedRefused,
    };
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const vectors = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const verdicts = [];
for (const vector of vectors) {
    if (vector.salt) verdicts.push(await check(vector));
}
process.stdout.write(`${JSON.stringify(verdicts)}\n`);
