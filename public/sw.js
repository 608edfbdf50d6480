// tiny-chat's service worker: lets a page that was open once load again while the
// browser is offline, so that what waits in the offline outbox (kept in localStorage
// by the page) is shown after a reload.
//
// Online, every request still goes to the server; this worker only remembers the last
// good answer for pages (navigations) and the app's /pkg/ files (JS, WASM, CSS), and
// answers with it when the network fails. The JSON API, the event streams and /metrics
// are never touched. A page is kept with its headers as they came: its
// Content-Security-Policy nonce is the one on its inline scripts, so a kept page still
// hydrates.
//
// Registered by `app::client::keep_for_offline`. Plain JavaScript without a build
// step: cargo-leptos copies `public/` to the site root, which serves it as `/sw.js`.

// Change the name to drop everything kept, at the next activation.
const CACHE = 'tiny-chat-v1';
// The most pages kept; the oldest go first.
const MAX_PAGES = 30;
// The most built files kept: release builds name them after their content, so each
// deploy brings new names; a few builds' worth (about six files each) stay, the oldest go.
const MAX_FILES = 18;
// A page asks to keep what it shows once it has loaded (see `message`); what this worker
// stored that recently (the page itself, when it came through here) is not fetched again.
const FRESH_MS = 60_000;

// When this worker last stored each key, while it runs (lost when the browser stops
// it, which costs at most one fetch more).
const stored = new Map();

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name)));
      await self.clients.claim();
    })(),
  );
});

// The app's built files: `/pkg/...`, and `/v/<build>/pkg/...` where a release build
// serves its main JS, WASM and their lazily loaded pieces (src/server/assets.rs).
function isPkg(url) {
  return /^(\/v\/[^/]+)?\/pkg\//.test(url.pathname);
}

// Same origin, and neither the API (JSON, event streams) nor the metrics.
function keepable(url) {
  return (
    url.origin === self.location.origin &&
    !url.pathname.startsWith('/api/') &&
    url.pathname !== '/metrics'
  );
}

// The cache key of `url`: a /pkg/ file by its path alone (the newest response per path
// is the one kept), a page by its URL without the `#fragment`.
function keyOf(url) {
  return url.origin + url.pathname + (isPkg(url) ? '' : url.search);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!keepable(url)) return;
  if ((request.headers.get('Accept') || '').includes('text/event-stream')) return;
  if (request.mode === 'navigate' || isPkg(url)) {
    event.respondWith(networkFirst(event, request, url));
  }
  // Anything else is not answered here: the browser fetches it as usual.
});

// The network's answer, kept when it is a good one; the kept answer when the network
// fails; else a network error, as without this worker.
async function networkFirst(event, request, url) {
  try {
    const response = await fetch(request);
    if (good(response)) {
      // Kept in the background: the page gets its response without waiting.
      event.waitUntil(keep(url, response.clone()).catch(() => {}));
    }
    return response;
  } catch {
    const cache = await caches.open(CACHE);
    const kept = await cache.match(keyOf(url), { ignoreVary: true });
    return kept || Response.error();
  }
}

// Only a whole same-origin answer: not a redirect, an error page or a partial body.
function good(response) {
  return response.status === 200 && response.type === 'basic';
}

async function keep(url, response) {
  const cache = await caches.open(CACHE);
  const key = keyOf(url);
  // Put as it came, headers and all.
  await cache.put(key, response);
  stored.set(key, Date.now());
  await trim(cache);
}

// Deletes the oldest pages past MAX_PAGES and files past MAX_FILES. Cache keys come in
// insertion order, and a put replaces an entry by adding it anew, so the first are the
// least recently stored.
async function trim(cache) {
  const keys = await cache.keys();
  const pages = keys.filter((request) => !isPkg(new URL(request.url)));
  const files = keys.filter((request) => isPkg(new URL(request.url)));
  const extra = [
    ...pages.slice(0, Math.max(0, pages.length - MAX_PAGES)),
    ...files.slice(0, Math.max(0, files.length - MAX_FILES)),
  ];
  await Promise.all(extra.map((request) => cache.delete(request)));
}

// `{cache: [url, ...]}` from a page: the page itself and its /pkg/ files. They did not
// come through this worker when the page loaded before the worker was in control (the
// first visit), or when the app moved to the page without loading it (a client-side
// navigation). Each is fetched and kept on its own (not `cache.addAll`, which keeps
// nothing when one fails).
self.addEventListener('message', (event) => {
  const data = event.data;
  const asked = data && Array.isArray(data.cache) ? data.cache : [];
  const urls = [];
  for (const raw of asked) {
    if (typeof raw !== 'string') continue;
    let url;
    try {
      url = new URL(raw, self.location.href);
    } catch {
      continue;
    }
    const recently = Date.now() - (stored.get(keyOf(url)) || 0) < FRESH_MS;
    if (keepable(url) && !recently) urls.push(url);
  }
  event.waitUntil(
    Promise.allSettled(
      urls.map(async (url) => {
        const response = await fetch(url.href);
        if (good(response)) await keep(url, response);
      }),
    ),
  );
});
