// The wallet's storage: one IndexedDB database in this browser profile.
//
// Database "ageverify-wallet", version 1, two object stores:
// - "credentials" (key path "id"): one record per credential of the current
//   batch, {id, batch, index, text, credential (parsed, see protocol.js),
//   privateKey (a non-extractable ECDSA P-256 CryptoKey), storedAt}.
// - "secrets" (key path "name"): {name: "audience-hmac", key (a
//   non-extractable HMAC-SHA256 CryptoKey)}, which picks the credential shown
//   to each site.
// CryptoKey objects are stored by structured clone: the browser keeps the key
// material and never hands it to script, so it cannot be read out, only used.

import { generateAudienceKey } from './protocol.js';

const DB_NAME = 'ageverify-wallet';
const DB_VERSION = 1;
const CREDENTIALS = 'credentials';
const SECRETS = 'secrets';
const AUDIENCE_KEY = 'audience-hmac';

function promised(request) {
    return new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
}

function done(transaction) {
    return new Promise((resolve, reject) => {
        transaction.oncomplete = () => resolve();
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error ?? new Error('aborted'));
    });
}

/** Open (and on first use create) the wallet's database. */
export function openWallet() {
    if (typeof indexedDB === 'undefined') {
        return Promise.reject(
            new Error('This browser offers no storage (IndexedDB) to this page.'),
        );
    }
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(CREDENTIALS)) {
            db.createObjectStore(CREDENTIALS, { keyPath: 'id' });
        }
        if (!db.objectStoreNames.contains(SECRETS)) {
            db.createObjectStore(SECRETS, { keyPath: 'name' });
        }
    };
    return promised(request);
}

/** Every credential record held, in batch order. */
export async function loadCredentials(db) {
    const transaction = db.transaction(CREDENTIALS, 'readonly');
    const records = await promised(transaction.objectStore(CREDENTIALS).getAll());
    return records.sort((a, b) => a.index - b.index);
}

/**
 * Replace the credentials held with a new batch: `items` are
 * `{text, credential, privateKey}` in the order issued. One transaction: a
 * failure keeps the old batch.
 */
export async function replaceCredentials(db, items) {
    const batch = `${Date.now()}`;
    const transaction = db.transaction(CREDENTIALS, 'readwrite');
    const store = transaction.objectStore(CREDENTIALS);
    store.clear();
    items.forEach((item, index) => {
        store.put({
            id: `${batch}-${index}`,
            batch,
            index,
            text: item.text,
            credential: item.credential,
            privateKey: item.privateKey,
            storedAt: Math.floor(Date.now() / 1000),
        });
    });
    await done(transaction);
}

/**
 * The HMAC key choosing a credential per site, created (non-extractable) the
 * first time it is needed.
 */
export async function audienceKey(db) {
    const read = db.transaction(SECRETS, 'readonly');
    const found = await promised(read.objectStore(SECRETS).get(AUDIENCE_KEY));
    if (found) return found.key;
    const key = await generateAudienceKey();
    const write = db.transaction(SECRETS, 'readwrite');
    // add(), not put(): if another tab created one meanwhile, keep that one.
    write.objectStore(SECRETS).add({ name: AUDIENCE_KEY, key });
    try {
        await done(write);
        return key;
    } catch {
        const again = db.transaction(SECRETS, 'readonly');
        return (await promised(again.objectStore(SECRETS).get(AUDIENCE_KEY))).key;
    }
}

/** Remove every credential, holder key and the HMAC key from this browser. */
export async function removeAll(db) {
    const transaction = db.transaction([CREDENTIALS, SECRETS], 'readwrite');
    transaction.objectStore(CREDENTIALS).clear();
    transaction.objectStore(SECRETS).clear();
    await done(transaction);
}
