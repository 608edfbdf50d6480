// What a browser downloads: the stylesheet, the WASM and its JS before the chat is live,
// then the lazily loaded rest of the WASM (src/app/later.rs). All under names that change
// with their content, cached for good, and sent compressed.
import { test, expect, connection, partsMounted } from './fixtures';

const HASH = '[A-Za-z0-9_-]{22}';
/** Each file a room page fetches, by kind: the JS, the WASM and the split loader under
 * this build's root (`/v/<build>/pkg/`, src/server/http/assets.rs), the stylesheet under
 * `/pkg/`, and the piece of the WASM loaded after live. */
const KINDS: [string, RegExp][] = [
  ['css', new RegExp(`^/pkg/tiny-chat\\.${HASH}\\.css$`)],
  ['js', new RegExp(`^/v/[A-Za-z0-9_-]{16}/pkg/tiny-chat\\.${HASH}\\.js$`)],
  ['wasm', new RegExp(`^/v/[A-Za-z0-9_-]{16}/pkg/tiny-chat\\.${HASH}\\.wasm$`)],
  ['loader', new RegExp(`^/v/[A-Za-z0-9_-]{16}/pkg/__wasm_split\\.${HASH}\\.js$`)],
  ['later', new RegExp(`^/v/[A-Za-z0-9_-]{16}/pkg/split_mount_parts_[0-9]+\\.${HASH}\\.wasm$`)],
];
const kindOf = (path: string) => KINDS.find(([, pattern]) => pattern.test(path))?.[0] ?? path;

/**
 * What a room page may transfer (brotli) before it is live: issue 11's budget. 249,444
 * bytes with the holding's `since` (issue 23; 248,930 before it); a change that grows the main WASM past it fails
 * here, and should move what it adds into the part loaded after live (`later.rs`).
 */
const BUDGET = 250_000;

test('the room loads hashed, immutable, brotli-compressed files, and the page is revalidated', async ({ page, chat }) => {
  const node = await chat.node();
  const files = new Map<string, { encoding?: string; cache?: string }>();
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.includes('/pkg/')) {
      const headers = response.headers();
      files.set(url.pathname, { encoding: headers['content-encoding'], cache: headers['cache-control'] });
    }
  });
  // When the status first says `live`, in the page's own clock.
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('.room-header .status')?.textContent === 'live') {
        Object.assign(window, { __liveAt: performance.now() });
        observer.disconnect();
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  const answer = await page.goto(`${node.url}/r/assets`);
  expect(answer?.headers()['cache-control']).toBe('private, no-cache');
  await expect(connection(page)).toHaveText('live');
  await partsMounted(page);
  const beforeLive = await page.evaluate(() => {
    const liveAt = (window as unknown as { __liveAt: number }).__liveAt;
    return performance.getEntriesByType('resource').map((e) => e as PerformanceResourceTiming)
      .filter((e) => new URL(e.name).pathname.includes('/pkg/') && e.startTime < liveAt)
      .map((e) => ({ path: new URL(e.name).pathname, bytes: e.encodedBodySize }));
  });

  expect(beforeLive.map((f) => kindOf(f.path)).sort(), 'fetched before live').toEqual(['css', 'js', 'loader', 'wasm']);
  const total = beforeLive.reduce((sum, f) => sum + f.bytes, 0);
  expect(total, `bytes before live: ${JSON.stringify(beforeLive)}`).toBeLessThanOrEqual(BUDGET);

  const kinds = [...files.keys()].map(kindOf).sort();
  expect(kinds, `files: ${[...files.keys()]}`).toEqual(['css', 'js', 'later', 'loader', 'wasm']);
  for (const [path, { encoding, cache }] of files) {
    expect(encoding, path).toBe('br');
    expect(cache, path).toBe('public, max-age=31536000, immutable');
  }
});

test('without Accept-Encoding the WASM comes as it is, whole', async ({ page, chat, request }) => {
  const node = await chat.node();
  await page.goto(`${node.url}/r/assets`);
  const wasm = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).find((n) => n.endsWith('.wasm')));
  expect(kindOf(new URL(wasm!).pathname)).toBe('wasm');
  const plain = await request.get(wasm!, { headers: { 'accept-encoding': 'identity' } });
  expect(plain.status()).toBe(200);
  expect(plain.headers()['content-encoding']).toBeUndefined();
  const body = await plain.body();
  expect(Number(plain.headers()['content-length'])).toBe(body.length);
  // A WebAssembly module starts with "\0asm".
  expect([...body.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);

  // Under another build's root, nothing: that build's files are gone, and this one's
  // must not be cached for a year under its name.
  const other = new URL(wasm!);
  other.pathname = other.pathname.replace(/^\/v\/[^/]+\//, '/v/AAAAAAAAAAAAAAAA/');
  expect((await request.get(other.href)).status()).toBe(404);
});
