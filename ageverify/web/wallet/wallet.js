// The wallet page: reads its URL fragment, then shows one of its views.
//
//   /wallet/#attestation=<JWS>  an age check result -> "Get credentials"
//   /wallet/#request=<b64url>   a site asks for a proof -> consent, or "cannot prove"
//   /wallet/                    what the wallet holds, and "Remove all"
//
// The fragment is erased from the address bar at once (history.replaceState):
// it never reaches a server, and it should not linger in the history either.
// The protocol itself lives in protocol.js; storage in store.js.

import * as privacypass from './privacypass.js';
import * as protocol from './protocol.js';
import * as store from './store.js';

const ORIGIN = window.location.origin;
const VIEWS = ['loading', 'attestation', 'home', 'consent', 'cannot-prove', 'refused'];

let db = null;
// Only one answer ever leaves for a request: buttons stay disabled after it.
let answered = false;

function $(id) {
    return document.getElementById(id);
}

function now() {
    return Math.floor(Date.now() / 1000);
}

/** Show the view `id`, hide the others, and move focus to its heading. */
function show(id) {
    for (const view of VIEWS) {
        $(view).hidden = view !== id;
    }
    $('main').dataset.view = id;
    $(id).querySelector('h1')?.focus();
}

/** Say `text` in the live status line; `state` is idle, busy, done or error. */
function say(text, state = 'idle', code = '') {
    const status = $('status');
    status.textContent = text;
    status.dataset.state = state;
    if (code) {
        status.dataset.code = code;
    } else {
        delete status.dataset.code;
    }
}

function listFacts(list, facts) {
    list.replaceChildren(
        ...Object.entries(facts).map(([name, value]) => {
            const item = document.createElement('li');
            item.textContent = protocol.factWords(name, value);
            item.dataset.claim = name;
            item.dataset.value = String(value);
            return item;
        }),
    );
}

function day(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 10);
}

// --- the wallet's home -----------------------------------------------------------

async function showHome(message = '') {
    const held = db ? await store.loadCredentials(db) : [];
    const usable = protocol.usableCredentials(held, ORIGIN, now());
    const expired = held.length - usable.length;
    $('credentials').dataset.count = String(usable.length);
    const summary = $('credentials-summary');
    if (usable.length === 0) {
        summary.textContent =
            expired > 0
                ? `The ${expired} credentials held have expired. ` +
                  'Prove your age again with an accredited verifier to get new ones.'
                : 'This wallet holds no age credentials yet. ' +
                  'Prove your age with an accredited verifier: it sends you back here.';
        listFacts($('credentials-facts'), {});
        $('credentials-expiry').textContent = '';
    } else {
        const first = usable[0].credential;
        const soonest = Math.min(...usable.map((record) => record.credential.exp));
        summary.textContent =
            `This wallet holds ${usable.length} credentials. ` +
            'Each can prove these facts, one at a time, to the sites you choose:';
        listFacts($('credentials-facts'), first.facts);
        $('credentials-expiry').textContent = `They expire on ${day(soonest)}.`;
    }
    $('remove-all').disabled = held.length === 0;
    $('remove-confirm').hidden = true;
    $('remove-actions').hidden = false;
    show('home');
    if (message) say(message, 'done');
}

function askRemoveAll() {
    $('remove-actions').hidden = true;
    $('remove-confirm').hidden = false;
    $('remove-all-cancel').focus();
}

function cancelRemoveAll() {
    $('remove-confirm').hidden = true;
    $('remove-actions').hidden = false;
    $('remove-all').focus();
}

async function removeAll() {
    $('remove-all-confirm').disabled = true;
    try {
        await store.removeAll(db);
        await showHome('Every credential and key was removed from this browser.');
    } catch {
        say('The credentials could not be removed.', 'error');
    } finally {
        $('remove-all-confirm').disabled = false;
    }
}

// --- an attestation: getting credentials -------------------------------------------

let pendingAttestation = null;

