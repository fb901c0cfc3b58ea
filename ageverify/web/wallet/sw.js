// The wallet's service worker (scope /wallet/): keeps the wallet's own files so
// that, once loaded, the wallet opens and presents credentials while the
// issuer is unreachable (presenting needs no network: keys and credentials are
// in IndexedDB).
//
// Network first, cache as fallback: when the issuer answers, the newest files
// are used and the cache refreshed; when it does not (or answers with an
// error), the cached copy is served. Only the files below are handled; every
// other request (the issuer's API above all) goes to the network untouched.

const CACHE = 'ageverify-wallet-v1';
const FILES = [
    '/wallet/',
    '/wallet/index.html',
    '/wallet/wallet.js',
    '/wallet/protocol.js',
    '/wallet/store.js',
    '/wallet/privacypass.js',
    '/wallet/blindrsa.js',
    '/wallet/wallet.css',
    '/wallet/icon.svg',
];
// How long to wait for the issuer before serving the cached copy.
const NETWORK_TIMEOUT_MS = 3000;

self.addEventListener('install', (event) => {
    event.waitUntil(
        caches
            .open(CACHE)
            .then((cache) =>
                cache.addAll(FILES.map((path) => new Request(path, { cache: 'reload' }))),
            )
            .then(() => self.skipWaiting()),
    );
});

self.addEventListener('activate', (event) => {
    event.waitUntil(
        caches
            .keys()
            .then((names) =>
                Promise.all(
                    names
                        .filter((name) => name.startsWith('ageverify-wallet-') && name !== CACHE)
                        .map((name) => caches.delete(name)),
                ),
            )
            .then(() => self.clients.claim()),
    );
});

function fromNetwork(path) {
    // By path, not by the page's Request: a navigation request cannot be
    // re-sent with options, and nothing of it but the path matters here.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), NETWORK_TIMEOUT_MS);
    return fetch(path, {
        signal: controller.signal,
        cache: 'no-cache',
        credentials: 'omit',
    }).finally(() => clearTimeout(timer));
}

async function networkFirst(path) {
    const cache = await caches.open(CACHE);
    try {
        const response = await fromNetwork(path);
        if (response.ok) {
            await cache.put(path, response.clone());
            return response;
        }
    } catch {
        // Unreachable or too slow: the cached copy below.
    }
    const cached = await cache.match(path);
    if (cached) return cached;
    return fromNetwork(path);
}

self.addEventListener('fetch', (event) => {
    const request = event.request;
    if (request.method !== 'GET') return;
    const url = new URL(request.url);
    if (url.origin !== self.location.origin || !FILES.includes(url.pathname)) return;
    // The query string is not part of the wallet's files: cache by path only.
    event.respondWith(networkFirst(url.pathname));
});
