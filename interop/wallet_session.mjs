// One browser wallet session under Node, driven line by line (tests/web/test_wallet_js.py).
//
// Runs the wallet's own protocol module (ageverify/web/wallet/protocol.js) with
// Node's WebCrypto, keeping its non-extractable keys in this process the way
// the page keeps them in IndexedDB. Usage: node wallet_session.mjs <wallet origin>.
// Each stdin line is one JSON command; each answer is one JSON line on stdout:
//
//   {"op": "keys"}                        -> {"holder_keys": [public JWK, ...]}  (a batch of 10)
//   {"op": "store", "credentials": [...]} -> {"stored": n, "facts": {...}} | {"refused": code}
//   {"op": "respond", "fragment": "#request=...", "now": t, "choice": "share"|"decline"}
//        -> {"url": "<callback>#<answer>", "credential": index} | {"refused": code}
//
// In privacy-pass mode the wallet talks to the issuer. Its HTTP requests go
// out as {"http": {"method", "url", "headers", "body"}} lines (body base64),
// each answered by one stdin line {"status", "content_type", "body"}: the test
// serves them with the issuer's Flask test client.
//
// A WalletError becomes {"refused": code}; anything else ends the process with
// status 1 and the stack on stderr, so a crash is never read as a verdict.

import { createInterface } from 'node:readline';

import * as privacypass from '../ageverify/web/wallet/privacypass.js';
import * as protocol from '../ageverify/web/wallet/protocol.js';

const origin = process.argv[2];
if (!origin) {
    process.stderr.write('usage: node wallet_session.mjs <wallet origin>\n');
    process.exit(2);
}

const audienceKey = await protocol.generateAudienceKey();
let pendingKeys = [];
let held = [];

async function keys() {
    pendingKeys = [];
    for (let i = 0; i < protocol.BATCH_SIZE; i += 1) {
        pendingKeys.push(await protocol.generateHolderKey());
    }
    return { holder_keys: pendingKeys.map((key) => key.publicJwk) };
}

async function store({ credentials }) {
    const publicJwks = pendingKeys.map((key) => key.publicJwk);
    const parsed = await protocol.acceptCredentials(credentials, publicJwks, origin);
    held = parsed.map((credential, index) => ({
        index,
        credential,
        privateKey: pendingKeys[index].privateKey,
    }));
    return { stored: held.length, facts: held[0]?.credential.facts ?? {} };
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function nextLine() {
    for (;;) {
        const { value, done } = await lines.next();
        if (done) return null;
        if (value.trim()) return value;
    }
}

/** fetch() for the wallet's privacy-pass code, answered by the test over stdin/stdout. */
async function relayedFetch(url, init = {}) {
    const body = init.body === undefined ? '' : Buffer.from(init.body).toString('base64');
    const http = {
        method: init.method ?? 'GET',
        url: String(url),
        headers: init.headers ?? {},
        body,
    };
    process.stdout.write(`${JSON.stringify({ http })}\n`);
    const answer = JSON.parse(await nextLine());
    return new Response(answer.status === 204 ? null : Buffer.from(answer.body, 'base64'), {
        status: answer.status,
        headers: { 'Content-Type': answer.content_type ?? 'application/octet-stream' },
    });
}

async function respond({ fragment, now, choice }) {
    const { kind, value } = protocol.readFragment(fragment);
    if (kind !== 'request') {
        return { refused: 'request-malformed' };
    }
    const request = protocol.parseRequest(value, origin);
    if (request.mode === 'privacy-pass') {
        privacypass.checkTokenChallenge(request);
    }
    if (choice === 'decline') {
        return { url: protocol.answerUrl(request, { error: 'presentation-declined' }) };
    }
    // In privacy-pass mode the credential is shown to the issuer only.
    const audience = request.mode === 'privacy-pass' ? request.issuer : request.aud;
    const decision = await protocol.plan({ ...request, aud: audience }, held, { audienceKey, now });
    if (decision.error) {
        return { url: protocol.answerUrl(request, { error: decision.error }) };
    }
    if (request.mode === 'privacy-pass') {
        const token = await privacypass.mintToken(request, decision.record, {
            fetch: relayedFetch,
            now,
        });
        return { url: protocol.answerUrl(request, { token }), credential: decision.record.index };
    }
    const presentation = await protocol.present(decision.record, {
        audience: request.aud,
        nonce: request.nonce,
        needed: request.needed,
        iat: now,
    });
    return {
        url: protocol.answerUrl(request, { presentation }),
        credential: decision.record.index,
    };
}

const commands = { keys, store, respond };

for (let line = await nextLine(); line !== null; line = await nextLine()) {
    const command = JSON.parse(line);
    let answer;
    try {
        answer = await commands[command.op](command);
    } catch (error) {
        if (!(error instanceof protocol.WalletError)) {
            process.stderr.write(`${error?.stack ?? error}\n`);
            process.exit(1);
        }
        answer = { refused: error.code };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
}