async function showAttestation(compact) {
    let attestation;
    try {
        attestation = protocol.readAttestation(compact);
    } catch (error) {
        await showHome();
        say(error.message, 'error', error.code);
        return;
    }
    pendingAttestation = compact;
    const who = attestation.verifier ? `The verifier "${attestation.verifier}"` : 'The verifier';
    const method = attestation.method ? ` (method: ${attestation.method.replace(/_/g, ' ')})` : '';
    $('attestation-intro').textContent = `${who}${method} says you are:`;
    listFacts($('attestation-facts'), attestation.facts);
    const held = db
        ? protocol.usableCredentials(await store.loadCredentials(db), ORIGIN, now())
        : [];
    const replace = $('attestation-replace');
    replace.hidden = held.length === 0;
    replace.textContent = `The new credentials replace the ${held.length} this wallet holds.`;
    $('get-credentials').disabled = false;
    show('attestation');
}

async function getCredentials() {
    const button = $('get-credentials');
    if (pendingAttestation === null || button.disabled) return;
    button.disabled = true;
    say(`Making ${protocol.BATCH_SIZE} keys in this browser…`, 'busy');
    try {
        const keys = [];
        for (let i = 0; i < protocol.BATCH_SIZE; i += 1) {
            keys.push(await protocol.generateHolderKey());
        }
        const publicJwks = keys.map((key) => key.publicJwk);
        say('Asking the issuer to sign your credentials…', 'busy');
        let response;
        try {
            response = await fetch('/v1/credentials', {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
                body: JSON.stringify({ attestation: pendingAttestation, holder_keys: publicJwks }),
                credentials: 'omit',
                cache: 'no-store',
            });
        } catch {
            say(
                'The issuer cannot be reached. Check the connection and try again.',
                'error',
                'issuer-unreachable',
            );
            button.disabled = false;
            return;
        }
        const body = await response.json().catch(() => null);
        if (!response.ok) {
            const code = typeof body?.code === 'string' ? body.code : 'issuer-error';
            const description =
                typeof body?.description === 'string'
                    ? body.description
                    : `The issuer answered with HTTP status ${response.status}.`;
            say(`The issuer refused: ${description}`, 'error', code);
            return;
        }
        const credentials = await protocol.acceptCredentials(body?.credentials, publicJwks, ORIGIN);
        await store.replaceCredentials(
            db,
            credentials.map((credential, index) => ({
                text: credential.text,
                credential,
                privateKey: keys[index].privateKey,
            })),
        );
        await store.audienceKey(db);
        pendingAttestation = null;
        await showHome(`${credentials.length} credentials are now kept in this browser.`);
    } catch (error) {
        say(
            error instanceof protocol.WalletError
                ? error.message
                : 'The credentials could not be stored.',
            'error',
            error.code ?? '',
        );
    }
}

// --- a presentation request ---------------------------------------------------------

let pending = null;

function refuse(error) {
    const code = error instanceof protocol.WalletError ? error.code : 'request-malformed';
    $('refused').dataset.code = code;
    $('refused-text').textContent =
        `${protocol.REFUSALS[code] ?? protocol.REFUSALS['request-malformed']} ` +
        'Nothing was sent. Go back to the site and try again, or tell the site about it.';
    show('refused');
    say('The request was refused.', 'error', code);
}

async function handleRequest(encoded) {
    let request;
    try {
        request = protocol.parseRequest(encoded, ORIGIN);
        if (request.mode === 'privacy-pass') privacypass.checkTokenChallenge(request);
    } catch (error) {
        refuse(error);
        return;
    }
    answered = false;
    const held = await store.loadCredentials(db);
    const audienceKey = await store.audienceKey(db);
    // In privacy-pass mode the credential is shown to the issuer only, to get a token.
    const audience = request.mode === 'privacy-pass' ? request.issuer : request.aud;
    const decision = await protocol.plan({ ...request, aud: audience }, held, {
        audienceKey,
        now: now(),
    });
    pending = { request, decision };
    if (decision.error) {
        const fact = protocol.requirementWords(request.minAge, request.maxAge);
        const usable = protocol.usableCredentials(held, ORIGIN, now());
        const why =
            usable.length === 0
                ? 'This wallet holds no valid age credentials.'
                : `The credentials in this wallet do not say that ${fact}.`;
        $('cannot-prove-text').textContent =
            `${request.name} (${request.site}) asks to know that ${fact}. ${why} ` +
            `The site will only learn that no proof was given.`;
        $('back-to-site').disabled = false;
        show('cannot-prove');
        return;
    }
    $('consent-text').textContent = protocol.consentWords(request);
    $('share').disabled = false;
    $('decline').disabled = false;
    show('consent');
}

function leaveWith(answer) {
    if (answered || pending === null) return;
    answered = true;
    for (const id of ['share', 'decline', 'back-to-site']) $(id).disabled = true;
    window.location.replace(protocol.answerUrl(pending.request, answer));
}

async function share() {
    if (answered || pending === null || pending.decision.error) return;
    const { request, decision } = pending;
    $('share').disabled = true;
    $('decline').disabled = true;
    try {
        if (request.mode === 'privacy-pass') {
            say('Getting an anonymous token from the issuer…', 'busy');
            const token = await privacypass.mintToken(request, decision.record, {
                fetch: window.fetch.bind(window),
            });
            say(`Sending the token to ${request.site}…`, 'busy');
            leaveWith({ token });
            return;
        }
        const presentation = await protocol.present(decision.record, {
            audience: request.aud,
            nonce: request.nonce,
            needed: request.needed,
            iat: now(),
        });
        say(`Sending the proof to ${request.site}…`, 'busy');
        leaveWith({ presentation });
    } catch (error) {
        const code = error instanceof protocol.WalletError ? error.code : 'token-unavailable';
        say(
            `${protocol.REFUSALS[code] ?? error.message} You can try again or not share.`,
            'error',
            code,
        );
        $('share').disabled = false;
        $('decline').disabled = false;
    }
}

// --- start --------------------------------------------------------------------------

async function route() {
    const fragment = protocol.readFragment(window.location.hash);
    if (window.location.hash) {
        window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
    say('');
    try {
        if (db === null) db = await store.openWallet();
    } catch (error) {
        show('home');
        say(
            `This browser does not let the wallet keep credentials: ${error.message}`,
            'error',
            'storage-unavailable',
        );
        return;
    }
    try {
        if (fragment.kind === 'attestation') {
            await showAttestation(fragment.value);
        } else if (fragment.kind === 'request') {
            await handleRequest(fragment.value);
        } else {
            await showHome();
            if (fragment.kind === 'unknown') {
                say(
                    'This wallet did not understand the link that opened it.',
                    'error',
                    'link-unknown',
                );
            }
        }
    } catch {
        say(
            'Something went wrong in the wallet. Reload the page to try again.',
            'error',
            'wallet-error',
        );
    }
}

function registerServiceWorker() {
    if ('serviceWorker' in navigator) {
        // Offline use is a bonus: the wallet works without it.
        navigator.serviceWorker.register('/wallet/sw.js', { scope: '/wallet/' }).catch(() => {});
    }
}

function wire() {
    $('get-credentials').addEventListener('click', getCredentials);
    $('share').addEventListener('click', share);
    $('decline').addEventListener('click', () => leaveWith({ error: 'presentation-declined' }));
    $('back-to-site').addEventListener('click', () => leaveWith({ error: 'requirement-not-met' }));
    $('remove-all').addEventListener('click', askRemoveAll);
    $('remove-all-cancel').addEventListener('click', cancelRemoveAll);
    $('remove-all-confirm').addEventListener('click', removeAll);
    // A link to the wallet with a new fragment, followed while the wallet is open.
    window.addEventListener('hashchange', () => {
        if (window.location.hash) route();
    });
}

wire();
registerServiceWorker();
route();
